package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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

// forwardJob is one decoded batch waiting for the model.
type forwardJob struct {
	batch  uint64
	round  uint64
	x      []float32
	rows   int
	format taonetv1.OutputFormat
	k      int
	dtype  taonetv1.DataType
}

// Forward answers input batches with logits or top-k log-probabilities.
// One goroutine reads and checks requests while another runs the model and
// sends each answer as soon as it is computed, so a caller can keep several
// batches in flight on one stream (at most Limits.InFlight queued).
// Requests are checked against the model card before the model sees them:
// shape, dtype, batch size, finite values, unique batch ids, and chunk
// order. During a round's evaluation phase only the coordinator is
// answered. Inputs answered for a peer in the current round are kept so
// that the same peer's Backward gradients can be applied to them.
func (v *service) Forward(stream taonetv1.Peer_ForwardServer) error {
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	caller, _, err := grpcid.IDFromContext(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, "Forward needs a client certificate")
	}
	v.metrics.addStreams(1)
	defer v.metrics.addStreams(-1)
	jobs := make(chan forwardJob, v.limits.InFlight)
	sent := make(chan error, 1)
	go func() { sent <- v.answer(ctx, stream, caller, jobs) }()
	err = v.readForward(ctx, stream, caller, jobs)
	close(jobs)
	if err != nil {
		cancel(err)
		<-sent
		return err
	}
	return <-sent
}

// readForward reads, checks and queues requests until the caller closes
// its side.
func (v *service) readForward(ctx context.Context, stream taonetv1.Peer_ForwardServer, caller certs.ID, jobs chan<- forwardJob) error {
	card := v.model.Card()
	reader := exchange.TensorReader{Limit: v.limits.MaxTensorBytes}
	seen := map[uint64]bool{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if reader.Pending() {
				return status.Errorf(codes.InvalidArgument, "Forward: %v", exchange.ErrMidTensor)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := v.admitForward(caller); err != nil {
			return err
		}
		t, err := reader.Add(req.GetBatchId(), req.GetInputs(), req.GetChunk())
		if err != nil {
			return tensorStatus("Forward", err)
		}
		if t == nil {
			continue
		}
		if seen[req.GetBatchId()] {
			return status.Errorf(codes.InvalidArgument, "Forward: batch_id %d used twice on one stream", req.GetBatchId())
		}
		if len(seen) >= v.limits.StreamBatches {
			return status.Errorf(codes.ResourceExhausted, "Forward: more than %d batches on one stream; open a new stream", v.limits.StreamBatches)
		}
		seen[req.GetBatchId()] = true
		job, err := v.forwardJob(req, t, card)
		if err != nil {
			return err
		}
		v.metrics.addQueued(1) // before the send, so the answerer's -1 never comes first
		select {
		case jobs <- job:
		case <-ctx.Done():
			v.metrics.addQueued(-1)
			return context.Cause(ctx)
		}
	}
}

// admitForward refuses peers while the round is being evaluated.
func (v *service) admitForward(caller certs.ID) error {
	if caller.Role == certs.RoleCoordinator {
		return nil
	}
	if r, evaluating := v.phase.get(); evaluating {
		return status.Errorf(codes.FailedPrecondition, "Forward: round %d is being evaluated; only the coordinator is answered until it closes", r)
	}
	return nil
}

// forwardJob checks one complete request against the card.
func (v *service) forwardJob(req *taonetv1.ForwardRequest, t *taonetv1.Tensor, card *taonetv1.ModelCard) (forwardJob, error) {
	job := forwardJob{batch: req.GetBatchId(), round: req.GetRound(), format: req.GetOutput(), dtype: req.GetOutputDtype()}
	features := int64(features(card))
	shape := t.GetShape()
	if len(shape) < 2 || !(slices.Equal(shape[1:], card.GetInputShape()) || (len(shape) == 2 && shape[1] == features)) {
		return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d: input shape %v, want [rows %v] or [rows %d]", job.batch, shape, card.GetInputShape(), features)
	}
	if shape[0] > int64(v.limits.MaxBatch) {
		return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d has %d rows, the limit is %d", job.batch, shape[0], v.limits.MaxBatch)
	}
	x, err := distill.DecodeFloats(t, v.limits.MaxTensorBytes)
	if err != nil {
		return job, tensorStatus("Forward", err)
	}
	if err := finite(x); err != nil {
		return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d: input %v", job.batch, err)
	}
	switch job.dtype {
	case taonetv1.DataType_DATA_TYPE_UNSPECIFIED:
		job.dtype = taonetv1.DataType_DATA_TYPE_FLOAT32
	case taonetv1.DataType_DATA_TYPE_FLOAT32, taonetv1.DataType_DATA_TYPE_FLOAT16, taonetv1.DataType_DATA_TYPE_BFLOAT16:
	default:
		return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d: output dtype %v is not a float type", job.batch, job.dtype)
	}
	switch job.format {
	case taonetv1.OutputFormat_OUTPUT_FORMAT_UNSPECIFIED, taonetv1.OutputFormat_OUTPUT_FORMAT_LOGITS:
		job.format = taonetv1.OutputFormat_OUTPUT_FORMAT_LOGITS
	case taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K:
		if req.GetTopK() < 1 || req.GetTopK() > card.GetClasses() {
			return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d: top_k %d not in [1, %d]", job.batch, req.GetTopK(), card.GetClasses())
		}
		job.k = int(req.GetTopK())
	default:
		return job, status.Errorf(codes.InvalidArgument, "Forward: batch %d: output format %v", job.batch, job.format)
	}
	job.x, job.rows = x, int(shape[0])
	return job, nil
}

// answer runs the model on each queued batch and sends the result.
func (v *service) answer(ctx context.Context, stream taonetv1.Peer_ForwardServer, caller certs.ID, jobs <-chan forwardJob) error {
	classes := int(v.model.Card().GetClasses())
	var failed error
	for job := range jobs {
		v.metrics.addQueued(-1)
		if failed != nil || ctx.Err() != nil {
			continue // drain so the reader never blocks
		}
		var out []float32
		var err error
		start := time.Now()
		if cm, ok := v.model.(CallerModel); ok {
			out, err = cm.ForwardFor(caller, job.x)
		} else if caller.Role == certs.RolePeer && job.round > 0 && v.cache != nil {
			out, err = v.cachedForward(job, classes)
		} else {
			out, err = v.model.Forward(job.x)
		}
		v.metrics.observeForward(start)
		if err != nil {
			v.log.ErrorContext(ctx, "forward", "caller", caller.String(), "batch", job.batch, "err", err)
			failed = status.Errorf(codes.Internal, "Forward: batch %d: the model failed", job.batch)
			continue
		}
		if caller.Role == certs.RolePeer {
			v.records.keep(caller.String(), job.round, job.batch, job.x)
		}
		if err := v.send(stream, job, distill.Logits{Classes: classes, Values: out}); err != nil {
			failed = err
			continue
		}
		v.metrics.exchangeMetrics().AddBatches(metrics.RPCForward, metrics.RoleServer, caller.String(), 1)
	}
	return failed
}

// cachedForward answers a student's batch of a round: rows this peer
// already answered in the round come from the cache, the others from the
// model, and are then cached (see rowCache).
func (v *service) cachedForward(job forwardJob, classes int) ([]float32, error) {
	f := len(job.x) / job.rows
	out := make([]float32, job.rows*classes)
	missing, ok := v.cache.fill(job.round, job.x, f, classes, out)
	if !ok {
		return v.model.Forward(job.x)
	}
	v.metrics.addForwardRows(job.rows-len(missing), len(missing))
	if len(missing) == 0 {
		return out, nil
	}
	x := job.x
	if len(missing) < job.rows {
		x = make([]float32, 0, len(missing)*f)
		for _, r := range missing {
			x = append(x, job.x[r*f:(r+1)*f]...)
		}
	}
	l, err := v.model.Forward(x)
	if err != nil {
		return nil, err
	}
	for i, r := range missing {
		copy(out[r*classes:(r+1)*classes], l[i*classes:(i+1)*classes])
	}
	v.cache.add(job.round, x, f, l, classes)
	return out, nil
}

// send encodes one answer and sends it, in chunks when it is large.
func (v *service) send(stream taonetv1.Peer_ForwardServer, job forwardJob, l distill.Logits) error {
	if job.format == taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K {
		tk, err := distill.TopKFromLogitsAs(l, job.k, job.dtype)
		if err != nil {
			return status.Errorf(codes.Internal, "Forward: batch %d: top-k: %v", job.batch, err)
		}
		if n := len(tk.GetValues().GetData()) + len(tk.GetIndices().GetData()); n > v.limits.ChunkBytes {
			return status.Errorf(codes.ResourceExhausted, "Forward: batch %d: top-k answer of %d bytes is over the %d-byte message budget; send smaller batches", job.batch, n, v.limits.ChunkBytes)
		}
		return stream.Send(&taonetv1.ForwardResponse{BatchId: job.batch, Output: &taonetv1.ForwardResponse_TopK{TopK: tk}})
	}
	t, err := distill.EncodeLogitsAs(l, job.dtype)
	if err != nil {
		return status.Errorf(codes.Internal, "Forward: batch %d: the model returned bad logits", job.batch)
	}
	return exchange.SendTensor(t, v.limits.ChunkBytes, func(t *taonetv1.Tensor, c *taonetv1.Chunk) error {
		return stream.Send(&taonetv1.ForwardResponse{BatchId: job.batch, Output: &taonetv1.ForwardResponse_Logits{Logits: t}, Chunk: c})
	})
}

// features is the number of values in one input of card.
func features(card *taonetv1.ModelCard) int {
	n := 1
	for _, d := range card.GetInputShape() {
		n *= int(d)
	}
	return n
}

// tensorStatus maps a wire-tensor error to its status: ResourceExhausted
// for a declared size over the limit, else InvalidArgument.
func tensorStatus(rpc string, err error) error {
	if errors.Is(err, distill.ErrTooLarge) {
		return status.Errorf(codes.ResourceExhausted, "%s: %v", rpc, err)
	}
	return status.Errorf(codes.InvalidArgument, "%s: %v", rpc, err)
}

// finite refuses NaN and infinite values, naming the first.
func finite(x []float32) error {
	for i, f := range x {
		if f != f || f > maxFloat32 || f < -maxFloat32 {
			return fmt.Errorf("value %d is %v, not finite", i, f)
		}
	}
	return nil
}

const maxFloat32 = 3.4028234663852886e+38
