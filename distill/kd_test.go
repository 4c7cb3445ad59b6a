package distill_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
)

func TestSoftmax(t *testing.T) {
	t.Run("OK/large-logits", func(t *testing.T) {
		l := distill.Logits{Classes: 3, Values: []float32{1e4, 1e4 - 1, -1e4, -3e38, 3e38, 0}}
		p, err := distill.Softmax(l, 1)
		if err != nil {
			t.Fatal(err)
		}
		e := math.Exp(-1)
		want := []float64{1 / (1 + e), e / (1 + e), 0, 0, 1, 0}
		for i := range p {
			if math.Abs(p[i]-want[i]) > 1e-12 {
				t.Errorf("p[%d] = %v, want %v", i, p[i], want[i])
			}
		}
		lp, _ := distill.LogSoftmax(l, 1)
		if math.IsNaN(lp[2]) || lp[2] > -1e4 || math.IsInf(lp[0], 0) {
			t.Errorf("log-softmax %v", lp)
		}
	})
	t.Run("OK/temperature", func(t *testing.T) {
		l := distill.Logits{Classes: 2, Values: []float32{2, 0}}
		p, _ := distill.Softmax(l, 2)
		if want := 1 / (1 + math.Exp(-1)); math.Abs(p[0]-want) > 1e-12 {
			t.Fatalf("p %v want %v", p, want)
		}
	})
	for _, tc := range []struct {
		name string
		l    distill.Logits
		temp float64
	}{
		{"ErrNaN", distill.Logits{Classes: 2, Values: []float32{0, float32(math.NaN())}}, 1},
		{"ErrInf", distill.Logits{Classes: 2, Values: []float32{float32(math.Inf(1)), 0}}, 1},
		{"ErrRagged", distill.Logits{Classes: 2, Values: []float32{0, 1, 2}}, 1},
		{"ErrOneClass", distill.Logits{Classes: 1, Values: []float32{0}}, 1},
		{"ErrTemperature", distill.Logits{Classes: 2, Values: []float32{0, 1}}, 0},
		{"ErrTemperatureOverflows", distill.Logits{Classes: 2, Values: []float32{3e38, 1}}, 1e-300},
		{"ErrNoClasses", distill.Logits{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.Softmax(tc.l, tc.temp); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("OK/RowsOfNoClasses", func(t *testing.T) {
		if n := (distill.Logits{Values: []float32{1}}).Rows(); n != 0 {
			t.Fatalf("rows = %d", n)
		}
	})
	t.Run("ErrNaNIsErrNotFinite", func(t *testing.T) {
		_, err := distill.LogSoftmax(distill.Logits{Classes: 2, Values: []float32{0, float32(math.NaN())}}, 1)
		if !errors.Is(err, distill.ErrNotFinite) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCrossEntropyAccuracy(t *testing.T) {
	l := distill.Logits{Classes: 10, Values: make([]float32, 20)}
	l.Values[3] = 5     // row 0 predicts 3
	l.Values[10+7] = 50 // row 1 predicts 7
	t.Run("OK", func(t *testing.T) {
		ce, err := distill.CrossEntropy(l, []int64{3, 2})
		if err != nil {
			t.Fatal(err)
		}
		row0 := -(5 - math.Log(9+math.Exp(5)))
		row1 := -(0 - (50 + math.Log(1+9*math.Exp(-50))))
		if want := (row0 + row1) / 2; math.Abs(ce-want) > 1e-9 {
			t.Fatalf("ce %v want %v", ce, want)
		}
		acc, _ := distill.Accuracy(l, []int64{3, 2})
		if acc != 0.5 {
			t.Fatalf("accuracy %v", acc)
		}
		uniform := distill.Logits{Classes: 10, Values: make([]float32, 10)}
		if ce, _ := distill.CrossEntropy(uniform, []int64{4}); math.Abs(ce-math.Log(10)) > 1e-12 {
			t.Fatalf("uniform ce %v, want ln 10", ce)
		}
	})
	for _, tc := range []struct {
		name, want string
		labels     []int64
	}{{"ErrLabelCount", "1 labels for 2 rows", []int64{1}}, {"ErrLabelRange", "label 1 is 10", []int64{1, 10}}, {"ErrNegative", "label 0 is -1", []int64{-1, 0}}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err1 := distill.CrossEntropy(l, tc.labels)
			_, err2 := distill.Accuracy(l, tc.labels)
			for _, err := range []error{err1, err2} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
			}
		})
	}
}

func TestEnsemble(t *testing.T) {
	a := distill.Logits{Classes: 3, Values: []float32{3, 0, 0, 0, 0, 9}}
	b := distill.Logits{Classes: 3, Values: []float32{0, 2, 0, 1, 1, 1}}
	t.Run("OK", func(t *testing.T) {
		got, err := distill.Ensemble([]distill.Logits{a, b}, []float64{3, 1}, 2)
		if err != nil {
			t.Fatal(err)
		}
		pa, _ := distill.Softmax(a, 2)
		pb, _ := distill.Softmax(b, 2)
		for i := range got {
			if want := 0.75*pa[i] + 0.25*pb[i]; math.Abs(float64(got[i])-want) > 1e-6 {
				t.Errorf("p[%d] = %v, want %v", i, got[i], want)
			}
		}
		one, _ := distill.Ensemble([]distill.Logits{a, b}, []float64{5, 0}, 2)
		for i := range one {
			if math.Abs(float64(one[i])-pa[i]) > 1e-6 {
				t.Fatalf("a zero weight still counts: %v vs %v", one, pa)
			}
		}
	})
	nan := distill.Logits{Classes: 3, Values: []float32{0, 0, float32(math.NaN()), 0, 0, 0}}
	short := distill.Logits{Classes: 3, Values: []float32{0, 0, 0}}
	for _, tc := range []struct {
		name     string
		teachers []distill.Logits
		weights  []float64
	}{
		{"ErrNone", nil, nil},
		{"ErrWeightCount", []distill.Logits{a, b}, []float64{1}},
		{"ErrNegativeWeight", []distill.Logits{a, b}, []float64{1, -1}},
		{"ErrNaNWeight", []distill.Logits{a, b}, []float64{1, math.NaN()}},
		{"ErrZeroWeights", []distill.Logits{a, b}, []float64{0, 0}},
		{"ErrShape", []distill.Logits{a, short}, []float64{1, 1}},
		{"ErrNaNLogits", []distill.Logits{a, nan}, []float64{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.Ensemble(tc.teachers, tc.weights, 1); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
