package peer

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/metrics"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Gradients configures what a peer does with incoming gradients.
type Gradients struct {
	// Accept turns incoming gradients on; off, Backward applies nothing and
	// its summary says so.
	Accept bool
	// Clip is the largest L2 norm one batch's gradient keeps; larger ones
	// are scaled down to it. Must be positive.
	Clip float64
	// Scale multiplies every gradient after clipping (in (0, 1]), so that
	// other peers' losses steer this model less than its own.
	Scale float64
}

// DefaultGradients refuses incoming gradients; turned on, each batch's and
// each stream's are clipped to norm 0.1 and scaled by 0.5. Off by default because that is what was
// measured: in the five-round network of internal/e2e (three peers, tiny
// non-IID shards), peers that applied their students' gradients ended
// round 5 at validation losses of 0.77-3.48, those that did not at
// 0.21-0.96. Each accepted stream is one full Adam step toward a weaker
// student, whatever its size.
func DefaultGradients() Gradients { return Gradients{Accept: false, Clip: 0.1, Scale: 0.5} }

// Validate checks every field.
func (g Gradients) Validate() error {
	if !(g.Clip > 0) || math.IsInf(g.Clip, 0) {
		return fmt.Errorf("gradient clip %v must be positive", g.Clip)
	}
	if !(g.Scale > 0 && g.Scale <= 1) {
		return fmt.Errorf("gradient scale %v must be in (0, 1]", g.Scale)
	}
	return nil
}

// Backward takes a peer's gradients of its loss with respect to the logits
// this peer returned to it in the current round, one message (or chunk
// sequence) per batch. Every gradient is checked (a batch answered for this
// caller in this round, the logits' shape, finite values), clipped to
// Gradients.Clip and scaled by Gradients.Scale; the whole stream, clipped
// again to Clip*Scale so that a caller's influence does not grow with the
// batches it sends, is then applied as one optimizer step. Any bad gradient refuses the whole stream
// and nothing is applied. Each caller gets one Backward stream per round,
// whether or not it succeeds.
func (v *service) Backward(stream taonetv1.Peer_BackwardServer) error {
	caller, _, err := grpcid.IDFromContext(stream.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, "Backward needs a client certificate")
	}
	if !v.grads.Accept {
		return stream.SendAndClose(&taonetv1.BackwardResponse{Summary: &taonetv1.BackwardSummary{Disabled: true}})
	}
	if caller.Role != certs.RolePeer {
		return status.Errorf(codes.PermissionDenied, "Backward: %s is not a peer", caller)
	}
	sum, x, g, err := v.readBackward(stream, caller)
	if err != nil {
		return err
	}
	v.metrics.exchangeMetrics().AddBatches(metrics.RPCBackward, metrics.RoleServer, caller.String(), int(sum.Accepted))
	if sum.Accepted > 0 {
		v.grads.Bound(g)
		start := time.Now()
		err := v.model.Apply(x, g)
		v.metrics.observeStep(stepGradients, start)
		if err != nil {
			v.log.ErrorContext(stream.Context(), "apply gradients", "caller", caller.String(), "err", err)
			return status.Error(codes.Internal, "Backward: the model could not apply the gradients")
		}
		sum.MeanGradNorm /= float64(sum.Accepted)
	}
	return stream.SendAndClose(&taonetv1.BackwardResponse{Summary: sum})
}

// readBackward reads and checks every gradient of the stream and returns
// the inputs and processed gradients to apply.
func (v *service) readBackward(stream taonetv1.Peer_BackwardServer, caller certs.ID) (*taonetv1.BackwardSummary, []float32, []float32, error) {
	classes := int(v.model.Card().GetClasses())
	reader := exchange.TensorReader{Limit: v.limits.MaxTensorBytes}
	sum := &taonetv1.BackwardSummary{}
	var x, g []float32
	var round uint64
	seen := map[uint64]bool{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if reader.Pending() {
				return nil, nil, nil, status.Errorf(codes.InvalidArgument, "Backward: %v", exchange.ErrMidTensor)
			}
			return sum, x, g, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if round == 0 {
			round = req.GetRound()
			if err := v.records.openBackward(caller.String(), round); err != nil {
				return nil, nil, nil, status.Errorf(codes.FailedPrecondition, "Backward: %v", err)
			}
		} else if req.GetRound() != round {
			return nil, nil, nil, status.Errorf(codes.InvalidArgument, "Backward: batch %d is of round %d, the stream's is %d", req.GetBatchId(), req.GetRound(), round)
		}
		t, err := reader.Add(req.GetBatchId(), req.GetGrad(), req.GetChunk())
		if err != nil {
			return nil, nil, nil, tensorStatus("Backward", err)
		}
		if t == nil {
			continue
		}
		if seen[req.GetBatchId()] {
			return nil, nil, nil, status.Errorf(codes.InvalidArgument, "Backward: batch %d sent twice", req.GetBatchId())
		}
		seen[req.GetBatchId()] = true
		in, err := v.records.inputs(caller.String(), round, req.GetBatchId())
		if err != nil {
			return nil, nil, nil, status.Errorf(codes.FailedPrecondition, "Backward: %v", err)
		}
		grad, err := distill.DecodeFloats(t, v.limits.MaxTensorBytes)
		if err != nil {
			return nil, nil, nil, tensorStatus("Backward", err)
		}
		rows := len(in) / features(v.model.Card())
		if s := t.GetShape(); len(s) != 2 || s[0] != int64(rows) || s[1] != int64(classes) {
			return nil, nil, nil, status.Errorf(codes.InvalidArgument, "Backward: batch %d: gradient shape %v, the logits were [%d %d]", req.GetBatchId(), s, rows, classes)
		}
		if err := finite(grad); err != nil {
			return nil, nil, nil, status.Errorf(codes.InvalidArgument, "Backward: batch %d: gradient %v", req.GetBatchId(), err)
		}
		norm, clipped := v.grads.Process(grad)
		sum.Accepted++
		sum.MeanGradNorm += norm
		if clipped {
			sum.Clipped++
		}
		x, g = append(x, in...), append(g, grad...)
	}
}

// Bound clips a whole stream's processed gradients to norm Clip*Scale, in
// place: each batch is already clipped, but a caller answered for many
// batches would otherwise steer the step by their number.
func (g Gradients) Bound(all []float32) {
	ss := 0.0
	for _, v := range all {
		ss += float64(v) * float64(v)
	}
	limit := g.Clip * g.Scale
	if norm := math.Sqrt(ss); norm > limit {
		f := limit / norm
		for i := range all {
			all[i] = float32(float64(all[i]) * f)
		}
	}
}

// Process clips grad to norm Clip and scales it, in place; it returns the
// norm before clipping and whether it clipped.
func (g Gradients) Process(grad []float32) (float64, bool) {
	ss := 0.0
	for _, v := range grad {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss)
	f := g.Scale
	clipped := norm > g.Clip
	if clipped {
		f *= g.Clip / norm
	}
	for i := range grad {
		grad[i] = float32(float64(grad[i]) * f)
	}
	return norm, clipped
}
