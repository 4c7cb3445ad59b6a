package distill

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian is whether this host stores numbers as the wire does. It is
// decided once; then float32, int32 and int64 tensors move between Go
// slices and wire bytes with one copy instead of a loop over elements.
// Tests flip it to cover the portable loop.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf views the memory of v as bytes (no copy). Copying into it is safe
// whatever the alignment of the source, since the destination is v itself.
func bytesOf[T float32 | int32 | int64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*int(unsafe.Sizeof(v[0])))
}

// putFloat32s writes v to dst as little-endian float32s.
func putFloat32s(dst []byte, v []float32) {
	if littleEndian {
		copy(dst, bytesOf(v))
		return
	}
	for i, f := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(f))
	}
}

// getFloat32s reads len(dst) little-endian float32s from src.
func getFloat32s(dst []float32, src []byte) {
	if littleEndian {
		copy(bytesOf(dst), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// putInt32s writes v to dst as little-endian int32s.
func putInt32s(dst []byte, v []int32) {
	if littleEndian {
		copy(dst, bytesOf(v))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], uint32(x))
	}
}

// getInt32s reads len(dst) little-endian int32s from src.
func getInt32s(dst []int32, src []byte) {
	if littleEndian {
		copy(bytesOf(dst), src)
		return
	}
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// putInt64s writes v to dst as little-endian int64s.
func putInt64s(dst []byte, v []int64) {
	if littleEndian {
		copy(dst, bytesOf(v))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(dst[8*i:], uint64(x))
	}
}

// getInt64s reads len(dst) little-endian int64s from src.
func getInt64s(dst []int64, src []byte) {
	if littleEndian {
		copy(bytesOf(dst), src)
		return
	}
	for i := range dst {
		dst[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
	}
}
