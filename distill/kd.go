package distill

import (
	"errors"
	"fmt"
	"math"
)

// ErrNotFinite reports a NaN or infinite value where numbers must be finite.
var ErrNotFinite = errors.New("value is not finite")

// Logits is a batch of model outputs: Rows()*Classes values, row-major.
type Logits struct {
	Classes int
	Values  []float32
}

// Rows is the number of rows of l (0 when Classes is not positive).
func (l Logits) Rows() int {
	if l.Classes <= 0 {
		return 0
	}
	return len(l.Values) / l.Classes
}

// Check refuses ragged or empty logits and NaN or infinite values.
func (l Logits) Check() error {
	if l.Classes < 2 {
		return fmt.Errorf("logits: %d classes", l.Classes)
	}
	if len(l.Values) == 0 || len(l.Values)%l.Classes != 0 {
		return fmt.Errorf("logits: %d values are not whole rows of %d classes", len(l.Values), l.Classes)
	}
	if i := firstNotFinite(l.Values); i >= 0 {
		return fmt.Errorf("logits: row %d class %d: %w (%v)", i/l.Classes, i%l.Classes, ErrNotFinite, l.Values[i])
	}
	return nil
}

// firstNotFinite is the index of the first NaN or infinite value of v, or
// -1. It tests the exponent bits (all ones for NaN and infinities), which
// is several times faster than converting every value: servers run it on
// every answer they send.
func firstNotFinite(v []float32) int {
	for i, f := range v {
		if math.Float32bits(f)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// row writes row r as float64 divided by temperature t into dst. A
// temperature so small that a logit overflows is an error (ErrNotFinite).
func (l Logits) row(r int, t float64, dst []float64) error {
	for c, v := range l.Values[r*l.Classes : (r+1)*l.Classes] {
		dst[c] = float64(v) / t
		if math.IsInf(dst[c], 0) {
			return fmt.Errorf("logits: row %d class %d: %w: %v / temperature %v overflows", r, c, ErrNotFinite, v, t)
		}
	}
	return nil
}

// logSoftmaxRow replaces z by log softmax(z), subtracting the maximum first
// so that large logits do not overflow.
func logSoftmaxRow(z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	for c := range z {
		z[c] -= lse
	}
}

// LogSoftmax returns log softmax(l / t) row by row (t = 1 for plain
// log-probabilities). It is stable for large logits and refuses NaN or
// infinite logits, and a temperature so small that l / t overflows.
func LogSoftmax(l Logits, t float64) ([]float64, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	if !(t > 0) || math.IsInf(t, 0) {
		return nil, fmt.Errorf("log-softmax: temperature %v is not positive", t)
	}
	out := make([]float64, len(l.Values))
	for r := range l.Rows() {
		z := out[r*l.Classes : (r+1)*l.Classes]
		if err := l.row(r, t, z); err != nil {
			return nil, err
		}
		logSoftmaxRow(z)
	}
	return out, nil
}

// Softmax returns softmax(l / t) row by row.
func Softmax(l Logits, t float64) ([]float64, error) {
	p, err := LogSoftmax(l, t)
	if err != nil {
		return nil, err
	}
	for i, v := range p {
		p[i] = math.Exp(v)
	}
	return p, nil
}

// CrossEntropy is the mean over rows of -log softmax(l)[label].
func CrossEntropy(l Logits, labels []int64) (float64, error) {
	lp, err := LogSoftmax(l, 1)
	if err != nil {
		return 0, err
	}
	if err := checkLabels(labels, l.Rows(), l.Classes); err != nil {
		return 0, err
	}
	sum := 0.0
	for r, y := range labels {
		sum -= lp[r*l.Classes+int(y)]
	}
	return sum / float64(len(labels)), nil
}

// Accuracy is the fraction of rows whose largest logit is the label's
// (ties go to the lowest class).
func Accuracy(l Logits, labels []int64) (float64, error) {
	if err := l.Check(); err != nil {
		return 0, err
	}
	if err := checkLabels(labels, l.Rows(), l.Classes); err != nil {
		return 0, err
	}
	hit := 0
	for r, y := range labels {
		row := l.Values[r*l.Classes : (r+1)*l.Classes]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		if best == int(y) {
			hit++
		}
	}
	return float64(hit) / float64(len(labels)), nil
}

func checkLabels(labels []int64, rows, classes int) error {
	if len(labels) != rows {
		return fmt.Errorf("labels: %d labels for %d rows", len(labels), rows)
	}
	for i, y := range labels {
		if y < 0 || y >= int64(classes) {
			return fmt.Errorf("labels: label %d is %d, not in [0, %d)", i, y, classes)
		}
	}
	return nil
}

// Ensemble is the teacher distribution sum_j w_j * softmax(z_j / t) of
// docs/design.md "A round": weights must be finite and non-negative with a
// positive sum and are renormalised to sum to 1; every teacher must have
// the same shape. The result is float32 rows summing to 1.
func Ensemble(teachers []Logits, weights []float64, t float64) ([]float32, error) {
	if len(teachers) == 0 || len(teachers) != len(weights) {
		return nil, fmt.Errorf("ensemble: %d teachers, %d weights", len(teachers), len(weights))
	}
	total := 0.0
	for j, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("ensemble: weight %d is %v", j, w)
		}
		total += w
	}
	if !(total > 0) {
		return nil, errors.New("ensemble: weights sum to 0")
	}
	shape := teachers[0]
	acc := make([]float64, len(shape.Values))
	for j, z := range teachers {
		if z.Classes != shape.Classes || len(z.Values) != len(shape.Values) {
			return nil, fmt.Errorf("ensemble: teacher %d has %d values of %d classes, teacher 0 %d of %d", j, len(z.Values), z.Classes, len(shape.Values), shape.Classes)
		}
		if weights[j] == 0 {
			continue
		}
		p, err := Softmax(z, t)
		if err != nil {
			return nil, fmt.Errorf("ensemble: teacher %d: %w", j, err)
		}
		w := weights[j] / total
		for i, v := range p {
			acc[i] += w * v
		}
	}
	out := make([]float32, len(acc))
	for i, v := range acc {
		out[i] = float32(v)
	}
	return out, nil
}
