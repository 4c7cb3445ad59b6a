package distill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

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

// isFloat is whether dt is one of the float dtypes (float32, float16,
// bfloat16) that EncodeFloats and DecodeFloats convert.
func isFloat(dt taonetv1.DataType) bool {
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT32, taonetv1.DataType_DATA_TYPE_FLOAT16, taonetv1.DataType_DATA_TYPE_BFLOAT16:
		return true
	}
	return false
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

// newTensor returns a tensor of dt and shape (copied) with its data
// allocated, once n values are known to fill shape exactly.
func newTensor(dt taonetv1.DataType, shape []int64, n int) (*taonetv1.Tensor, error) {
	total, err := TensorBytes(dt, shape, math.MaxInt)
	if err != nil {
		return nil, err
	}
	size, _ := dtypeSize(dt) // known good: TensorBytes checked it
	if total != uint64(size)*uint64(n) {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrBadTensor, n, shape)
	}
	return &taonetv1.Tensor{Dtype: dt, Shape: slices.Clone(shape), Data: make([]byte, total)}, nil
}

// checkDType is CheckTensor that also refuses a dtype other than want.
func checkDType(t *taonetv1.Tensor, limit uint64, want taonetv1.DataType) error {
	if err := CheckTensor(t, limit); err != nil {
		return err
	}
	if t.GetDtype() != want {
		return fmt.Errorf("%w: dtype %v, want %v", ErrBadTensor, t.GetDtype(), want)
	}
	return nil
}

// EncodeFloats makes a wire tensor of dtype dt and shape from v: float32
// as is, float16 and bfloat16 rounded to nearest even (see
// Float32ToFloat16; magnitudes beyond the dtype's range become infinite).
// Another dtype, or a count of values that does not fill shape, is
// ErrBadTensor.
func EncodeFloats(dt taonetv1.DataType, shape []int64, v []float32) (*taonetv1.Tensor, error) {
	if !isFloat(dt) {
		return nil, fmt.Errorf("%w: dtype %v is not a float dtype", ErrBadTensor, dt)
	}
	t, err := newTensor(dt, shape, len(v))
	if err != nil {
		return nil, err
	}
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT32:
		putFloat32s(t.Data, v)
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		for i, f := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], Float32ToFloat16(f))
		}
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		for i, f := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], Float32ToBFloat16(f))
		}
	}
	return t, nil
}

// DecodeFloats returns the values of a float32, float16 or bfloat16 wire
// tensor of at most limit bytes as float32 (widening is exact). The size is
// checked as CheckTensor does before anything is allocated; that error, or
// another dtype, is ErrBadTensor.
func DecodeFloats(t *taonetv1.Tensor, limit uint64) ([]float32, error) {
	return DecodeFloatsInto(nil, t, limit)
}

// DecodeFloatsInto is DecodeFloats that decodes into dst's memory when its
// capacity holds every value (it allocates otherwise), so that a caller can
// reuse one buffer across messages. It returns the decoded slice; on an
// error dst is left untouched.
func DecodeFloatsInto(dst []float32, t *taonetv1.Tensor, limit uint64) ([]float32, error) {
	if err := CheckTensor(t, limit); err != nil {
		return nil, err
	}
	dt, data := t.GetDtype(), t.GetData()
	if !isFloat(dt) {
		return nil, fmt.Errorf("%w: dtype %v, want a float dtype", ErrBadTensor, dt)
	}
	size, _ := dtypeSize(dt) // known good: CheckTensor checked it
	n := len(data) / size
	if cap(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]float32, n)
	}
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT32:
		getFloat32s(dst, data)
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		for i := range dst {
			dst[i] = Float16ToFloat32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	}
	return dst, nil
}

// EncodeFloat32 makes a float32 wire tensor of shape from v; a count of
// values that does not fill shape is ErrBadTensor.
func EncodeFloat32(shape []int64, v []float32) (*taonetv1.Tensor, error) {
	return EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, shape, v)
}

// DecodeFloat32 returns the values of a float32 wire tensor of at most
// limit bytes; another dtype or a size that does not match the shape is an
// error (ErrBadTensor).
func DecodeFloat32(t *taonetv1.Tensor, limit uint64) ([]float32, error) {
	if err := checkDType(t, limit, taonetv1.DataType_DATA_TYPE_FLOAT32); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.GetData())/4)
	getFloat32s(v, t.GetData())
	return v, nil
}

// EncodeInt64 makes an int64 wire tensor of shape from v; a count of values
// that does not fill shape is ErrBadTensor.
func EncodeInt64(shape []int64, v []int64) (*taonetv1.Tensor, error) {
	t, err := newTensor(taonetv1.DataType_DATA_TYPE_INT64, shape, len(v))
	if err != nil {
		return nil, err
	}
	putInt64s(t.Data, v)
	return t, nil
}

// DecodeInt64 returns the values of an int64 wire tensor of at most limit
// bytes; another dtype or a size that does not match the shape is
// ErrBadTensor.
func DecodeInt64(t *taonetv1.Tensor, limit uint64) ([]int64, error) {
	if err := checkDType(t, limit, taonetv1.DataType_DATA_TYPE_INT64); err != nil {
		return nil, err
	}
	v := make([]int64, len(t.GetData())/8)
	getInt64s(v, t.GetData())
	return v, nil
}

// EncodeInt32 makes an int32 wire tensor of shape from v; a count of values
// that does not fill shape is ErrBadTensor.
func EncodeInt32(shape []int64, v []int32) (*taonetv1.Tensor, error) {
	t, err := newTensor(taonetv1.DataType_DATA_TYPE_INT32, shape, len(v))
	if err != nil {
		return nil, err
	}
	putInt32s(t.Data, v)
	return t, nil
}

// DecodeInt32 returns the values of an int32 wire tensor of at most limit
// bytes; another dtype or a size that does not match the shape is
// ErrBadTensor.
func DecodeInt32(t *taonetv1.Tensor, limit uint64) ([]int32, error) {
	if err := checkDType(t, limit, taonetv1.DataType_DATA_TYPE_INT32); err != nil {
		return nil, err
	}
	v := make([]int32, len(t.GetData())/4)
	getInt32s(v, t.GetData())
	return v, nil
}

// EncodeUint8 makes a uint8 wire tensor of shape from a copy of v; a count
// of values that does not fill shape is ErrBadTensor.
func EncodeUint8(shape []int64, v []uint8) (*taonetv1.Tensor, error) {
	t, err := newTensor(taonetv1.DataType_DATA_TYPE_UINT8, shape, len(v))
	if err != nil {
		return nil, err
	}
	copy(t.Data, v)
	return t, nil
}

// DecodeUint8 returns a copy of the values of a uint8 wire tensor of at
// most limit bytes (the copy does not alias the message); another dtype or
// a size that does not match the shape is ErrBadTensor.
func DecodeUint8(t *taonetv1.Tensor, limit uint64) ([]uint8, error) {
	if err := checkDType(t, limit, taonetv1.DataType_DATA_TYPE_UINT8); err != nil {
		return nil, err
	}
	return slices.Clone(t.GetData()), nil
}

// EncodeLogits makes the [rows, classes] float32 wire tensor of l; ragged
// or empty logits and NaN or Inf are errors (see Logits.Check).
func EncodeLogits(l Logits) (*taonetv1.Tensor, error) {
	return EncodeLogitsAs(l, taonetv1.DataType_DATA_TYPE_FLOAT32)
}

// EncodeLogitsAs makes the [rows, classes] wire tensor of l in dtype dt:
// float32, float16 or bfloat16 (rounded to nearest even). Besides the
// errors of Logits.Check, a logit too large for dt (a float16 holds
// magnitudes below 65520) is ErrNotFinite, since the receiver would refuse
// the infinity it becomes; another dtype is ErrBadTensor.
func EncodeLogitsAs(l Logits, dt taonetv1.DataType) (*taonetv1.Tensor, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	t, err := EncodeFloats(dt, []int64{int64(l.Rows()), int64(l.Classes)}, l.Values)
	if err != nil {
		return nil, err
	}
	if i := firstHalfInf(t); i >= 0 {
		return nil, fmt.Errorf("logits: row %d class %d: %w: %v overflows %v", i/l.Classes, i%l.Classes, ErrNotFinite, l.Values[i], dt)
	}
	return t, nil
}

// firstHalfInf is the index of the first infinite (or NaN) element of a
// float16 or bfloat16 tensor, or -1 when there is none or t has another
// dtype.
func firstHalfInf(t *taonetv1.Tensor) int {
	var exp uint16
	switch t.GetDtype() {
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		exp = f16ExpMask
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		exp = bf16ExpMask
	default:
		return -1
	}
	for i := 0; i+1 < len(t.GetData()); i += 2 {
		if binary.LittleEndian.Uint16(t.GetData()[i:])&exp == exp {
			return i / 2
		}
	}
	return -1
}

// DecodeLogits reads a [rows, classes] float32, float16 or bfloat16 wire
// tensor of finite logits of at most limit bytes. Another dtype, class
// count or shape is ErrBadTensor; NaN or Inf is ErrNotFinite.
func DecodeLogits(t *taonetv1.Tensor, classes int, limit uint64) (Logits, error) {
	v, err := DecodeFloats(t, limit)
	if err != nil {
		return Logits{}, err
	}
	if s := t.GetShape(); len(s) != 2 || s[1] != int64(classes) {
		return Logits{}, fmt.Errorf("%w: logits shape %v, want [rows %d]", ErrBadTensor, s, classes)
	}
	l := Logits{Classes: classes, Values: v}
	return l, l.Check()
}
