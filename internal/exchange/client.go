package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Call is one Forward exchange: rows of inputs sent to one peer in batches
// on one stream, all in flight at once.
type Call struct {
	// Round is the round the batches belong to (0 outside rounds).
	Round uint64
	// Inputs holds rows of the product of Shape values each.
	Inputs []float32
	// Shape is one input's shape, e.g. [1, 28, 28].
	Shape []int64
	// Classes is the number of logits per row the answer must have.
	Classes int
	// Batch is the number of rows per batch; batch ids are FirstBatch,
	// FirstBatch+1, ... in row order.
	Batch      int
	FirstBatch uint64
	// Dtype is the dtype the answer is asked in (float32 when unspecified).
	Dtype taonetv1.DataType
	// ChunkBytes is the most data one message carries; Limit the largest
	// answer tensor accepted.
	ChunkBytes int
	Limit      uint64

	// encoded holds the batches' wire tensors, made once by Prepared for a
	// call sent to many peers.
	encoded []*taonetv1.Tensor
}

// Prepared returns c with its batches encoded once, so that sending it to
// many peers (a student's teachers, the coordinator's evaluation) does not
// encode the same inputs for every one. The encoded tensors are only read
// by the sends, so one prepared call may be sent on many streams at once.
func (c Call) Prepared() (Call, error) {
	if err := c.check(); err != nil {
		return c, err
	}
	f := c.features()
	rows := len(c.Inputs) / f
	c.encoded = nil
	for lo := 0; lo < rows; lo += c.Batch {
		hi := min(lo+c.Batch, rows)
		t, err := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, append([]int64{int64(hi - lo)}, c.Shape...), c.Inputs[lo*f:hi*f])
		if err != nil {
			return c, err
		}
		c.encoded = append(c.encoded, t)
	}
	return c, nil
}

// Result is one peer's full answer to a Call.
type Result struct {
	// Logits holds rows*Classes values in row order, as float32.
	Logits []float32
	// Elapsed is the time from opening the stream to the last answer.
	Elapsed time.Duration
}

// Batches is the number of batches c sends (0 for a call without whole
// rows).
func (c Call) Batches() int {
	f := c.features()
	if f < 1 || c.Batch < 1 {
		return 0
	}
	return (len(c.Inputs)/f + c.Batch - 1) / c.Batch
}

// features is the number of values in one input row of c.
func (c Call) features() int {
	n := 1
	for _, d := range c.Shape {
		n *= int(d)
	}
	return n
}

// check refuses a call that cannot be sent.
func (c Call) check() error {
	f := c.features()
	switch {
	case f < 1 || len(c.Inputs) == 0 || len(c.Inputs)%f != 0:
		return fmt.Errorf("forward call: %d input values are not whole rows of shape %v", len(c.Inputs), c.Shape)
	case c.Batch < 1 || c.Classes < 2 || c.ChunkBytes < 1 || c.Limit < 1:
		return fmt.Errorf("forward call: batch %d, classes %d, chunk %d and limit %d must be positive", c.Batch, c.Classes, c.ChunkBytes, c.Limit)
	}
	return nil
}

// Forward sends c's inputs to client's Forward in batches, all in flight at
// once, and reassembles the answers (whole or chunked, in any order). It
// returns when every batch is answered; an answer with an unknown or
// repeated batch id, the wrong shape or non-finite logits is an error, and
// so is a stream that ends early. ctx bounds the whole exchange. The
// stream uses Codec, and float32 logits are copied once, from the buffers
// gRPC received them in to their place in the result (see receiver).
func Forward(ctx context.Context, client taonetv1.PeerClient, c Call) (*Result, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stream, err := client.Forward(ctx, grpc.ForceCodecV2(Codec{}))
	if err != nil {
		return nil, err
	}
	f := c.features()
	rows := len(c.Inputs) / f
	batches := (rows + c.Batch - 1) / c.Batch
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendBatches(stream, c, rows, batches) }()

	out := make([]float32, rows*c.Classes)
	r := receiver{call: c, rows: rows, done: make([]bool, batches), reader: TensorReader{Limit: c.Limit},
		gather: gather{out: out, classes: c.Classes, limit: c.Limit}}
	var a answer
	defer a.free()
	for left := batches; left > 0; {
		if err := stream.RecvMsg(&a); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("stream ended with %d of %d batches unanswered", left, batches)
			}
			return nil, err
		}
		complete, err := r.take(&a)
		a.free()
		if err != nil {
			return nil, err
		}
		if complete {
			left--
		}
	}
	if err := <-sendErr; err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &Result{Logits: out, Elapsed: time.Since(start)}, nil
}

// sendBatches sends every batch of c, then closes the sending side.
func sendBatches(stream taonetv1.Peer_ForwardClient, c Call, rows, batches int) error {
	f := c.features()
	for i := range batches {
		var t *taonetv1.Tensor
		if len(c.encoded) == batches {
			t = c.encoded[i]
		} else {
			lo, hi := i*c.Batch, min((i+1)*c.Batch, rows)
			shape := append([]int64{int64(hi - lo)}, c.Shape...)
			var err error
			if t, err = distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, shape, c.Inputs[lo*f:hi*f]); err != nil {
				return err
			}
		}
		id := c.FirstBatch + uint64(i)
		err := SendTensor(t, c.ChunkBytes, func(t *taonetv1.Tensor, ch *taonetv1.Chunk) error {
			return stream.Send(&taonetv1.ForwardRequest{BatchId: id, Round: c.Round, Inputs: t, Chunk: ch, OutputDtype: c.Dtype})
		})
		if err != nil {
			return err
		}
	}
	return stream.CloseSend()
}

// Gradient is the caller's gradient for the logits of one answered batch:
// Rows*classes values.
type Gradient struct {
	Batch  uint64
	Rows   int
	Values []float32
}

// Backward sends grads for round to client's Backward, chunking large ones,
// and returns the peer's summary.
func Backward(ctx context.Context, client taonetv1.PeerClient, round uint64, classes, chunkBytes int, grads []Gradient) (*taonetv1.BackwardSummary, error) {
	stream, err := client.Backward(ctx, grpc.ForceCodecV2(Codec{}))
	if err != nil {
		return nil, err
	}
	for _, g := range grads {
		t, err := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, []int64{int64(g.Rows), int64(classes)}, g.Values)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", g.Batch, err)
		}
		err = SendTensor(t, chunkBytes, func(t *taonetv1.Tensor, ch *taonetv1.Chunk) error {
			return stream.Send(&taonetv1.BackwardRequest{BatchId: g.Batch, Round: round, Grad: t, Chunk: ch})
		})
		if errors.Is(err, io.EOF) {
			break // the server answered early (e.g. gradients turned off); CloseAndRecv tells
		}
		if err != nil {
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetSummary(), nil
}
