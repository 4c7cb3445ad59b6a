package exchange_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"unsafe"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/internal/exchange"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// countingPool is a mem.BufferPool that counts the buffers not yet given
// back.
type countingPool struct{ out atomic.Int64 }

func (p *countingPool) Get(n int) *[]byte {
	p.out.Add(1)
	b := make([]byte, n)
	return &b
}

func (p *countingPool) Put(*[]byte) { p.out.Add(-1) }

// frames cuts b into buffers of size bytes from pool (a new one when
// nil), as gRPC hands a received message to a codec.
func frames(b []byte, size int, pool mem.BufferPool) mem.BufferSlice {
	if pool == nil {
		pool = &countingPool{}
	}
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(size, len(b))
		s = append(s, mem.Copy(b[:n], pool))
		b = b[n:]
	}
	return s
}

// tensor is a float32 [rows, cols] tensor with distinct bytes.
func tensor(rows, cols int) *taonetv1.Tensor {
	data := make([]byte, rows*cols*4)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	return &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: []int64{int64(rows), int64(cols)}, Data: data}
}

// withUnknown adds an unknown field (number 99) to m.
func withUnknown[M proto.Message](m M) M {
	r := m.ProtoReflect()
	r.SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("later")))
	return m
}

func messages() map[string]proto.Message {
	chunk := &taonetv1.Chunk{Seq: 2, TotalBytes: 1 << 22, Last: true}
	return map[string]proto.Message{
		"ForwardResponse/big":   &taonetv1.ForwardResponse{BatchId: 7, Output: &taonetv1.ForwardResponse_Logits{Logits: tensor(16, 4096)}, Chunk: chunk},
		"ForwardResponse/small": &taonetv1.ForwardResponse{BatchId: 1, Output: &taonetv1.ForwardResponse_Logits{Logits: tensor(3, 10)}},
		"ForwardResponse/topk": &taonetv1.ForwardResponse{BatchId: 2, Output: &taonetv1.ForwardResponse_TopK{TopK: &taonetv1.TopK{
			Vocab: 100000, K: 4096, Values: tensor(4, 4096), Indices: tensor(4, 8192)}}},
		"ForwardResponse/unknown": withUnknown(&taonetv1.ForwardResponse{BatchId: 3, Output: &taonetv1.ForwardResponse_Logits{Logits: withUnknown(tensor(64, 1024))}}),
		"ForwardRequest/big": &taonetv1.ForwardRequest{BatchId: 9, Round: 4, Inputs: tensor(256, 784), Chunk: chunk,
			Output: taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K, TopK: 5, OutputDtype: taonetv1.DataType_DATA_TYPE_FLOAT16},
		"ForwardRequest/small":  &taonetv1.ForwardRequest{BatchId: 9, Inputs: tensor(2, 784)},
		"BackwardRequest/big":   &taonetv1.BackwardRequest{BatchId: 3, Round: 8, Grad: tensor(1024, 10)},
		"DescribeResponse":      &taonetv1.DescribeResponse{Card: &taonetv1.ModelCard{Task: "fmnist", InputShape: []int64{1, 28, 28}, Classes: 10}},
		"ForwardResponse/empty": &taonetv1.ForwardResponse{},
	}
}

func TestCodecMarshal(t *testing.T) {
	for name, m := range messages() {
		t.Run(name, func(t *testing.T) {
			bufs, err := exchange.Codec{}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got := m.ProtoReflect().Type().New().Interface()
			if err := proto.Unmarshal(bufs.Materialize(), got); err != nil {
				t.Fatalf("the standard decoder refuses the codec's encoding: %v", err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("round trip changed the message")
			}
			if data := bigData(m); data != nil {
				last := bufs[len(bufs)-1].ReadOnlyData()
				if len(bufs) != 2 || unsafe.SliceData(last) != unsafe.SliceData(data) {
					t.Fatalf("tensor data was copied: %d buffers", len(bufs))
				}
			}
		})
	}
}

// bigData is the data of m's single large tensor field, if it has one.
func bigData(m proto.Message) []byte {
	var t *taonetv1.Tensor
	switch m := m.(type) {
	case *taonetv1.ForwardResponse:
		t = m.GetLogits()
	case *taonetv1.ForwardRequest:
		t = m.GetInputs()
	case *taonetv1.BackwardRequest:
		t = m.GetGrad()
	}
	if len(t.GetData()) < 32<<10 {
		return nil
	}
	return t.GetData()
}

func TestCodecUnmarshal(t *testing.T) {
	for name, m := range messages() {
		for _, size := range []int{16 << 10, 7, 1 << 30} {
			t.Run(name, func(t *testing.T) {
				wire, err := proto.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				pool := &countingPool{}
				in := frames(wire, size, pool)
				got := m.ProtoReflect().Type().New().Interface()
				if err := (exchange.Codec{}).Unmarshal(in, got); err != nil {
					t.Fatal(err)
				}
				in.Free()
				if !proto.Equal(got, m) {
					t.Fatalf("frames of %d: decoded message differs", size)
				}
				if resp, ok := m.(*taonetv1.ForwardResponse); ok {
					in = frames(wire, size, pool)
					got, split, err := exchange.DecodeAnswer(in)
					in.Free()
					if err != nil {
						t.Fatal(err)
					}
					if !proto.Equal(got, resp) {
						t.Fatalf("frames of %d: decoded answer differs", size)
					}
					if want := bigData(m) != nil && resp.GetLogits() != nil; split != want {
						t.Fatalf("frames of %d: data left in the received buffers: %v, want %v", size, split, want)
					}
				}
				if n := pool.out.Load(); n != 0 {
					t.Fatalf("frames of %d: %d received buffers never given back", size, n)
				}
			})
		}
	}
}

// TestCodecUnmarshalOwnsData checks that a decoded tensor keeps its values
// when gRPC reuses the buffers the message arrived in.
func TestCodecUnmarshalOwnsData(t *testing.T) {
	m := messages()["ForwardRequest/big"].(*taonetv1.ForwardRequest)
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	in := frames(wire, 16<<10, nil)
	var got taonetv1.ForwardRequest
	if err := (exchange.Codec{}).Unmarshal(in, &got); err != nil {
		t.Fatal(err)
	}
	for _, b := range in {
		clear(b.ReadOnlyData())
	}
	if !bytes.Equal(got.GetInputs().GetData(), m.GetInputs().GetData()) {
		t.Fatal("decoded data changed with the received buffers")
	}
}

// field encodes one length-delimited field.
func field(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

// TestCodecUnmarshalLayouts feeds layouts the codec does not produce but
// the protobuf format allows (or refuses): every one must decode exactly as
// the protobuf runtime decodes it.
func TestCodecUnmarshalLayouts(t *testing.T) {
	exchange.SetSplitBytes(t, 64)
	big := tensor(8, 16)
	tb, _ := proto.Marshal(big)
	other, _ := proto.Marshal(tensor(2, 16))
	topk, _ := proto.Marshal(&taonetv1.TopK{Vocab: 10, K: 1})
	data := field(3, big.GetData())
	nonMinimal := append([]byte{0x8a, 0x80, 0x00}, protowire.AppendVarint(nil, uint64(len(data)))...) // field 1 tag as 3 bytes
	cases := map[string][]byte{
		"logits twice":         append(field(2, tb), field(2, other)...),
		"data twice":           append(field(2, append(append([]byte{}, tb...), data...)), protowire.AppendVarint([]byte{8}, 4)...),
		"logits then top-k":    append(field(2, tb), field(3, topk)...),
		"top-k then logits":    append(field(3, topk), field(2, tb)...),
		"chunk first":          append(field(4, []byte{8, 1}), field(2, tb)...),
		"non-minimal tag":      append(append([]byte{}, nonMinimal...), field(2, tb)...),
		"logits as varint":     append(protowire.AppendVarint([]byte{0x10}, 5), field(2, tb)...),
		"truncated":            field(2, tb)[:len(tb)-5],
		"length past the end":  append([]byte{0x12, 0xff, 0xff, 0x03}, tb...),
		"group in the tensor":  field(2, append([]byte{0x5b, 0x5c}, tb...)),
		"unknown fixed fields": append(append(protowire.AppendFixed64(protowire.AppendTag(nil, 40, protowire.Fixed64Type), 1), protowire.AppendFixed32(protowire.AppendTag(nil, 41, protowire.Fixed32Type), 2)...), field(2, tb)...),
	}
	for name, wire := range cases {
		t.Run(name, func(t *testing.T) {
			sameAsProto(t, wire, 5)
		})
	}
}

// sameAsProto decodes wire, cut into frames of size bytes, with the codec
// (as a ForwardResponse, a ForwardRequest and as Forward's answer) and
// fails unless each result, or error, is the protobuf runtime's.
func sameAsProto(t *testing.T, wire []byte, size int) {
	t.Helper()
	for _, typ := range []proto.Message{&taonetv1.ForwardResponse{}, &taonetv1.ForwardRequest{}} {
		want := typ.ProtoReflect().Type().New().Interface()
		wantErr := proto.Unmarshal(wire, want)
		got := typ.ProtoReflect().Type().New().Interface()
		err := (exchange.Codec{}).Unmarshal(frames(wire, size, nil), got)
		if (err != nil) != (wantErr != nil) || (err == nil && !proto.Equal(got, want)) {
			t.Fatalf("%T: codec %v (%v), protobuf %v (%v)", typ, got, err, want, wantErr)
		}
		if _, ok := typ.(*taonetv1.ForwardResponse); !ok {
			continue
		}
		ans, _, err := exchange.DecodeAnswer(frames(wire, size, nil))
		if (err != nil) != (wantErr != nil) || (err == nil && !proto.Equal(ans, want)) {
			t.Fatalf("answer: codec %v (%v), protobuf %v (%v)", ans, err, want, wantErr)
		}
	}
}

func FuzzCodecUnmarshal(f *testing.F) {
	exchange.SetSplitBytes(f, 8)
	for _, m := range messages() {
		if wire, err := proto.Marshal(m); err == nil && len(wire) < 4096 {
			f.Add(wire, uint8(5))
		}
	}
	f.Add(field(2, field(3, []byte("0123456789abcdef"))), uint8(3))
	f.Fuzz(func(t *testing.T, wire []byte, size uint8) {
		sameAsProto(t, wire, int(size)+1)
	})
}
