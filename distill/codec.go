package distill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ErrBadTensor marks a wire tensor whose dtype, shape or size is wrong.
var ErrBadTensor = errors.New("bad tensor")

// dtypeSize is the size in bytes of one element of dt.
func dtypeSize(dt taonetv1.DataType) (int, error) {
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT32, taonetv1.DataType_DATA_TYPE_INT32:
		return 4, nil
	case taonetv1.DataType_DATA_TYPE_FLOAT16, taonetv1.DataType_DATA_TYPE_BFLOAT16:
		return 2, nil
	case taonetv1.DataType_DATA_TYPE_INT64:
		return 8, nil
	case taonetv1.DataType_DATA_TYPE_UINT8:
		return 1, nil
	}
	return 0, fmt.Errorf("%w: dtype %v", ErrBadTensor, dt)
}

// TensorBytes is the size in bytes that a tensor of dtype and shape must
// have. It refuses unknown dtypes, non-positive dimensions and sizes over
// limit (checked without overflow) so that a receiver can refuse a
// declared size before it allocates.
func TensorBytes(dt taonetv1.DataType, shape []int64, limit uint64) (uint64, error) {
	size, err := dtypeSize(dt)
	if err != nil {
		return 0, err
	}
	if len(shape) == 0 {
		return 0, fmt.Errorf("%w: no shape", ErrBadTensor)
	}
	total := uint64(size)
	for i, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("%w: dimension %d is %d", ErrBadTensor, i, d)
		}
		if total > limit/uint64(d) {
			return 0, fmt.Errorf("%w: shape %v of %v exceeds %d bytes", ErrBadTensor, shape, dt, limit)
		}
		total *= uint64(d)
	}
	return total, nil
}

// CheckTensor checks that t's data is exactly product(shape) * size(dtype)
// bytes and at most limit.
func CheckTensor(t *taonetv1.Tensor, limit uint64) error {
	if t == nil {
		return fmt.Errorf("%w: missing", ErrBadTensor)
	}
	n, err := TensorBytes(t.GetDtype(), t.GetShape(), limit)
	if err != nil {
		return err
	}
	if uint64(len(t.GetData())) != n {
		return fmt.Errorf("%w: %d data bytes, shape %v of %v needs %d", ErrBadTensor, len(t.GetData()), t.GetShape(), t.GetDtype(), n)
	}
	return nil
}

// EncodeFloat32 makes a float32 wire tensor of shape from v.
func EncodeFloat32(shape []int64, v []float32) (*taonetv1.Tensor, error) {
	n, err := TensorBytes(taonetv1.DataType_DATA_TYPE_FLOAT32, shape, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if n != uint64(4*len(v)) {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrBadTensor, len(v), shape)
	}
	data := make([]byte, n)
	for i, f := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
	}
	return &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: append([]int64(nil), shape...), Data: data}, nil
}

// DecodeFloat32 returns the values of a float32 wire tensor of at most
// limit bytes; another dtype or a size that does not match the shape is an
// error (ErrBadTensor).
func DecodeFloat32(t *taonetv1.Tensor, limit uint64) ([]float32, error) {
	if err := CheckTensor(t, limit); err != nil {
		return nil, err
	}
	if t.GetDtype() != taonetv1.DataType_DATA_TYPE_FLOAT32 {
		return nil, fmt.Errorf("%w: dtype %v, want DATA_TYPE_FLOAT32", ErrBadTensor, t.GetDtype())
	}
	v := make([]float32, len(t.GetData())/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.GetData()[4*i:]))
	}
	return v, nil
}

// EncodeInt64 makes an int64 wire tensor of shape from v.
func EncodeInt64(shape []int64, v []int64) (*taonetv1.Tensor, error) {
	n, err := TensorBytes(taonetv1.DataType_DATA_TYPE_INT64, shape, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if n != uint64(8*len(v)) {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrBadTensor, len(v), shape)
	}
	data := make([]byte, n)
	for i, x := range v {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(x))
	}
	return &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_INT64, Shape: append([]int64(nil), shape...), Data: data}, nil
}

// DecodeInt64 returns the values of an int64 wire tensor of at most limit
// bytes.
func DecodeInt64(t *taonetv1.Tensor, limit uint64) ([]int64, error) {
	if err := CheckTensor(t, limit); err != nil {
		return nil, err
	}
	if t.GetDtype() != taonetv1.DataType_DATA_TYPE_INT64 {
		return nil, fmt.Errorf("%w: dtype %v, want DATA_TYPE_INT64", ErrBadTensor, t.GetDtype())
	}
	v := make([]int64, len(t.GetData())/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.GetData()[8*i:]))
	}
	return v, nil
}

// EncodeLogits makes the [rows, classes] float32 wire tensor of l.
func EncodeLogits(l Logits) (*taonetv1.Tensor, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	return EncodeFloat32([]int64{int64(l.Rows()), int64(l.Classes)}, l.Values)
}

// DecodeLogits reads a [rows, classes] float32 wire tensor of finite
// logits, refusing another class count, dtype or shape and NaN or Inf.
func DecodeLogits(t *taonetv1.Tensor, classes int, limit uint64) (Logits, error) {
	v, err := DecodeFloat32(t, limit)
	if err != nil {
		return Logits{}, err
	}
	if s := t.GetShape(); len(s) != 2 || s[1] != int64(classes) {
		return Logits{}, fmt.Errorf("%w: logits shape %v, want [rows %d]", ErrBadTensor, s, classes)
	}
	l := Logits{Classes: classes, Values: v}
	return l, l.Check()
}

// TopKFromLogits keeps, per row, the k largest log-probabilities of l and
// their classes, in descending order (ties by lower class).
func TopKFromLogits(l Logits, k int) (*taonetv1.TopK, error) {
	lp, err := LogSoftmax(l, 1)
	if err != nil {
		return nil, err
	}
	if k < 1 || k > l.Classes {
		return nil, fmt.Errorf("top-k: k %d not in [1, %d]", k, l.Classes)
	}
	rows := l.Rows()
	vals := make([]float32, 0, rows*k)
	idx := make([]int64, 0, rows*k)
	order := make([]int, l.Classes)
	for r := range rows {
		row := lp[r*l.Classes : (r+1)*l.Classes]
		for c := range order {
			order[c] = c
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		for _, c := range order[:k] {
			vals = append(vals, float32(row[c]))
			idx = append(idx, int64(c))
		}
	}
	shape := []int64{int64(rows), int64(k)}
	vt, err := EncodeFloat32(shape, vals)
	if err != nil {
		return nil, err
	}
	it, err := EncodeInt64(shape, idx)
	if err != nil {
		return nil, err
	}
	return &taonetv1.TopK{Vocab: uint32(l.Classes), K: uint32(k), Values: vt, Indices: it}, nil
}

// TopKProbs rebuilds full distributions ([rows, vocab]) from a TopK: the
// kept classes get their probabilities and the remaining mass is spread
// evenly over the other vocab - k classes. Indices out of range or
// repeated, log-probabilities above 0 or not finite, and kept mass above 1
// are errors.
func TopKProbs(tk *taonetv1.TopK, limit uint64) ([]float64, error) {
	vocab, k := int(tk.GetVocab()), int(tk.GetK())
	if k < 1 || k > vocab {
		return nil, fmt.Errorf("top-k: k %d, vocab %d", k, vocab)
	}
	vals, err := DecodeFloat32(tk.GetValues(), limit)
	if err != nil {
		return nil, fmt.Errorf("top-k values: %w", err)
	}
	idx, err := DecodeInt64(tk.GetIndices(), limit)
	if err != nil {
		return nil, fmt.Errorf("top-k indices: %w", err)
	}
	if len(vals) != len(idx) || len(vals)%k != 0 {
		return nil, fmt.Errorf("top-k: %d values and %d indices for k %d", len(vals), len(idx), k)
	}
	rows := len(vals) / k
	if uint64(rows)*uint64(vocab)*8 > limit {
		return nil, fmt.Errorf("top-k: %d rows of %d classes exceed %d bytes", rows, vocab, limit)
	}
	out := make([]float64, rows*vocab)
	for r := range rows {
		row := out[r*vocab : (r+1)*vocab]
		seen := make(map[int64]bool, k)
		kept := 0.0
		for j := r * k; j < (r+1)*k; j++ {
			c, v := idx[j], float64(vals[j])
			if c < 0 || c >= int64(vocab) || seen[c] {
				return nil, fmt.Errorf("top-k: row %d: class %d out of range or repeated", r, c)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) || v > 1e-6 {
				return nil, fmt.Errorf("top-k: row %d: log-probability %v", r, v)
			}
			seen[c] = true
			row[c] = math.Exp(min(v, 0))
			kept += row[c]
		}
		if kept > 1+1e-4 {
			return nil, fmt.Errorf("top-k: row %d keeps probability %.5f > 1", r, kept)
		}
		if rest := vocab - k; rest > 0 {
			each := max(1-kept, 0) / float64(rest)
			for c := range row {
				if !seen[int64(c)] {
					row[c] = each
				}
			}
		}
	}
	return out, nil
}
