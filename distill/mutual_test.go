package distill_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
)

// kdLoss is (1 - alpha) * T^2 * sum over rows of KL(p || q), written apart
// from the package in float64 for the finite-difference check.
func kdLoss(teachers [][]float64, w []float64, student []float64, classes int, alpha, temp float64) float64 {
	softmax := func(z []float64) []float64 {
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v/temp)
		}
		s, out := 0.0, make([]float64, len(z))
		for i, v := range z {
			out[i] = math.Exp(v/temp - m)
			s += out[i]
		}
		for i := range out {
			out[i] /= s
		}
		return out
	}
	total := 0.0
	for _, v := range w {
		total += v
	}
	loss := 0.0
	for r := 0; r < len(student)/classes; r++ {
		p := make([]float64, classes)
		for j, z := range teachers {
			s := softmax(z[r*classes : (r+1)*classes])
			for k := range p {
				p[k] += w[j] / total * s[k]
			}
		}
		q := softmax(student[r*classes : (r+1)*classes])
		for k := range p {
			loss += p[k] * (math.Log(p[k]) - math.Log(q[k]))
		}
	}
	return (1 - alpha) * temp * temp * loss
}

func randomLogits(rng *rand.Rand, n int, scale float64) []float64 {
	z := make([]float64, n)
	for i := range z {
		z[i] = rng.NormFloat64() * scale
	}
	return z
}

func toLogits(classes int, z []float64) distill.Logits {
	v := make([]float32, len(z))
	for i, x := range z {
		v[i] = float32(x)
	}
	return distill.Logits{Classes: classes, Values: v}
}

func TestTeacherGradient(t *testing.T) {
	const rows, classes = 4, 5
	rng := rand.New(rand.NewPCG(1, 2))
	// float32 logits, kept in float64 exactly, so the reference sees what
	// the package sees.
	round32 := func(z []float64) []float64 {
		for i := range z {
			z[i] = float64(float32(z[i]))
		}
		return z
	}
	teachers := [][]float64{round32(randomLogits(rng, rows*classes, 2)), round32(randomLogits(rng, rows*classes, 2)), round32(randomLogits(rng, rows*classes, 2))}
	student := round32(randomLogits(rng, rows*classes, 2))
	weights := []float64{2, 1, 1} // renormalised to 0.5, 0.25, 0.25
	logits := func() []distill.Logits {
		var out []distill.Logits
		for _, z := range teachers {
			out = append(out, toLogits(classes, z))
		}
		return out
	}

	for _, c := range []struct {
		name        string
		alpha, temp float64
	}{{"OKFiniteDifferencesT2", 0.5, 2}, {"OKFiniteDifferencesT1", 0.2, 1}, {"OKFiniteDifferencesT4", 0, 4}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := distill.TeacherGradient(logits(), weights, toLogits(classes, student), c.alpha, c.temp)
			if err != nil {
				t.Fatal(err)
			}
			const h = 1e-5
			for j := range teachers {
				for i := range teachers[j] {
					orig := teachers[j][i]
					teachers[j][i] = orig + h
					up := kdLoss(teachers, weights, student, classes, c.alpha, c.temp)
					teachers[j][i] = orig - h
					down := kdLoss(teachers, weights, student, classes, c.alpha, c.temp)
					teachers[j][i] = orig
					want := (up - down) / (2 * h)
					if d := math.Abs(float64(got[j][i]) - want); d > 1e-5+1e-4*math.Abs(want) {
						t.Fatalf("teacher %d value %d: got %v, finite differences %v", j, i, got[j][i], want)
					}
				}
			}
		})
	}
	t.Run("OKRowsSumToZero", func(t *testing.T) {
		// Adding a constant to a row of logits changes nothing.
		got, err := distill.TeacherGradient(logits(), weights, toLogits(classes, student), 0.5, 2)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			for r := range rows {
				s := 0.0
				for _, v := range got[j][r*classes : (r+1)*classes] {
					s += float64(v)
				}
				if math.Abs(s) > 1e-6 {
					t.Fatalf("teacher %d row %d sums to %v", j, r, s)
				}
			}
		}
	})
	t.Run("OKZeroWeightGetsZeros", func(t *testing.T) {
		got, err := distill.TeacherGradient(logits(), []float64{1, 0, 3}, toLogits(classes, student), 0.5, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got[1] {
			if v != 0 {
				t.Fatalf("value %d of the zero-weight teacher is %v", i, v)
			}
		}
		nonzero := false
		for _, v := range got[0] {
			nonzero = nonzero || v != 0
		}
		if !nonzero {
			t.Fatal("a weighted teacher got an all-zero gradient")
		}
	})
	t.Run("OKStudentAgreesNoGradient", func(t *testing.T) {
		// One teacher whose distribution the student matches: KL is at its
		// minimum, the gradient is 0.
		got, err := distill.TeacherGradient([]distill.Logits{toLogits(classes, student)}, []float64{1}, toLogits(classes, student), 0.5, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got[0] {
			if math.Abs(float64(v)) > 1e-7 {
				t.Fatalf("value %d is %v, want 0", i, v)
			}
		}
	})
	t.Run("OKAlphaOneNoGradient", func(t *testing.T) {
		got, err := distill.TeacherGradient(logits(), weights, toLogits(classes, student), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			for i, v := range got[j] {
				if v != 0 {
					t.Fatalf("teacher %d value %d is %v with alpha 1", j, i, v)
				}
			}
		}
	})
	t.Run("OKLargeLogitsFinite", func(t *testing.T) {
		big := distill.Logits{Classes: 3, Values: []float32{1e4, -1e4, 0, -3e4, 3e4, 0}}
		other := distill.Logits{Classes: 3, Values: []float32{-1e4, 1e4, 0, 0, 0, 3e4}}
		got, err := distill.TeacherGradient([]distill.Logits{big, other}, []float64{1, 1}, other, 0.5, 1)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			for i, v := range got[j] {
				if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
					t.Fatalf("teacher %d value %d is %v", j, i, v)
				}
			}
		}
	})

	ok := toLogits(classes, student)
	nan := toLogits(classes, student)
	nan.Values[3] = float32(math.NaN())
	for _, c := range []struct {
		name     string
		teachers []distill.Logits
		weights  []float64
		student  distill.Logits
		alpha    float64
		temp     float64
		part     string
		is       error
	}{
		{"ErrNoTeachers", nil, nil, ok, 0.5, 2, "0 teachers", nil},
		{"ErrWeightCount", []distill.Logits{ok}, []float64{1, 1}, ok, 0.5, 2, "2 weights", nil},
		{"ErrNegativeWeight", []distill.Logits{ok}, []float64{-1}, ok, 0.5, 2, "weight 0 is -1", nil},
		{"ErrZeroWeights", []distill.Logits{ok}, []float64{0}, ok, 0.5, 2, "sum to 0", nil},
		{"ErrStudentShape", []distill.Logits{ok}, []float64{1}, distill.Logits{Classes: classes, Values: ok.Values[:classes]}, 0.5, 2, "student has 5 values", nil},
		{"ErrTeacherShape", []distill.Logits{ok, {Classes: 4, Values: ok.Values}}, []float64{1, 1}, ok, 0.5, 2, "teacher 1 has", nil},
		{"ErrAlpha", []distill.Logits{ok}, []float64{1}, ok, 1.5, 2, "alpha 1.5", nil},
		{"ErrTemperature", []distill.Logits{ok}, []float64{1}, ok, 0.5, 0, "temperature 0", nil},
		{"ErrTeacherNaN", []distill.Logits{nan}, []float64{1}, ok, 0.5, 2, "teacher 0", distill.ErrNotFinite},
		{"ErrStudentNaN", []distill.Logits{ok}, []float64{1}, nan, 0.5, 2, "student", distill.ErrNotFinite},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := distill.TeacherGradient(c.teachers, c.weights, c.student, c.alpha, c.temp)
			if err == nil || !strings.Contains(err.Error(), c.part) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("err = %v, want one naming %q", err, c.part)
			}
		})
	}
}
