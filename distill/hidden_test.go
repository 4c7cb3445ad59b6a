package distill_test

import (
	"math"
	"testing"

	"github.com/taonet/taonet/distill"
)

func TestHiddenCheckLimit(t *testing.T) {
	u := math.Log(10)
	for _, tc := range []struct {
		name   string
		losses []float64
		want   float64
	}{
		// No teacher answered: uniform guessing is its own median.
		{"none", nil, 3 * u},
		// Good teachers: the median is uniform guessing's, the lower middle of four.
		{"good", []float64{0.3, 0.4, 0.5}, 0.4 + 2*u},
		// Honest non-IID teachers far above uniform: the limit follows them.
		{"non-iid", []float64{6, 7, 8, 9}, 7 + 2*u},
		// A lone poisoner is measured against uniform guessing, not itself.
		{"lone poisoner", []float64{40}, u + 2*u},
	} {
		if got := distill.HiddenCheckLimit(tc.losses, 10); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: limit %v, want %v", tc.name, got, tc.want)
		}
	}
	losses := []float64{9, 1, 5}
	distill.HiddenCheckLimit(losses, 10)
	if losses[0] != 9 || losses[1] != 1 {
		t.Error("HiddenCheckLimit reordered its argument")
	}
}
