package exchange

import (
	"errors"
	"fmt"
	"slices"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ErrMidTensor reports a stream that moved on (or ended) in the middle of a
// chunked tensor.
var ErrMidTensor = errors.New("stream stopped in the middle of a chunked tensor")

// SendTensor sends t in one message when its data fits in chunkBytes, else
// as consecutive chunks: send gets a tensor holding one slice of the data
// (the dtype and shape in every chunk) and that slice's Chunk header.
func SendTensor(t *taonetv1.Tensor, chunkBytes int, send func(*taonetv1.Tensor, *taonetv1.Chunk) error) error {
	if len(t.GetData()) <= chunkBytes {
		return send(t, nil)
	}
	parts, heads, err := distill.Chunks(t.GetData(), chunkBytes)
	if err != nil {
		return err
	}
	for i, part := range parts {
		if err := send(&taonetv1.Tensor{Dtype: t.GetDtype(), Shape: t.GetShape(), Data: part}, heads[i]); err != nil {
			return err
		}
	}
	return nil
}

// TensorReader reassembles tensors that arrive whole or in chunks, one
// batch at a time: the chunks of one batch must be consecutive and keep the
// batch's dtype and shape. The declared size is checked against limit
// before anything is allocated.
type TensorReader struct {
	Limit uint64 // largest tensor a sender may declare, in bytes

	batch uint64
	head  *taonetv1.Tensor
	asm   *distill.Assembler
}

// Add takes one message's batch id, tensor and chunk header; it returns the
// whole tensor once complete (nil while chunks are still due).
func (r *TensorReader) Add(batch uint64, t *taonetv1.Tensor, c *taonetv1.Chunk) (*taonetv1.Tensor, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: batch %d carries no tensor", distill.ErrBadTensor, batch)
	}
	if r.asm != nil && batch != r.batch {
		return nil, fmt.Errorf("%w: batch %d began before batch %d was complete", ErrMidTensor, batch, r.batch)
	}
	if c == nil {
		if err := distill.CheckTensor(t, r.Limit); err != nil {
			return nil, err
		}
		return t, nil
	}
	if r.asm == nil {
		if c.GetTotalBytes() > r.Limit {
			return nil, fmt.Errorf("%w: batch %d declares %d bytes, the limit is %d", distill.ErrTooLarge, batch, c.GetTotalBytes(), r.Limit)
		}
		n, err := distill.TensorBytes(t.GetDtype(), t.GetShape(), r.Limit)
		if err != nil {
			return nil, err
		}
		if n != c.GetTotalBytes() {
			return nil, fmt.Errorf("%w: batch %d declares %d bytes, shape %v of %v needs %d", distill.ErrBadTensor, batch, c.GetTotalBytes(), t.GetShape(), t.GetDtype(), n)
		}
		r.batch, r.head, r.asm = batch, t, &distill.Assembler{Limit: r.Limit}
	} else if t.GetDtype() != r.head.GetDtype() || !slices.Equal(t.GetShape(), r.head.GetShape()) {
		return nil, fmt.Errorf("%w: batch %d chunk %d changes dtype or shape", distill.ErrBadTensor, batch, c.GetSeq())
	}
	data, done, err := r.asm.Add(c, t.GetData())
	if err != nil || !done {
		if err != nil {
			r.asm = nil
		}
		return nil, err
	}
	whole := &taonetv1.Tensor{Dtype: r.head.GetDtype(), Shape: r.head.GetShape(), Data: data}
	r.asm, r.head = nil, nil
	if err := distill.CheckTensor(whole, r.Limit); err != nil {
		return nil, err
	}
	return whole, nil
}

// Pending reports whether a chunked tensor is incomplete.
func (r *TensorReader) Pending() bool { return r.asm != nil }
