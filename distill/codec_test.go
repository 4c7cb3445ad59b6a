package distill_test

import (
	"errors"
	"math"
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
	nan, _ := distill.EncodeFloat32([]int64{1, 3}, []float32{0, float32(math.NaN()), 0})
	for _, tc := range []struct {
		name    string
		t       *taonetv1.Tensor
		classes int
		limit   uint64
	}{
		{"ErrClasses", tn, 2, limit},
		{"ErrNaN", nan, 3, limit},
		{"ErrLimit", tn, 3, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.DecodeLogits(tc.t, tc.classes, tc.limit); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestTopK(t *testing.T) {
	l := distill.Logits{Classes: 5, Values: []float32{0, 3, 1, 2, -1, 9, 9, 0, 0, 0}}
	tk, err := distill.TopKFromLogits(l, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		idx, _ := distill.DecodeInt64(tk.Indices, limit)
		if want := []int64{1, 3, 0, 1}; !equal(idx, want) {
			t.Fatalf("indices %v, want %v", idx, want)
		}
		p, err := distill.TopKProbs(tk, limit)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := distill.Softmax(l, 1)
		for r := range 2 {
			sum := 0.0
			for c := range 5 {
				sum += p[r*5+c]
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Fatalf("row %d sums to %v", r, sum)
			}
		}
		if math.Abs(p[1]-full[1]) > 1e-6 || math.Abs(p[3]-full[3]) > 1e-6 {
			t.Fatalf("kept classes %v %v, want %v %v", p[1], p[3], full[1], full[3])
		}
		rest := (1 - full[1] - full[3]) / 3
		for _, c := range []int{0, 2, 4} {
			if math.Abs(p[c]-rest) > 1e-6 {
				t.Fatalf("class %d gets %v, want the even share %v", c, p[c], rest)
			}
		}
	})
	badIdx, _ := distill.EncodeInt64([]int64{2, 2}, []int64{1, 1, 0, 1})
	outIdx, _ := distill.EncodeInt64([]int64{2, 2}, []int64{1, 5, 0, 1})
	posVal, _ := distill.EncodeFloat32([]int64{2, 2}, []float32{0.5, -1, -1, -1})
	heavy, _ := distill.EncodeFloat32([]int64{2, 2}, []float32{-0.1, -0.1, -1, -1})
	for _, tc := range []struct {
		name string
		tk   *taonetv1.TopK
	}{
		{"ErrRepeatedClass", &taonetv1.TopK{Vocab: 5, K: 2, Values: tk.Values, Indices: badIdx}},
		{"ErrClassRange", &taonetv1.TopK{Vocab: 5, K: 2, Values: tk.Values, Indices: outIdx}},
		{"ErrPositiveLogProb", &taonetv1.TopK{Vocab: 5, K: 2, Values: posVal, Indices: tk.Indices}},
		{"ErrMassOverOne", &taonetv1.TopK{Vocab: 5, K: 2, Values: heavy, Indices: tk.Indices}},
		{"ErrK", &taonetv1.TopK{Vocab: 5, K: 6, Values: tk.Values, Indices: tk.Indices}},
		{"ErrDType", &taonetv1.TopK{Vocab: 5, K: 2, Values: tk.Indices, Indices: tk.Indices}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.TopKProbs(tc.tk, limit); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
