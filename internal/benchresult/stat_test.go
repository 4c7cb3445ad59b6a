package benchresult

import (
	"slices"
	"testing"
)

func TestStatOf(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want Stat
	}{
		{[]float64{9, 1, 4}, Stat{Min: 1, Median: 4, Max: 9}},
		{[]float64{4, 1, 9, 2}, Stat{Min: 1, Median: 3, Max: 9}},
		{[]float64{7}, Stat{Min: 7, Median: 7, Max: 7}},
	} {
		in := slices.Clone(tt.in)
		if got := StatOf(in); got != tt.want {
			t.Errorf("StatOf(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("StatOf reordered its input: %v", in)
		}
	}
}
