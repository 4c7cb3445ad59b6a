package exchange_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// fakePeer answers each Forward request with what answer returns.
type fakePeer struct {
	taonetv1.UnimplementedPeerServer
	answer func(req *taonetv1.ForwardRequest) []*taonetv1.ForwardResponse
}

func (p *fakePeer) Forward(s taonetv1.Peer_ForwardServer) error {
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range p.answer(req) {
			if err := s.Send(r); err != nil {
				return err
			}
		}
	}
}

// mustPeer serves answer on 127.0.0.1:0 (plain TCP: this is about the
// messages) with the given server options and returns a client.
func mustPeer(tb testing.TB, answer func(*taonetv1.ForwardRequest) []*taonetv1.ForwardResponse, opts ...grpc.ServerOption) taonetv1.PeerClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.MaxSendMsgSize(8<<20))...)
	taonetv1.RegisterPeerServer(srv, &fakePeer{answer: answer})
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return taonetv1.NewPeerClient(conn)
}

// logitOf is the logit of a row and class: every finite float32 kind
// (subnormal, -0, the largest) appears.
func logitOf(row, class int) float32 {
	switch (row*31 + class) % 9 {
	case 0:
		return math.MaxFloat32
	case 1:
		return -math.SmallestNonzeroFloat32
	case 2:
		return float32(math.Copysign(0, -1))
	}
	return float32(math.Sin(float64(row*1000+class))) * 1e3
}

// logits answers a request with rows*classes values of logitOf, the rows
// numbered from the batch's first row.
func logits(req *taonetv1.ForwardRequest, batch, classes int) (int, []float32) {
	rows := int(req.GetInputs().GetShape()[0])
	first := int(req.GetBatchId()) * batch
	v := make([]float32, rows*classes)
	for r := range rows {
		for c := range classes {
			v[r*classes+c] = logitOf(first+r, c)
		}
	}
	return rows, v
}

// answerAs answers with logits in dt, in chunks of chunk bytes.
func answerAs(dt taonetv1.DataType, batch, classes, chunk int) func(*taonetv1.ForwardRequest) []*taonetv1.ForwardResponse {
	return func(req *taonetv1.ForwardRequest) []*taonetv1.ForwardResponse {
		rows, v := logits(req, batch, classes)
		if dt != taonetv1.DataType_DATA_TYPE_FLOAT32 {
			for i := range v {
				v[i] = max(min(v[i], 6e4), -6e4) // within float16
			}
		}
		t, err := distill.EncodeFloats(dt, []int64{int64(rows), int64(classes)}, v)
		if err != nil {
			panic(err)
		}
		var out []*taonetv1.ForwardResponse
		_ = exchange.SendTensor(t, chunk, func(t *taonetv1.Tensor, c *taonetv1.Chunk) error {
			out = append(out, &taonetv1.ForwardResponse{BatchId: req.GetBatchId(), Output: &taonetv1.ForwardResponse_Logits{Logits: t}, Chunk: c})
			return nil
		})
		return out
	}
}

func call(rows, batch, classes int) exchange.Call {
	return exchange.Call{Inputs: make([]float32, rows), Shape: []int64{1}, Classes: classes, Batch: batch, ChunkBytes: 1 << 20, Limit: 64 << 20}
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return c
}

// TestForwardBitExact sends answers whole and in chunks (whose boundaries
// split float32 values), from a server with this codec and from one with
// the standard codec: every value arrives with its exact bits.
func TestForwardBitExact(t *testing.T) {
	const rows, batch, classes = 50, 16, 4096
	servers := map[string][]grpc.ServerOption{"codec": {grpc.ForceServerCodecV2(exchange.Codec{})}, "standard": nil}
	for name, opts := range servers {
		for _, chunk := range []int{1 << 20, 65537, 1000} {
			t.Run(name, func(t *testing.T) {
				c := mustPeer(t, answerAs(taonetv1.DataType_DATA_TYPE_FLOAT32, batch, classes, chunk), opts...)
				res, err := exchange.Forward(ctx(t), c, call(rows, batch, classes))
				if err != nil {
					t.Fatalf("chunks of %d: %v", chunk, err)
				}
				for i, v := range res.Logits {
					if want := logitOf(i/classes, i%classes); math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("chunks of %d: logit %d is %v, want %v", chunk, i, v, want)
					}
				}
			})
		}
	}
}

// TestForwardHalf checks float16 and bfloat16 answers, whole and chunked,
// which take the reassembly path of TensorReader.
func TestForwardHalf(t *testing.T) {
	const rows, batch, classes = 20, 8, 4096
	for _, dt := range []taonetv1.DataType{taonetv1.DataType_DATA_TYPE_FLOAT16, taonetv1.DataType_DATA_TYPE_BFLOAT16} {
		for _, chunk := range []int{1 << 20, 20000} {
			c := mustPeer(t, answerAs(dt, batch, classes, chunk), grpc.ForceServerCodecV2(exchange.Codec{}))
			cl := call(rows, batch, classes)
			cl.Dtype = dt
			res, err := exchange.Forward(ctx(t), c, cl)
			if err != nil {
				t.Fatalf("%v, chunks of %d: %v", dt, chunk, err)
			}
			for i, v := range res.Logits {
				want := max(min(logitOf(i/classes, i%classes), 6e4), -6e4)
				if d := math.Abs(float64(v - want)); d > math.Abs(float64(want))/100+1e-3 {
					t.Fatalf("%v: logit %d is %v, want about %v", dt, i, v, want)
				}
			}
		}
	}
}

// edit answers as answerAs does for float32, in chunks of chunk bytes,
// then lets change alter the messages of batch 1.
func edit(chunk int, change func([]*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse) func(*taonetv1.ForwardRequest) []*taonetv1.ForwardResponse {
	const batch, classes = 4, 4096
	plain := answerAs(taonetv1.DataType_DATA_TYPE_FLOAT32, batch, classes, chunk)
	return func(req *taonetv1.ForwardRequest) []*taonetv1.ForwardResponse {
		out := plain(req)
		if req.GetBatchId() == 1 {
			return change(out)
		}
		return out
	}
}

func logitsOf(r *taonetv1.ForwardResponse) *taonetv1.Tensor { return r.GetLogits() }

func TestForwardRefuses(t *testing.T) {
	const whole, chunked = 1 << 20, 20000 // batch answers are 64 KiB
	nan := func(i int) func([]*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
		return func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			d := logitsOf(m[len(m)-1]).GetData()
			d[i], d[i+1], d[i+2], d[i+3] = 0, 0, 0xc0, 0x7f
			return m
		}
	}
	cases := []struct {
		name   string
		chunk  int
		change func([]*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse
		want   error
	}{
		{"ErrNaN", whole, nan(400), distill.ErrNotFinite},
		{"ErrNaNChunked", chunked, nan(8), distill.ErrNotFinite},
		{"ErrRows", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			l := logitsOf(m[0])
			l.Shape, l.Data = []int64{2, 4096}, l.Data[:2*4096*4]
			return m
		}, nil},
		{"ErrClasses", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			logitsOf(m[0]).Shape = []int64{8, 2048}
			return m
		}, distill.ErrBadTensor},
		{"ErrSize", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			l := logitsOf(m[0])
			l.Data = l.Data[:len(l.Data)-4]
			return m
		}, distill.ErrBadTensor},
		{"ErrSeqGap", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse { return append(m[:1], m[2:]...) }, nil},
		{"ErrShort", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			last := m[len(m)-1]
			logitsOf(last).Data = logitsOf(last).Data[:10]
			return m
		}, nil},
		{"ErrOverrun", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			last := m[len(m)-1]
			logitsOf(last).Data = append(logitsOf(last).Data, 1, 2, 3, 4)
			return m
		}, nil},
		{"ErrTotal", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[0].Chunk.TotalBytes += 4
			return m
		}, distill.ErrBadTensor},
		{"ErrTooLarge", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[0].Chunk.TotalBytes = 1 << 40
			return m
		}, distill.ErrTooLarge},
		{"ErrDtypeChange", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			logitsOf(m[1]).Dtype = taonetv1.DataType_DATA_TYPE_FLOAT16
			return m
		}, distill.ErrBadTensor},
		{"ErrShapeChange", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			logitsOf(m[1]).Shape = []int64{4, 4096, 1}
			return m
		}, distill.ErrBadTensor},
		{"ErrMidTensor", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[1].BatchId = 2
			return m
		}, exchange.ErrMidTensor},
		{"ErrWholeMidTensor", chunked, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[1].Chunk = nil
			return m
		}, exchange.ErrMidTensor},
		{"ErrNoTensor", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[0].Output = nil
			return m
		}, distill.ErrBadTensor},
		{"ErrUnknownBatch", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			m[0].BatchId = 99
			return m
		}, nil},
		{"ErrRepeatedBatch", whole, func(m []*taonetv1.ForwardResponse) []*taonetv1.ForwardResponse {
			return append(m, proto.Clone(m[0]).(*taonetv1.ForwardResponse))
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustPeer(t, edit(tc.chunk, tc.change), grpc.ForceServerCodecV2(exchange.Codec{}))
			cl := call(12, 4, 4096)
			cl.Limit = 1 << 20
			_, err := exchange.Forward(ctx(t), c, cl)
			if err == nil {
				t.Fatal("a bad answer was accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCodecIsTheStandardName keeps the codec interoperable: it must take
// the standard protobuf codec's content subtype.
func TestCodecIsTheStandardName(t *testing.T) {
	if got, want := (exchange.Codec{}).Name(), encoding.GetCodecV2("proto").Name(); got != want {
		t.Fatalf("codec name %q, want %q", got, want)
	}
}
