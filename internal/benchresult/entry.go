// Package benchresult is the figure every bench command writes to
// results/*.json: a value against a baseline measured in the same run,
// with the spread over the repetitions.
package benchresult

import "slices"

// Entry is one figure: medians over the repetitions of value and
// baseline, their ratio, and the spread of value and of the ratios paired
// by repetition.
type Entry struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	// Min and Max are the spread of Value over the repetitions; RatioMin
	// and RatioMax that of the ratio taken within each repetition.
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
}

// NewEntry is value against baseline, one figure per repetition on each
// side. A zero in baseline leaves the ratios 0 (JSON has no NaN or Inf).
func NewEntry(name, unit string, value, baseline []float64) Entry {
	vMin, vMed, vMax := spread(value)
	_, bMed, _ := spread(baseline)
	e := Entry{Name: name, Value: round3(vMed), Unit: unit, Baseline: round3(bMed), Min: round3(vMin), Max: round3(vMax)}
	if slices.Contains(baseline, 0) {
		return e
	}
	r := make([]float64, len(value))
	for i := range value {
		r[i] = value[i] / baseline[i]
	}
	rMin, _, rMax := spread(r)
	e.Ratio, e.RatioMin, e.RatioMax = round3(vMed/bMed), round3(rMin), round3(rMax)
	return e
}

// spread is the min, median and max of v.
func spread(v []float64) (lo, med, hi float64) {
	st := StatOf(v)
	return st.Min, st.Median, st.Max
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
