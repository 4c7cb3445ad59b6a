package distill

import (
	"fmt"
	"math"
)

// TeacherGradient is the mutual-learning half of docs/design.md "A round": for
// every teacher j, the gradient of the student's distillation loss
//
//	L = (1 - alpha) * T^2 * sum over rows of KL(p || q)
//	p = sum_j w_j softmax(z_j / T)   (the ensemble; weights renormalised)
//	q = softmax(student / T)
//
// with respect to teacher j's logits z_j, the student held fixed. Row by
// row, with s_j = softmax(z_j / T) and d = log p - log q,
//
//	dL/dz_j = (1 - alpha) * T * w_j * (diag(s_j) - s_j s_j^T) d
//
// (dL/dp_k = c (d_k + 1) with c = (1 - alpha) T^2, ds_j/dz_j =
// (diag(s_j) - s_j s_j^T) / T, and the constant 1 vanishes because each
// row of diag(s) - s s^T sums to 0). L sums over rows: a caller that wants
// the gradient of the row mean divides by the rows. log p is computed as a
// log-sum-exp of log w_j + log s_j, so a probability that underflows gives
// a zero term, not NaN.
//
// The result holds one gradient per teacher, rows*classes float32 values
// in the teachers' layout; a teacher of weight 0 gets zeros. Weights
// follow Ensemble's rules (finite, non-negative, positive sum); every
// teacher and the student must have the same shape; alpha must be in
// [0, 1] and T positive. Non-finite logits of the student or of a
// weighted teacher, and a T that overflows them, are errors (ErrNotFinite).
func TeacherGradient(teachers []Logits, weights []float64, student Logits, alpha, t float64) ([][]float32, error) {
	w, err := normalise(teachers, weights)
	if err != nil {
		return nil, fmt.Errorf("teacher gradient: %w", err)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("teacher gradient: alpha %v not in [0, 1]", alpha)
	}
	if student.Classes != teachers[0].Classes || len(student.Values) != len(teachers[0].Values) {
		return nil, fmt.Errorf("teacher gradient: student has %d values of %d classes, teachers %d of %d",
			len(student.Values), student.Classes, len(teachers[0].Values), teachers[0].Classes)
	}
	logq, err := LogSoftmax(student, t)
	if err != nil {
		return nil, fmt.Errorf("teacher gradient: student: %w", err)
	}
	logs := make([][]float64, len(teachers))
	for j, z := range teachers {
		if w[j] == 0 {
			continue
		}
		if logs[j], err = LogSoftmax(z, t); err != nil {
			return nil, fmt.Errorf("teacher gradient: teacher %d: %w", j, err)
		}
	}
	classes := student.Classes
	out := make([][]float32, len(teachers))
	for j := range out {
		out[j] = make([]float32, len(student.Values))
	}
	c := (1 - alpha) * t
	d := make([]float64, classes)
	terms := make([]float64, 0, len(teachers))
	for r := range student.Rows() {
		row := r * classes
		for k := range classes {
			terms = terms[:0]
			for j := range teachers {
				if w[j] > 0 {
					terms = append(terms, math.Log(w[j])+logs[j][row+k])
				}
			}
			d[k] = logSumExp(terms) - logq[row+k]
		}
		for j := range teachers {
			if w[j] == 0 {
				continue
			}
			dot := 0.0
			for k := range classes {
				dot += math.Exp(logs[j][row+k]) * d[k]
			}
			for k := range classes {
				out[j][row+k] = float32(c * w[j] * math.Exp(logs[j][row+k]) * (d[k] - dot))
			}
		}
	}
	return out, nil
}

// normalise checks teachers and weights as Ensemble does and returns the
// weights divided by their sum.
func normalise(teachers []Logits, weights []float64) ([]float64, error) {
	if len(teachers) == 0 || len(teachers) != len(weights) {
		return nil, fmt.Errorf("%d teachers, %d weights", len(teachers), len(weights))
	}
	total := 0.0
	for j, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight %d is %v", j, w)
		}
		total += w
	}
	if !(total > 0) {
		return nil, fmt.Errorf("weights sum to 0")
	}
	shape := teachers[0]
	out := make([]float64, len(weights))
	for j, z := range teachers {
		if z.Classes != shape.Classes || len(z.Values) != len(shape.Values) {
			return nil, fmt.Errorf("teacher %d has %d values of %d classes, teacher 0 %d of %d", j, len(z.Values), z.Classes, len(shape.Values), shape.Classes)
		}
		out[j] = weights[j] / total
	}
	return out, nil
}

// logSumExp is log(sum exp(x)) of a non-empty x, stable for large values.
func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}
