package distill_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

var floatTypes = []taonetv1.DataType{
	taonetv1.DataType_DATA_TYPE_FLOAT32,
	taonetv1.DataType_DATA_TYPE_FLOAT16,
	taonetv1.DataType_DATA_TYPE_BFLOAT16,
}

func TestTopK(t *testing.T) {
	l := distill.Logits{Classes: 5, Values: []float32{0, 3, 1, 2, -1, 9, 9, 0, 0, 0}}
	tk, err := distill.TopKFromLogits(l, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		idx, _ := indices(tk, limit)
		if want := []int64{1, 3, 0, 1}; !slices.Equal(idx, want) {
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

// checkRows fails unless p holds rows of vocab probabilities in [0, 1]
// that each sum to 1 within tol.
func checkRows(tb testing.TB, p []float64, vocab int, tol float64) {
	tb.Helper()
	for r := 0; r < len(p)/vocab; r++ {
		sum := 0.0
		for _, x := range p[r*vocab : (r+1)*vocab] {
			if !(x >= 0 && x <= 1) {
				tb.Fatalf("row %d: probability %v", r, x)
			}
			sum += x
		}
		if math.Abs(sum-1) > tol {
			tb.Fatalf("row %d sums to %v", r, sum)
		}
	}
}

func TestTopKFromLogitsAs(t *testing.T) {
	l := distill.Logits{Classes: 5, Values: []float32{0, 3, 1, 2, -1, 9, 9, 0, 0, 0}}
	lp, _ := distill.LogSoftmax(l, 1)
	for _, dt := range floatTypes {
		t.Run("OK"+dt.String(), func(t *testing.T) {
			tk, err := distill.TopKFromLogitsAs(l, 3, dt)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Values.Dtype != dt || tk.Vocab != 5 || tk.K != 3 || !slices.Equal(tk.Values.Shape, []int64{2, 3}) {
				t.Fatalf("%v %d %d %v", tk.Values.Dtype, tk.Vocab, tk.K, tk.Values.Shape)
			}
			idx, _ := indices(tk, limit)
			if want := []int64{1, 3, 2, 0, 1, 2}; !slices.Equal(idx, want) {
				t.Fatalf("indices %v, want %v", idx, want)
			}
			vals, err := distill.DecodeFloats(tk.Values, limit)
			if err != nil {
				t.Fatal(err)
			}
			for j, c := range idx {
				want := float32(lp[(j/3)*5+int(c)])
				round, _ := distill.EncodeFloats(dt, []int64{1}, []float32{want})
				back, _ := distill.DecodeFloats(round, limit)
				if vals[j] != back[0] {
					t.Fatalf("value %d: %v, want %v rounded to %v", j, vals[j], want, back[0])
				}
			}
			p, err := distill.TopKProbs(tk, limit)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, p, 5, 1e-12)
		})
	}
	for _, tc := range []struct {
		name string
		k    int
		dt   taonetv1.DataType
		want error
	}{
		{"ErrDType", 2, taonetv1.DataType_DATA_TYPE_INT64, distill.ErrBadTensor},
		{"ErrUnspecified", 2, taonetv1.DataType_DATA_TYPE_UNSPECIFIED, distill.ErrBadTensor},
		{"ErrKZero", 0, taonetv1.DataType_DATA_TYPE_FLOAT16, nil},
		{"ErrKOverClasses", 6, taonetv1.DataType_DATA_TYPE_FLOAT16, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := distill.TopKFromLogitsAs(l, tc.k, tc.dt)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("ErrLogits", func(t *testing.T) {
		bad := distill.Logits{Classes: 2, Values: []float32{0, float32(math.Inf(1))}}
		if _, err := distill.TopKFromLogitsAs(bad, 1, taonetv1.DataType_DATA_TYPE_FLOAT16); !errors.Is(err, distill.ErrNotFinite) {
			t.Fatalf("got %v, want ErrNotFinite", err)
		}
	})
}

// TestTopKSelection compares the selection with a stable sort of every
// row, on rows full of ties, for k on both sides of the switch from
// insertion to sorting.
func TestTopKSelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const classes = 50
	l := distill.Logits{Classes: classes, Values: make([]float32, 20*classes)}
	for i := range l.Values {
		l.Values[i] = float32(rng.IntN(6))
	}
	for i := range classes { // an ascending row: every class displaces the last
		l.Values[i] = float32(i)
	}
	lp, _ := distill.LogSoftmax(l, 1)
	for _, k := range []int{1, 2, 5, 31, 32, 33, 49, 50} {
		tk, err := distill.TopKFromLogits(l, k)
		if err != nil {
			t.Fatal(err)
		}
		idx, _ := indices(tk, limit)
		for r := range l.Rows() {
			order := make([]int64, classes)
			for c := range order {
				order[c] = int64(c)
			}
			row := lp[r*classes : (r+1)*classes]
			sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
			if got := idx[r*k : (r+1)*k]; !slices.Equal(got, order[:k]) {
				t.Fatalf("k %d row %d: %v, want %v", k, r, got, order[:k])
			}
		}
	}
}

// TestTopKClamp: a log-probability below what the dtype holds is sent as
// its most negative finite value, not -Inf, so that the receiver takes it.
func TestTopKClamp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logits []float32
		dt     taonetv1.DataType
		lowest float32
	}{
		{"OKFloat16", []float32{0, -70000}, taonetv1.DataType_DATA_TYPE_FLOAT16, -65504},
		{"OKBFloat16", []float32{3e38, -3e38}, taonetv1.DataType_DATA_TYPE_BFLOAT16, -0x1.fep127},
		{"OKFloat32", []float32{3e38, -3e38}, taonetv1.DataType_DATA_TYPE_FLOAT32, -math.MaxFloat32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := distill.TopKFromLogitsAs(distill.Logits{Classes: 2, Values: tc.logits}, 2, tc.dt)
			if err != nil {
				t.Fatal(err)
			}
			vals, _ := distill.DecodeFloats(tk.Values, limit)
			if vals[0] != 0 || vals[1] != tc.lowest {
				t.Fatalf("values %v, want [0 %v]", vals, tc.lowest)
			}
			p, err := distill.TopKProbs(tk, limit)
			if err != nil || p[0] != 1 || p[1] != 0 {
				t.Fatalf("%v %v, want [1 0]", p, err)
			}
		})
	}
}

// TestTopKRounding: top-k rows sent in float16 or bfloat16 are taken, for
// any k, however the rounding of their log-probabilities falls, and rebuild
// to distributions near the sender's.
func TestTopKRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range floatTypes {
		t.Run("OK"+dt.String(), func(t *testing.T) {
			for _, classes := range []int{2, 3, 10, 100, 1000} {
				for _, scale := range []float64{0.01, 1, 5, 20} {
					l := distill.Logits{Classes: classes, Values: make([]float32, 8*classes)}
					for i := range l.Values {
						l.Values[i] = float32(rng.NormFloat64() * scale)
					}
					if scale == 0.01 {
						clear(l.Values[:classes]) // a uniform row
					}
					full, _ := distill.Softmax(l, 1)
					for _, k := range []int{1, 2, classes / 2, classes} {
						tk, err := distill.TopKFromLogitsAs(l, max(k, 1), dt)
						if err != nil {
							t.Fatal(err)
						}
						p, err := distill.TopKProbs(tk, limit<<4)
						if err != nil {
							t.Fatalf("%d classes, scale %v, k %d: %v", classes, scale, k, err)
						}
						checkRows(t, p, classes, 1e-9)
						if k == classes {
							for i := range p {
								if math.Abs(p[i]-full[i]) > 0.02 {
									t.Fatalf("%d classes, scale %v: p %v, want %v", classes, scale, p[i], full[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestTopKProbsTolerance(t *testing.T) {
	f16 := taonetv1.DataType_DATA_TYPE_FLOAT16
	bf16 := taonetv1.DataType_DATA_TYPE_BFLOAT16
	f32 := taonetv1.DataType_DATA_TYPE_FLOAT32
	// log(0.5) is -0.693147: float16 holds -0.692871 and -0.693359 on
	// either side. Two of the first keep 1.00028, of the second 0.99958:
	// more than float32 rounding explains, not more than float16's.
	over := distill.Float16ToFloat32(0xb98b)
	under := distill.Float16ToFloat32(0xb98c)
	tiny16 := distill.Float16ToFloat32(17)                                         // 1e-6 in float16
	tiny16Next := distill.Float16ToFloat32(18)                                     // the next one up
	tinyBF16 := distill.BFloat16ToFloat32(distill.Float32ToBFloat16(1e-6))         // 1e-6 in bfloat16
	tinyBF16Next := distill.BFloat16ToFloat32(distill.Float32ToBFloat16(1e-6) + 1) // the next one up
	for _, tc := range []struct {
		name  string
		dt    taonetv1.DataType
		vocab uint32
		vals  []float32
		want  string // "" for success
	}{
		{"OKRenormalisedFloat16", f16, 2, []float32{over, over}, ""},
		{"OKRenormalisedTopFloat16", f16, 3, []float32{over, over}, ""},
		{"ErrMassOverOneFloat32", f32, 2, []float32{over, over}, "> 1"},
		{"ErrMassOverOneFloat16", f16, 3, []float32{-0.625, -0.625}, "> 1"},
		{"ErrMassOverOneZeroFloat16", f16, 3, []float32{0, -8.5}, "> 1"}, // 0 is exact: no slack
		{"ErrMassUnderOneFloat16", f16, 2, []float32{-0.75, -0.75}, "< 1 with every class kept"},
		{"OKUnderOneFloat16", f16, 2, []float32{under, under}, ""},
		{"ErrMassUnderOneFloat32", f32, 2, []float32{under, under}, "< 1 with every class kept"},
		{"ErrMassUnderOne", f32, 2, []float32{-1, -1}, "< 1 with every class kept"},
		{"OKTinyPositiveFloat16", f16, 3, []float32{tiny16, -10}, ""},
		{"ErrPositiveFloat16", f16, 3, []float32{tiny16Next, -10}, "log-probability"},
		{"OKTinyPositiveBFloat16", bf16, 3, []float32{tinyBF16, -10}, ""},
		{"ErrPositiveBFloat16", bf16, 3, []float32{tinyBF16Next, -10}, "log-probability"},
		{"OKTinyPositiveFloat32", f32, 3, []float32{1e-6, -10}, ""},
		{"ErrPositiveFloat32", f32, 3, []float32{1.1e-6, -10}, "log-probability"},
		{"ErrInfFloat16", f16, 3, []float32{float32(math.Inf(-1)), -1}, "log-probability"},
		{"ErrNaNBFloat16", bf16, 3, []float32{float32(math.NaN()), -1}, "log-probability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vt, err := distill.EncodeFloats(tc.dt, []int64{1, 2}, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			if back, _ := distill.DecodeFloats(vt, limit); math.Float32bits(back[0]) != math.Float32bits(tc.vals[0]) {
				t.Fatalf("test value %v is not exact in %v", tc.vals[0], tc.dt)
			}
			it, _ := distill.EncodeInt64([]int64{1, 2}, []int64{0, 1})
			p, err := distill.TopKProbs(&taonetv1.TopK{Vocab: tc.vocab, K: 2, Values: vt, Indices: it}, limit)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, p, int(tc.vocab), 1e-12)
			if (tc.vals[0] == over || tc.vals[0] == under) && (p[0] != 0.5 || p[1] != 0.5) {
				t.Fatalf("%v, want the kept classes scaled to 0.5 each", p)
			}
		})
	}
}

func TestTopKProbsErrors(t *testing.T) {
	vals, _ := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_BFLOAT16, []int64{2, 2}, []float32{-1, -2, -1, -2})
	idx, _ := distill.EncodeInt64([]int64{2, 2}, []int64{0, 1, 1, 0})
	idx3, _ := distill.EncodeInt64([]int64{3}, []int64{0, 1, 2})
	idxF, _ := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, []int64{2, 2}, []float32{0, 1, 1, 0})
	vals3, _ := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT16, []int64{3}, []float32{-1, -2, -3})
	t.Run("OK", func(t *testing.T) {
		p, err := distill.TopKProbs(&taonetv1.TopK{Vocab: 3, K: 2, Values: vals, Indices: idx}, limit)
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, p, 3, 1e-12)
	})
	for _, tc := range []struct {
		name, want string
		tk         *taonetv1.TopK
		limit      uint64
	}{
		{"ErrNil", "k 0", nil, limit},
		{"ErrIndicesDType", "top-k indices", &taonetv1.TopK{Vocab: 3, K: 2, Values: vals, Indices: idxF}, limit},
		{"ErrValuesMissing", "top-k values", &taonetv1.TopK{Vocab: 3, K: 2, Indices: idx}, limit},
		{"ErrCounts", "4 values and 3 indices", &taonetv1.TopK{Vocab: 3, K: 2, Values: vals, Indices: idx3}, limit},
		{"ErrWholeRows", "3 values and 3 indices for k 2", &taonetv1.TopK{Vocab: 3, K: 2, Values: vals3, Indices: idx3}, limit},
		{"ErrResultLimit", "exceed", &taonetv1.TopK{Vocab: 1 << 20, K: 2, Values: vals, Indices: idx}, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := distill.TopKProbs(tc.tk, tc.limit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// indices reads the int32 class indices TopKFromLogitsAs sends, as int64.
func indices(tk *taonetv1.TopK, limit uint64) ([]int64, error) {
	if tk.GetIndices().GetDtype() != taonetv1.DataType_DATA_TYPE_INT32 {
		return nil, fmt.Errorf("indices are %v, want int32", tk.GetIndices().GetDtype())
	}
	v, err := distill.DecodeInt32(tk.GetIndices(), limit)
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out, err
}
