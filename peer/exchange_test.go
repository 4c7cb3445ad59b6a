package peer_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// pair is two joined peers that see each other: a student asking a
// teacher.
type pair struct {
	n                *network
	student, teacher *running
	info             *taonetv1.PeerInfo // the teacher's directory entry
}

func mustPair(t *testing.T, edit func(*peer.Config)) *pair {
	t.Helper()
	n := mustCoordinator(t, 0)
	dir := t.TempDir()
	student := n.mustPeer(t, filepath.Join(dir, "alice"), n.token(t, "alice"))
	teacher := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), edit)
	waitFor(t, 5*time.Second, "peers see each other", func() bool { return student.sees(bobID) && teacher.sees(aliceID) })
	info, _ := student.find(bobID)
	return &pair{n: n, student: student, teacher: teacher, info: info}
}

// client is a raw Peer client from the student to the teacher.
func (p *pair) client(t *testing.T) taonetv1.PeerClient {
	return peerClient(t, p.student.Dialer(), bobID, p.info.GetAddress())
}

// params is a copy of the teacher's parameters.
func (p *pair) params(t *testing.T) []float32 {
	t.Helper()
	w, err := p.teacher.Model().(*peer.TorchModel).Engine().Params()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// inputs is rows of deterministic pseudo-images.
func inputs(rows int) []float32 {
	x := make([]float32, rows*784)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 1.5
	}
	return x
}

func mustTensor(t *testing.T, dt taonetv1.DataType, shape []int64, v []float32) *taonetv1.Tensor {
	t.Helper()
	tt, err := distill.EncodeFloats(dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestExchange sends logits and gradients between two real peers over
// mutual TLS.
func TestExchange(t *testing.T) {
	p := mustPair(t, nil)
	const rows = 40
	x := inputs(rows)
	// The reference runs the same batches: a BLAS result may depend on the
	// batch size in the last bit.
	var want []float32
	for lo := 0; lo < rows; lo += 16 {
		out, err := p.teacher.Model().Forward(x[lo*784 : min(lo+16, rows)*784])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, out...)
	}
	teachers := peer.NewTeachers(p.student.Dialer(), peer.DefaultLimits())
	defer teachers.Close()
	call := exchange.Call{Round: 1, Inputs: x, Shape: []int64{1, 28, 28}, Classes: 10, Batch: 16, FirstBatch: 1}

	t.Run("OKFloat32BitExact", func(t *testing.T) {
		got := teachers.Forward(tctx(t), []*taonetv1.PeerInfo{p.info}, call, 5*time.Second)
		if got[0].Err != nil {
			t.Fatal(got[0].Err)
		}
		for i := range want {
			if math.Float32bits(got[0].Logits[i]) != math.Float32bits(want[i]) {
				t.Fatalf("logit %d: got %v, want %v bit for bit", i, got[0].Logits[i], want[i])
			}
		}
	})
	for _, c := range []struct {
		name string
		dt   taonetv1.DataType
		tol  float64 // relative
	}{{"OKFloat16", taonetv1.DataType_DATA_TYPE_FLOAT16, 1e-3}, {"OKBFloat16", taonetv1.DataType_DATA_TYPE_BFLOAT16, 8e-3}} {
		t.Run(c.name, func(t *testing.T) {
			call := call
			call.Dtype = c.dt
			got := teachers.Forward(tctx(t), []*taonetv1.PeerInfo{p.info}, call, 5*time.Second)
			if got[0].Err != nil {
				t.Fatal(got[0].Err)
			}
			for i := range want {
				if d := math.Abs(float64(got[0].Logits[i] - want[i])); d > c.tol*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("logit %d: got %v, want %v within %v", i, got[0].Logits[i], want[i], c.tol)
				}
			}
		})
	}
	t.Run("OKTopK", func(t *testing.T) {
		s, err := p.client(t).Forward(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(&taonetv1.ForwardRequest{BatchId: 7, Inputs: mustTensor(t, taonetv1.DataType_DATA_TYPE_FLOAT32, []int64{rows, 784}, x),
			Output: taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K, TopK: 3, OutputDtype: taonetv1.DataType_DATA_TYPE_FLOAT16})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		probs, err := distill.TopKProbs(resp.GetTopK(), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := p.teacher.Model().Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := distill.Softmax(distill.Logits{Classes: 10, Values: whole}, 1)
		for r := range rows {
			top := slices.Index(full[r*10:(r+1)*10], slices.Max(full[r*10:(r+1)*10]))
			if d := math.Abs(probs[r*10+top] - full[r*10+top]); d > 2e-3 {
				t.Fatalf("row %d: top class probability %v, want %v", r, probs[r*10+top], full[r*10+top])
			}
		}
		if got, full := len(resp.GetTopK().GetValues().GetData())+len(resp.GetTopK().GetIndices().GetData()), rows*10*4; got >= full {
			t.Fatalf("top-3 answer is %d bytes, full float32 logits %d", got, full)
		}
	})
	t.Run("OKBackwardChangesTeacher", func(t *testing.T) {
		peer.OpenRound(p.teacher.Peer, 1)
		got := teachers.Forward(tctx(t), []*taonetv1.PeerInfo{p.info}, call, 5*time.Second)
		if got[0].Err != nil {
			t.Fatal(got[0].Err)
		}
		before := p.params(t)
		grads := gradients(rows, 16, 1, 0.05)
		sum, err := teachers.Backward(tctx(t), p.info, 1, 10, grads)
		if err != nil {
			t.Fatal(err)
		}
		if sum.GetAccepted() != uint32(len(grads)) || sum.GetDisabled() {
			t.Fatalf("summary %v, want %d accepted", sum, len(grads))
		}
		if slices.Equal(before, p.params(t)) {
			t.Fatal("accepted gradients left the teacher's parameters unchanged")
		}
	})
	t.Run("ErrSecondBackwardInRound", func(t *testing.T) {
		before := p.params(t)
		_, err := teachers.Backward(tctx(t), p.info, 1, 10, gradients(rows, 16, 1, 0.05))
		mustCode(t, err, codes.FailedPrecondition, "already sent")
		if !slices.Equal(before, p.params(t)) {
			t.Fatal("a refused Backward changed the teacher")
		}
	})
}

// gradients is a small gradient per batch of a Forward of rows rows in
// batches of batch, ids from first.
func gradients(rows, batch int, first uint64, v float32) []exchange.Gradient {
	var out []exchange.Gradient
	for lo, id := 0, first; lo < rows; lo, id = lo+batch, id+1 {
		n := min(batch, rows-lo)
		g := make([]float32, n*10)
		for i := range g {
			g[i] = v * float32(i%10-4)
		}
		out = append(out, exchange.Gradient{Batch: id, Rows: n, Values: g})
	}
	return out
}

// mustCode checks err's status code and that its message holds part.
func mustCode(t *testing.T, err error, code codes.Code, part string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), part) {
		t.Fatalf("err = %v, want %v mentioning %q", err, code, part)
	}
}

// TestForwardBadInput sends every kind of bad Forward input to a real peer:
// each gets its status and a one-line reason, and the peer keeps serving.
func TestForwardBadInput(t *testing.T) {
	p := mustPair(t, func(c *peer.Config) { c.Limits.MaxBatch = 64; c.Limits.MaxTensorBytes = 1 << 20 })
	f32 := taonetv1.DataType_DATA_TYPE_FLOAT32
	good := func(t *testing.T) *taonetv1.Tensor { return mustTensor(t, f32, []int64{2, 1, 28, 28}, inputs(2)) }
	nan := inputs(2)
	nan[100] = float32(math.NaN())
	inf := inputs(2)
	inf[3] = float32(math.Inf(-1))
	chunk := func(seq uint32, total uint64, last bool) *taonetv1.Chunk {
		return &taonetv1.Chunk{Seq: seq, TotalBytes: total, Last: last}
	}
	half := func(t *testing.T, i int) *taonetv1.Tensor { // one half of a [2,784] float32 tensor's bytes
		g := good(t)
		n := len(g.Data) / 2
		return &taonetv1.Tensor{Dtype: f32, Shape: []int64{2, 784}, Data: g.Data[i*n : (i+1)*n]}
	}
	total := uint64(2 * 784 * 4)
	cases := []struct {
		name  string
		reqs  func(t *testing.T) []*taonetv1.ForwardRequest
		close bool // close the sending side after reqs
		code  codes.Code
		part  string
	}{
		{"ErrWrongShape", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: mustTensor(t, f32, []int64{2, 28, 28}, inputs(2))}}
		}, false, codes.InvalidArgument, "input shape"},
		{"ErrWrongDtype", func(t *testing.T) []*taonetv1.ForwardRequest {
			tt, _ := distill.EncodeInt64([]int64{1, 784}, make([]int64, 784))
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: tt}}
		}, false, codes.InvalidArgument, "dtype"},
		{"ErrDeclaredLargerThanData", func(t *testing.T) []*taonetv1.ForwardRequest {
			g := good(t)
			g.Shape = []int64{3, 1, 28, 28}
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: g}}
		}, false, codes.InvalidArgument, "data bytes"},
		{"ErrDataLargerThanDeclared", func(t *testing.T) []*taonetv1.ForwardRequest {
			g := good(t)
			g.Shape = []int64{1, 1, 28, 28}
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: g}}
		}, false, codes.InvalidArgument, "data bytes"},
		{"ErrChunkTotalShort", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, true)}}
		}, false, codes.InvalidArgument, "ends at"},
		{"ErrChunkOverrun", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)},
				{BatchId: 1, Inputs: good(t), Chunk: chunk(1, total, true)}}
		}, false, codes.InvalidArgument, "changes dtype or shape"},
		{"ErrChunkGap", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)},
				{BatchId: 1, Inputs: half(t, 1), Chunk: chunk(2, total, true)}}
		}, false, codes.InvalidArgument, "seq 2, want 1"},
		{"ErrChunkRepeat", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)},
				{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)}}
		}, false, codes.InvalidArgument, "seq 0, want 1"},
		{"ErrStreamStopsMidTensor", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)}}
		}, true, codes.InvalidArgument, "middle of a chunked tensor"},
		{"ErrOtherBatchMidTensor", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: half(t, 0), Chunk: chunk(0, total, false)},
				{BatchId: 2, Inputs: good(t)}}
		}, false, codes.InvalidArgument, "middle of a chunked tensor"},
		{"ErrDeclaredOverLimit", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: &taonetv1.Tensor{Dtype: f32, Shape: []int64{1 << 20, 784}, Data: []byte{1}}, Chunk: chunk(0, 4<<40, false)}}
		}, false, codes.ResourceExhausted, "limit"},
		{"ErrNaN", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: mustTensor(t, f32, []int64{2, 784}, nan)}}
		}, false, codes.InvalidArgument, "not finite"},
		{"ErrInf", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: mustTensor(t, f32, []int64{2, 784}, inf)}}
		}, false, codes.InvalidArgument, "not finite"},
		{"ErrBatchTooLarge", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: mustTensor(t, f32, []int64{65, 784}, make([]float32, 65*784))}}
		}, false, codes.InvalidArgument, "limit is 64"},
		{"ErrBatchIDTwice", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 5, Inputs: good(t)}, {BatchId: 5, Inputs: good(t)}}
		}, false, codes.InvalidArgument, "used twice"},
		{"ErrOutputDtype", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: good(t), OutputDtype: taonetv1.DataType_DATA_TYPE_INT64}}
		}, false, codes.InvalidArgument, "output dtype"},
		{"ErrTopK", func(t *testing.T) []*taonetv1.ForwardRequest {
			return []*taonetv1.ForwardRequest{{BatchId: 1, Inputs: good(t), Output: taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K, TopK: 11}}
		}, false, codes.InvalidArgument, "top_k"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := p.client(t).Forward(tctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range c.reqs(t) {
				if err := s.Send(r); err != nil {
					break // the server may have refused already
				}
			}
			if c.close {
				_ = s.CloseSend()
			}
			for err == nil {
				_, err = s.Recv()
			}
			mustCode(t, err, c.code, c.part)
			if strings.Contains(status.Convert(err).Message(), "\n") {
				t.Fatalf("reason is not one line: %q", status.Convert(err).Message())
			}
			mustStillServe(t, p)
		})
	}
}

// mustStillServe checks that the teacher still answers a good batch.
func mustStillServe(t *testing.T, p *pair) {
	t.Helper()
	res, err := exchange.Forward(tctx(t), p.client(t), exchange.Call{Inputs: inputs(3), Shape: []int64{1, 28, 28}, Classes: 10, Batch: 3, ChunkBytes: 1 << 20, Limit: 1 << 20})
	if err != nil || len(res.Logits) != 30 {
		t.Fatalf("the peer stopped serving: %v", err)
	}
}

// TestBackwardBadInput refuses bad gradients with the right status and
// leaves the teacher's parameters exactly as they were.
func TestBackwardBadInput(t *testing.T) {
	p := mustPair(t, nil)
	const rows = 8
	round := uint64(10)
	f32 := taonetv1.DataType_DATA_TYPE_FLOAT32
	good := func(t *testing.T) *taonetv1.Tensor {
		return mustTensor(t, f32, []int64{rows, 10}, make([]float32, rows*10))
	}
	bad := func(v float32) func(t *testing.T) *taonetv1.Tensor {
		return func(t *testing.T) *taonetv1.Tensor {
			g := make([]float32, rows*10)
			g[17] = v
			return mustTensor(t, f32, []int64{rows, 10}, g)
		}
	}
	cases := []struct {
		name  string
		batch uint64
		round uint64
		grad  func(t *testing.T) *taonetv1.Tensor
		code  codes.Code
		part  string
	}{
		{"ErrUnknownBatch", 99, 0, good, codes.FailedPrecondition, "was not answered"},
		{"ErrWrongShape", 2, 0, func(t *testing.T) *taonetv1.Tensor {
			return mustTensor(t, f32, []int64{rows, 9}, make([]float32, rows*9))
		}, codes.InvalidArgument, "gradient shape"},
		{"ErrNaN", 2, 0, bad(float32(math.NaN())), codes.InvalidArgument, "not finite"},
		{"ErrInf", 2, 0, bad(float32(math.Inf(1))), codes.InvalidArgument, "not finite"},
		{"ErrBatchTwice", 1, 0, good, codes.InvalidArgument, "sent twice"},
		{"ErrOldRound", 2, 3, good, codes.FailedPrecondition, "round 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A fresh round per case: one Backward stream per caller per round.
			round++
			peer.OpenRound(p.teacher.Peer, round)
			if _, err := exchange.Forward(tctx(t), p.client(t), exchange.Call{Round: round, Inputs: inputs(2 * rows), Shape: []int64{1, 28, 28},
				Classes: 10, Batch: rows, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			before := p.params(t)
			r := round
			if c.round != 0 {
				r = c.round
			}
			s, err := p.client(t).Backward(tctx(t))
			if err != nil {
				t.Fatal(err)
			}
			// A good gradient for batch 1 first: it must not be applied
			// either, since a stream is applied whole or not at all.
			_ = s.Send(&taonetv1.BackwardRequest{BatchId: 1, Round: r, Grad: good(t)})
			_ = s.Send(&taonetv1.BackwardRequest{BatchId: c.batch, Round: r, Grad: c.grad(t)})
			_, err = s.CloseAndRecv()
			mustCode(t, err, c.code, c.part)
			if !slices.Equal(before, p.params(t)) {
				t.Fatal("a refused gradient changed the teacher's parameters")
			}
			mustStillServe(t, p)
		})
	}
}

// TestExchangeRefusals covers who may exchange, when, and how often.
func TestExchangeRefusals(t *testing.T) {
	p := mustPair(t, func(c *peer.Config) {
		c.Gradients.Accept = false
		c.Limits.CallRate, c.Limits.CallBurst = 2, 20
	})
	call := exchange.Call{Round: 4, Inputs: inputs(4), Shape: []int64{1, 28, 28}, Classes: 10, Batch: 4, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 1 << 20}

	t.Run("OKGradientsOff", func(t *testing.T) {
		peer.OpenRound(p.teacher.Peer, 4)
		if _, err := exchange.Forward(tctx(t), p.client(t), call); err != nil {
			t.Fatal(err)
		}
		before := p.params(t)
		sum, err := exchange.Backward(tctx(t), p.client(t), 4, 10, 1<<20, gradients(4, 4, 1, 0.5))
		if err != nil {
			t.Fatal(err)
		}
		if !sum.GetDisabled() || sum.GetAccepted() != 0 {
			t.Fatalf("summary %v, want disabled and nothing accepted", sum)
		}
		if !slices.Equal(before, p.params(t)) {
			t.Fatal("gradients applied although turned off")
		}
	})
	t.Run("ErrClientIdentity", func(t *testing.T) {
		ops := peerClient(t, p.n.clientDialer(t, "ops"), bobID, p.info.GetAddress())
		_, err := exchange.Forward(tctx(t), ops, call)
		mustCode(t, err, codes.PermissionDenied, "may not call")
		_, err = exchange.Backward(tctx(t), ops, 4, 10, 1<<20, gradients(4, 4, 1, 0.5))
		mustCode(t, err, codes.PermissionDenied, "may not call")
	})
	t.Run("ErrPeerDuringEvaluation", func(t *testing.T) {
		peer.StartEvaluation(p.teacher.Peer, 4)
		_, err := exchange.Forward(tctx(t), p.client(t), call)
		mustCode(t, err, codes.FailedPrecondition, "being evaluated")
		peer.OpenRound(p.teacher.Peer, 5)
		mustStillServe(t, p)
	})
	t.Run("ErrFlood", func(t *testing.T) {
		c := p.client(t)
		var err error
		for range 100 {
			if _, err = c.Describe(tctx(t), &taonetv1.DescribeRequest{}); err != nil {
				break
			}
		}
		mustCode(t, err, codes.ResourceExhausted, "rate limit")
		// Another caller is still served.
		ops := peerClient(t, p.n.clientDialer(t, "ops2"), bobID, p.info.GetAddress())
		if _, err := ops.Describe(tctx(t), &taonetv1.DescribeRequest{}); err != nil {
			t.Fatalf("another identity after the flood: %v", err)
		}
	})
}

// TestBackwardRecordsBounded refuses gradients for batches whose inputs
// did not fit in the per-round memory bound.
func TestBackwardRecordsBounded(t *testing.T) {
	p := mustPair(t, func(c *peer.Config) { c.Limits.RecordBytes = 784 * 4 * 4 }) // four rows
	peer.OpenRound(p.teacher.Peer, 1)
	call := exchange.Call{Round: 1, Inputs: inputs(8), Shape: []int64{1, 28, 28}, Classes: 10, Batch: 4, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 1 << 20}
	if _, err := exchange.Forward(tctx(t), p.client(t), call); err != nil {
		t.Fatal(err)
	}
	before := p.params(t)
	_, err := exchange.Backward(tctx(t), p.client(t), 1, 10, 1<<20, gradients(8, 4, 1, 0.5))
	mustCode(t, err, codes.FailedPrecondition, "batch 2 of round 1 was not answered")
	if !slices.Equal(before, p.params(t)) {
		t.Fatal("a refused stream changed the teacher")
	}
}

// TestBackwardNextRound accepts gradients for a batch a student asked
// about before the teacher learned that the round opened, and refuses a
// batch of a round further ahead.
func TestBackwardNextRound(t *testing.T) {
	p := mustPair(t, nil)
	peer.OpenRound(p.teacher.Peer, 1)
	call := exchange.Call{Inputs: inputs(4), Shape: []int64{1, 28, 28}, Classes: 10, Batch: 4, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 1 << 20}
	for _, r := range []uint64{2, 3} {
		call.Round = r
		if _, err := exchange.Forward(tctx(t), p.client(t), call); err != nil {
			t.Fatal(err)
		}
	}
	peer.OpenRound(p.teacher.Peer, 2)
	before := p.params(t)
	sum, err := exchange.Backward(tctx(t), p.client(t), 2, 10, 1<<20, gradients(4, 4, 1, 0.5))
	if err != nil || sum.GetAccepted() != 1 {
		t.Fatalf("gradients for the round that opened late: %v, %v", sum, err)
	}
	if slices.Equal(before, p.params(t)) {
		t.Fatal("accepted gradients changed nothing")
	}
	peer.OpenRound(p.teacher.Peer, 3)
	_, err = exchange.Backward(tctx(t), p.client(t), 3, 10, 1<<20, gradients(4, 4, 1, 0.5))
	mustCode(t, err, codes.FailedPrecondition, "was not answered")
}
