package torch_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

// tinyDataset is n 28x28 images of random bytes whose label is the
// brightness class of the first pixel, so that a model can learn it.
func tinyDataset(n int) *distill.Dataset {
	d := &distill.Dataset{Rows: 28, Cols: 28, Classes: 10, Pixels: make([]byte, n*784), Labels: make([]byte, n)}
	s := uint32(1)
	for i := range d.Pixels {
		s = s*1664525 + 1013904223
		d.Pixels[i] = byte(s >> 24)
	}
	for i := range n {
		d.Labels[i] = d.Pixels[i*784] / 26
	}
	return d
}

func span(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// TestFitMatchesSteps checks that Fit trains as TrainStep does on the
// batches Dataset.Fill writes, at the cosine rate FitConfig documents:
// Fit fills its batches by table and changes the rate within the step. One
// batch holds every example, so the order Fit draws changes only the order
// of the rows (and the rounding of the mean loss).
func TestFitMatchesSteps(t *testing.T) {
	d := tinyDataset(40)
	idx := span(d.Len())
	cfg := torch.FitConfig{Epochs: 3, Batch: len(idx), Seed: 4, LR: 0.05}
	fit, hand := mustModel(t, torch.ArchMLP, 2), mustModel(t, torch.ArchMLP, 2)
	mustSGD(t, fit, 1)
	mustSGD(t, hand, 1)
	stats, err := torch.Fit(context.Background(), fit, d, idx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != cfg.Epochs || stats[0].Steps != 1 {
		t.Fatalf("stats %+v, want %d epochs of 1 step", stats, cfg.Epochs)
	}
	x, y := make([]float32, len(idx)*784), make([]int64, len(idx))
	d.Fill(idx, x, y)
	for e := range cfg.Epochs {
		lr := cfg.LR * 0.5 * (1 + math.Cos(math.Pi*float64(e)/float64(cfg.Epochs)))
		if err := hand.SetLR(lr); err != nil {
			t.Fatal(err)
		}
		if _, err := hand.TrainStep(torch.Step{X: x, Labels: y, Alpha: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if dd := maxDiff(mustParams(t, fit), mustParams(t, hand)); dd > 1e-6 {
		t.Fatalf("Fit and the same steps by hand differ by %g", dd)
	}
	start := mustParams(t, mustModel(t, torch.ArchMLP, 2))
	if dd := maxDiff(start, mustParams(t, hand)); dd < 1e-4 {
		t.Fatalf("the steps moved the parameters by only %g", dd)
	}
}

func TestFitBadData(t *testing.T) {
	m := mustModel(t, torch.ArchMLP, 1)
	cfg := torch.FitConfig{Epochs: 1, Batch: 8}
	for _, tc := range []struct {
		name, want string
		d          *distill.Dataset
		idx        []int
	}{
		{"ErrLabelRange", "label 12, not below the model's 10 classes", func() *distill.Dataset {
			d := tinyDataset(10)
			d.Labels[3] = 12
			return d
		}(), span(10)},
		{"ErrIndex", "example 10 is not in the data set", tinyDataset(10), []int{0, 10}},
		{"ErrNoExamples", "no examples", tinyDataset(10), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustParams(t, m)
			_, err := torch.Fit(context.Background(), m, tc.d, tc.idx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if dd := maxDiff(before, mustParams(t, m)); dd != 0 {
				t.Fatalf("a refused fit changed the model by %g", dd)
			}
		})
	}
}
