package distill_test

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

const limit = 1 << 20

func TestFloat32Codec(t *testing.T) {
	v := []float32{1.5, -0, float32(math.Inf(1)), 3e-40, -7}
	tn, err := distill.EncodeFloat32([]int64{5}, v)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		got, err := distill.DecodeFloat32(tn, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if math.Float32bits(got[i]) != math.Float32bits(v[i]) {
				t.Fatalf("value %d: %v, want %v", i, got[i], v[i])
			}
		}
		// Little-endian on the wire: 1.5 is 0x3fc00000.
		if d := tn.Data[:4]; d[0] != 0 || d[1] != 0 || d[2] != 0xc0 || d[3] != 0x3f {
			t.Fatalf("bytes % x", d)
		}
	})
	for _, tc := range []struct {
		name, want string
		t          *taonetv1.Tensor
	}{
		{"ErrDType", "want DATA_TYPE_FLOAT32", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_INT32, Shape: []int64{5}, Data: tn.Data}},
		{"ErrDTypeSize", "20 data bytes, shape [5] of DATA_TYPE_FLOAT16 needs 10", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT16, Shape: []int64{5}, Data: tn.Data}},
		{"ErrUnknownDType", "dtype", &taonetv1.Tensor{Dtype: 99, Shape: []int64{5}, Data: tn.Data}},
		{"ErrShape", "shape [2 3] of DATA_TYPE_FLOAT32 needs 24", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: []int64{2, 3}, Data: tn.Data}},
		{"ErrZeroDim", "dimension 1 is 0", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: []int64{5, 0}}},
		{"ErrNoShape", "no shape", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Data: tn.Data}},
		{"ErrOverflow", "exceeds", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: []int64{1 << 40, 1 << 40}}},
		{"ErrNil", "missing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := distill.DecodeFloat32(tc.t, limit)
			if !errors.Is(err, distill.ErrBadTensor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadTensor containing %q", err, tc.want)
			}
		})
	}
	t.Run("ErrEncodeCount", func(t *testing.T) {
		if _, err := distill.EncodeFloat32([]int64{2, 2}, v); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestLogitsCodec(t *testing.T) {
	l := distill.Logits{Classes: 3, Values: []float32{1, 2, 3, 4, 5, 6}}
	tn, err := distill.EncodeLogits(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		got, err := distill.DecodeLogits(tn, 3, limit)
		if err != nil || got.Rows() != 2 || got.Values[5] != 6 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	for _, dt := range []taonetv1.DataType{taonetv1.DataType_DATA_TYPE_FLOAT16, taonetv1.DataType_DATA_TYPE_BFLOAT16} {
		t.Run("OK"+dt.String(), func(t *testing.T) {
			half, err := distill.EncodeLogitsAs(l, dt)
			if err != nil {
				t.Fatal(err)
			}
			if half.Dtype != dt || len(half.Data) != 12 {
				t.Fatalf("%v with %d bytes, want %v with 12", half.Dtype, len(half.Data), dt)
			}
			got, err := distill.DecodeLogits(half, 3, limit)
			if err != nil || !slices.Equal(got.Values, l.Values) {
				t.Fatalf("%v %v, want %v", got.Values, err, l.Values)
			}
		})
	}
	for _, tc := range []struct {
		name string
		l    distill.Logits
		dt   taonetv1.DataType
		want error
	}{
		{"ErrOverflowFloat16", distill.Logits{Classes: 2, Values: []float32{1, -70000}}, taonetv1.DataType_DATA_TYPE_FLOAT16, distill.ErrNotFinite},
		{"ErrOverflowBFloat16", distill.Logits{Classes: 2, Values: []float32{3.4e38, 1}}, taonetv1.DataType_DATA_TYPE_BFLOAT16, distill.ErrNotFinite},
		{"ErrNaN", distill.Logits{Classes: 2, Values: []float32{float32(math.NaN()), 1}}, taonetv1.DataType_DATA_TYPE_FLOAT16, distill.ErrNotFinite},
		{"ErrDType", l, taonetv1.DataType_DATA_TYPE_INT32, distill.ErrBadTensor},
	} {
		t.Run("Encode"+tc.name, func(t *testing.T) {
			if _, err := distill.EncodeLogitsAs(tc.l, tc.dt); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	nan, _ := distill.EncodeFloat32([]int64{1, 3}, []float32{0, float32(math.NaN()), 0})
	inf16 := &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT16, Shape: []int64{1, 3}, Data: []byte{0, 0x3c, 0, 0x7c, 0, 0}}
	nanBF16 := &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_BFLOAT16, Shape: []int64{1, 3}, Data: []byte{0x80, 0x3f, 0, 0, 0xc1, 0xff}}
	ints, _ := distill.EncodeInt32([]int64{2, 3}, []int32{1, 2, 3, 4, 5, 6})
	flat, _ := distill.EncodeFloat32([]int64{6}, l.Values)
	for _, tc := range []struct {
		name    string
		t       *taonetv1.Tensor
		classes int
		limit   uint64
		want    error
	}{
		{"ErrClasses", tn, 2, limit, distill.ErrBadTensor},
		{"ErrNaN", nan, 3, limit, distill.ErrNotFinite},
		{"ErrInfFloat16", inf16, 3, limit, distill.ErrNotFinite},
		{"ErrNaNBFloat16", nanBF16, 3, limit, distill.ErrNotFinite},
		{"ErrDType", ints, 3, limit, distill.ErrBadTensor},
		{"ErrShape", flat, 3, limit, distill.ErrBadTensor},
		{"ErrLimit", tn, 3, 16, distill.ErrBadTensor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.DecodeLogits(tc.t, tc.classes, tc.limit); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// endians runs f with the codecs on their single-copy path and on the
// portable loop, whatever this host is.
func endians(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, le := range []bool{true, false} {
		name := "BigEndianLoop"
		if le {
			name = "LittleEndianCopy"
		}
		t.Run(name, func(t *testing.T) {
			defer distill.SetLittleEndian(le)()
			f(t)
		})
	}
}

func TestNativeEndian(t *testing.T) {
	big := map[string]bool{"armbe": true, "arm64be": true, "m68k": true, "mips": true, "mips64": true, "mips64p32": true,
		"ppc": true, "ppc64": true, "s390": true, "s390x": true, "shbe": true, "sparc": true, "sparc64": true}
	if got, want := distill.LittleEndian(), !big[runtime.GOARCH]; got != want {
		t.Fatalf("%s detected as little-endian %v", runtime.GOARCH, got)
	}
}

func TestFloatsCodec(t *testing.T) {
	v := []float32{1.5, -2, 65520, 1 + 0x1p-11}
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		dt   taonetv1.DataType
		wire []byte
		want []float32
	}{
		{"OKFloat32", taonetv1.DataType_DATA_TYPE_FLOAT32, []byte{0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0, 0, 0xf0, 0x7f, 0x47, 0, 0x10, 0x80, 0x3f}, v},
		{"OKFloat16", taonetv1.DataType_DATA_TYPE_FLOAT16, []byte{0, 0x3e, 0, 0xc0, 0, 0x7c, 0, 0x3c}, []float32{1.5, -2, inf, 1}},
		{"OKBFloat16", taonetv1.DataType_DATA_TYPE_BFLOAT16, []byte{0xc0, 0x3f, 0, 0xc0, 0x80, 0x47, 0x80, 0x3f}, []float32{1.5, -2, 65536, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endians(t, func(t *testing.T) {
				tn, err := distill.EncodeFloats(tc.dt, []int64{2, 2}, v)
				if err != nil {
					t.Fatal(err)
				}
				if tn.Dtype != tc.dt || !slices.Equal(tn.Shape, []int64{2, 2}) || !slices.Equal(tn.Data, tc.wire) {
					t.Fatalf("%v %v % x, want %v [2 2] % x", tn.Dtype, tn.Shape, tn.Data, tc.dt, tc.wire)
				}
				got, err := distill.DecodeFloats(tn, limit)
				if err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(tc.want[i]) {
						t.Fatalf("decoded %v, want %v", got, tc.want)
					}
				}
			})
		})
	}
	t.Run("OKShapeCopied", func(t *testing.T) {
		shape := []int64{4}
		tn, _ := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT16, shape, v)
		shape[0] = 7
		if tn.Shape[0] != 4 {
			t.Fatalf("tensor shape %v follows the caller's slice", tn.Shape)
		}
	})
	for _, tc := range []struct {
		name, want string
		dt         taonetv1.DataType
		shape      []int64
	}{
		{"ErrEncodeDType", "not a float dtype", taonetv1.DataType_DATA_TYPE_INT32, []int64{4}},
		{"ErrEncodeUnspecified", "not a float dtype", taonetv1.DataType_DATA_TYPE_UNSPECIFIED, []int64{4}},
		{"ErrEncodeCount", "4 values for shape [5]", taonetv1.DataType_DATA_TYPE_FLOAT16, []int64{5}},
		{"ErrEncodeShape", "dimension 0 is -4", taonetv1.DataType_DATA_TYPE_BFLOAT16, []int64{-4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := distill.EncodeFloats(tc.dt, tc.shape, v)
			if !errors.Is(err, distill.ErrBadTensor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadTensor containing %q", err, tc.want)
			}
		})
	}
	data := make([]byte, 8)
	for _, tc := range []struct {
		name, want string
		t          *taonetv1.Tensor
		limit      uint64
	}{
		{"ErrDecodeDType", "want a float dtype", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_INT64, Shape: []int64{1}, Data: data}, limit},
		{"ErrDecodeUint8", "want a float dtype", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_UINT8, Shape: []int64{8}, Data: data}, limit},
		{"ErrDecodeSize", "8 data bytes, shape [3] of DATA_TYPE_FLOAT16 needs 6", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT16, Shape: []int64{3}, Data: data}, limit},
		{"ErrDecodeLimit", "exceeds 7 bytes", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_BFLOAT16, Shape: []int64{4}, Data: data}, 7},
		{"ErrDecodeOverflow", "exceeds", &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT16, Shape: []int64{1 << 40, 1 << 40}}, math.MaxUint64},
		{"ErrDecodeNil", "missing", nil, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := distill.DecodeFloats(tc.t, tc.limit)
			if got != nil || !errors.Is(err, distill.ErrBadTensor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v, want ErrBadTensor containing %q", got, err, tc.want)
			}
		})
	}
}

func TestDecodeFloatsInto(t *testing.T) {
	tn, _ := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT16, []int64{3}, []float32{1, 2, 3})
	t.Run("OKReuse", func(t *testing.T) {
		dst := make([]float32, 1, 8)
		got, err := distill.DecodeFloatsInto(dst, tn, limit)
		if err != nil || !slices.Equal(got, []float32{1, 2, 3}) || &got[0] != &dst[:1][0] {
			t.Fatalf("%v %v: not decoded into dst", got, err)
		}
	})
	t.Run("OKGrow", func(t *testing.T) {
		dst := make([]float32, 2)
		got, err := distill.DecodeFloatsInto(dst, tn, limit)
		if err != nil || !slices.Equal(got, []float32{1, 2, 3}) || dst[0] != 0 {
			t.Fatalf("%v %v, dst %v", got, err, dst)
		}
	})
	t.Run("ErrLimit", func(t *testing.T) {
		dst := make([]float32, 3)
		got, err := distill.DecodeFloatsInto(dst, tn, 5)
		if got != nil || !errors.Is(err, distill.ErrBadTensor) || dst[0] != 0 {
			t.Fatalf("%v %v, dst %v", got, err, dst)
		}
	})
}

// testIntCodec checks an integer codec: exact little-endian bytes both
// ways on both paths, and each error. v must fill a multiple of 4 bytes.
func testIntCodec[T comparable](t *testing.T, dt taonetv1.DataType, enc func([]int64, []T) (*taonetv1.Tensor, error),
	dec func(*taonetv1.Tensor, uint64) ([]T, error), v []T, wire []byte) {
	t.Helper()
	n := int64(len(v))
	t.Run("OK", func(t *testing.T) {
		endians(t, func(t *testing.T) {
			tn, err := enc([]int64{n}, v)
			if err != nil {
				t.Fatal(err)
			}
			if tn.Dtype != dt || !slices.Equal(tn.Data, wire) {
				t.Fatalf("%v % x, want %v % x", tn.Dtype, tn.Data, dt, wire)
			}
			got, err := dec(tn, limit)
			if err != nil || !slices.Equal(got, v) {
				t.Fatalf("decoded %v %v, want %v", got, err, v)
			}
		})
	})
	for _, tc := range []struct {
		name, want string
		t          *taonetv1.Tensor
		limit      uint64
	}{
		{"ErrDType", "want " + dt.String(), &taonetv1.Tensor{Dtype: taonetv1.DataType_DATA_TYPE_FLOAT32, Shape: []int64{int64(len(wire) / 4)}, Data: wire}, limit},
		{"ErrSize", "needs", &taonetv1.Tensor{Dtype: dt, Shape: []int64{n + 1}, Data: wire}, limit},
		{"ErrLimit", "exceeds", &taonetv1.Tensor{Dtype: dt, Shape: []int64{n}, Data: wire}, uint64(len(wire) - 1)},
		{"ErrNil", "missing", nil, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dec(tc.t, tc.limit)
			if got != nil || !errors.Is(err, distill.ErrBadTensor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v, want ErrBadTensor containing %q", got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, want string
		shape      []int64
	}{
		{"ErrEncodeCount", "values for shape", []int64{n + 1}},
		{"ErrEncodeShape", "dimension 0 is -1", []int64{-1}},
		{"ErrEncodeNoShape", "no shape", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := enc(tc.shape, v); !errors.Is(err, distill.ErrBadTensor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadTensor containing %q", err, tc.want)
			}
		})
	}
}

func TestIntCodecs(t *testing.T) {
	t.Run("Int64", func(t *testing.T) {
		testIntCodec(t, taonetv1.DataType_DATA_TYPE_INT64, distill.EncodeInt64, distill.DecodeInt64, []int64{-2, 0x0102030405060708},
			[]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 8, 7, 6, 5, 4, 3, 2, 1})
	})
	t.Run("Int32", func(t *testing.T) {
		testIntCodec(t, taonetv1.DataType_DATA_TYPE_INT32, distill.EncodeInt32, distill.DecodeInt32, []int32{-2, 0x01020304},
			[]byte{0xfe, 0xff, 0xff, 0xff, 4, 3, 2, 1})
	})
	t.Run("Uint8", func(t *testing.T) {
		testIntCodec(t, taonetv1.DataType_DATA_TYPE_UINT8, distill.EncodeUint8, distill.DecodeUint8, []uint8{0, 1, 0x80, 0xff},
			[]byte{0, 1, 0x80, 0xff})
	})
	t.Run("OKUint8Copies", func(t *testing.T) {
		v := []uint8{1, 2}
		tn, _ := distill.EncodeUint8([]int64{2}, v)
		v[0] = 9
		got, _ := distill.DecodeUint8(tn, limit)
		got[1] = 9
		if !slices.Equal(tn.Data, []byte{1, 2}) {
			t.Fatalf("tensor data % x shares memory with the caller", tn.Data)
		}
	})
}

func TestChunks(t *testing.T) {
	data := make([]byte, 10)
	for i := range data {
		data[i] = byte(i)
	}
	parts, heads, err := distill.Chunks(data, 4)
	if err != nil || len(parts) != 3 || !heads[2].Last || heads[1].Last {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	t.Run("OK", func(t *testing.T) {
		a := distill.Assembler{Limit: 10}
		for i := range parts {
			got, done, err := a.Add(heads[i], parts[i])
			if err != nil || done != (i == 2) {
				t.Fatalf("chunk %d: done %v, %v", i, done, err)
			}
			if done && string(got) != string(data) {
				t.Fatalf("reassembled % x", got)
			}
		}
	})
	for _, tc := range []struct {
		name, want string
		limit      uint64
		seqs       []int // order in which chunks are fed
		mutate     func(h []*taonetv1.Chunk, p [][]byte) ([]*taonetv1.Chunk, [][]byte)
	}{
		{"ErrTooLarge", "declared 10 bytes, limit 9", 9, []int{0}, nil},
		{"ErrOutOfOrder", "seq 2, want 1", 10, []int{0, 2}, nil},
		{"ErrTotalChanged", "declares 11 bytes", 100, []int{0, 1}, func(h []*taonetv1.Chunk, p [][]byte) ([]*taonetv1.Chunk, [][]byte) {
			h = clone(h)
			h[1].TotalBytes = 11
			return h, p
		}},
		{"ErrOverrun", "overruns", 100, []int{0, 1, 2}, func(h []*taonetv1.Chunk, p [][]byte) ([]*taonetv1.Chunk, [][]byte) {
			p = append([][]byte(nil), p...)
			p[2] = []byte{1, 2, 3, 4, 5}
			return h, p
		}},
		{"ErrShort", "ends at 8 of 10", 100, []int{0, 1}, func(h []*taonetv1.Chunk, p [][]byte) ([]*taonetv1.Chunk, [][]byte) {
			h = clone(h)
			h[1].Last = true
			return h, p
		}},
		{"ErrAfterDone", "already complete", 100, []int{0, 1, 2, 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, p := heads, parts
			if tc.mutate != nil {
				h, p = tc.mutate(h, p)
			}
			a := distill.Assembler{Limit: tc.limit}
			var err error
			for _, s := range tc.seqs {
				if _, _, err = a.Add(h[s], p[s]); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func clone(h []*taonetv1.Chunk) []*taonetv1.Chunk {
	out := make([]*taonetv1.Chunk, len(h))
	for i, c := range h {
		out[i] = &taonetv1.Chunk{Seq: c.Seq, TotalBytes: c.TotalBytes, Last: c.Last}
	}
	return out
}
