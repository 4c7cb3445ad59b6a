package exchange

import (
	"fmt"
	"math"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// receiver files the answers of one Forward call into its result: float32
// logits through the gatherer, straight from the buffers gRPC received
// them in when Codec left them there (see answer), and other dtypes
// through TensorReader, then decoded in place.
type receiver struct {
	call   Call
	rows   int
	done   []bool // by batch index
	reader TensorReader
	gather gather
}

// take files one answer and reports whether it completed its batch. An
// unknown or repeated batch id is an error, and so is anything TensorReader
// or the gatherer refuses.
func (r *receiver) take(a *answer) (bool, error) {
	id := a.resp.GetBatchId()
	i := int(id - r.call.FirstBatch)
	if id < r.call.FirstBatch || i >= len(r.done) || r.done[i] {
		return false, fmt.Errorf("answer for batch %d, which was not asked or was answered already", id)
	}
	lo, hi := i*r.call.Batch, min((i+1)*r.call.Batch, r.rows)
	t, ch := a.resp.GetLogits(), a.resp.GetChunk()
	var complete bool
	var err error
	if t != nil && !r.reader.Pending() && r.gather.wants(t.GetDtype()) {
		complete, err = r.gather.add(id, lo, hi, t, ch, a.data)
	} else {
		if t != nil && a.data != nil {
			t.Data = a.data.Materialize()
		}
		complete, err = r.decode(id, lo, hi, t, ch)
	}
	if err != nil {
		return false, fmt.Errorf("batch %d: %w", id, err)
	}
	r.done[i] = complete
	return complete, nil
}

// decode reassembles answers in another dtype than float32 with
// TensorReader and decodes them into the result.
func (r *receiver) decode(id uint64, lo, hi int, t *taonetv1.Tensor, ch *taonetv1.Chunk) (bool, error) {
	whole, err := r.reader.Add(id, t, ch)
	if err != nil || whole == nil {
		return false, err
	}
	c := r.call.Classes
	return true, decodeLogits(r.gather.out[lo*c:hi*c:hi*c], whole, c, r.call.Limit)
}

// decodeLogits decodes t, an answer of len(dst)/classes rows of finite
// logits, straight into dst (no intermediate slice). A shape, dtype or
// size that does not match is distill.ErrBadTensor; NaN or Inf is
// distill.ErrNotFinite. dst may hold part of the answer on an error.
func decodeLogits(dst []float32, t *taonetv1.Tensor, classes int, limit uint64) error {
	rows := len(dst) / classes
	if s := t.GetShape(); len(s) != 2 || s[1] != int64(classes) {
		return fmt.Errorf("%w: logits shape %v, want [rows %d]", distill.ErrBadTensor, s, classes)
	} else if s[0] != int64(rows) {
		return fmt.Errorf("%d rows answered, %d asked", s[0], rows)
	}
	// dst's capacity ends with the batch, so a tensor larger than its shape
	// says (which DecodeFloatsInto refuses anyway) could not spill over.
	v, err := distill.DecodeFloatsInto(dst, t, limit)
	if err != nil {
		return err
	}
	if i := firstNonFinite(v); i >= 0 {
		return fmt.Errorf("logits: row %d class %d: %w (%v)", i/classes, i%classes, distill.ErrNotFinite, v[i])
	}
	return nil
}

// firstNonFinite is the index of the first NaN or infinity of v, or -1. It
// tests the exponent bits eight values at a time, several times faster than
// a test per value in float64.
func firstNonFinite(v []float32) int {
	const exp = 0x7f800000
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := v[i : i+8 : i+8]
		if math.Float32bits(w[0])&exp == exp || math.Float32bits(w[1])&exp == exp || math.Float32bits(w[2])&exp == exp ||
			math.Float32bits(w[3])&exp == exp || math.Float32bits(w[4])&exp == exp || math.Float32bits(w[5])&exp == exp ||
			math.Float32bits(w[6])&exp == exp || math.Float32bits(w[7])&exp == exp {
			break
		}
	}
	for ; i < len(v); i++ {
		if math.Float32bits(v[i])&exp == exp {
			return i
		}
	}
	return -1
}
