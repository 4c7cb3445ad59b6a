package main

import (
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// The fmnist task's shape, which the fake models' cards must fit.
const (
	classes  = 10
	side     = 28
	features = side * side
)

// validationSize is the operator's pool: as large as the Fashion-MNIST
// validation pool (the first half of the test split), so that drawing a
// round's sample costs what it costs in the demo.
const validationSize = 5000

// hintShare is the share of validation images whose hint pixel shows their
// true class; the others show a wrong one, so the fake models are right
// about this often, like a fair Fashion-MNIST model.
const hintShare = 0.85

// writeValidation writes a synthetic labeled pool into dir, the two IDX
// files coordinator.LoadValidation reads. Pixels are random below 200;
// among the first ten pixels of an image, the one of its hinted class is
// 255, which the fake models read as their prediction.
func writeValidation(dir string) error {
	rng := rand.New(rand.NewPCG(1, 2))
	d := &distill.Dataset{Rows: side, Cols: side, Classes: classes,
		Pixels: make([]byte, validationSize*features), Labels: make([]byte, validationSize)}
	for i := range validationSize {
		y := rng.IntN(classes)
		hint := y
		if rng.Float64() >= hintShare {
			hint = (y + 1 + rng.IntN(classes-1)) % classes
		}
		px := d.Pixels[i*features : (i+1)*features]
		for j := range px {
			px[j] = byte(rng.IntN(200))
		}
		px[hint] = 255
		d.Labels[i] = byte(y)
	}
	return distill.WriteIDX(d, filepath.Join(dir, coordinator.ValidationImages), filepath.Join(dir, coordinator.ValidationLabels))
}

// phases records when the fake models of one network were first called and
// last answered, so that a round's time splits into the coordinator's
// work before the evaluation, the evaluation itself and what follows it.
// Rounds run one at a time, so one record serves the whole network.
type phases struct {
	base       time.Time
	first, end atomic.Int64 // nanoseconds since base; first 0 until a call
}

func newPhases() *phases { return &phases{base: time.Now()} }

// reset forgets the last round.
func (p *phases) reset() {
	p.first.Store(0)
	p.end.Store(0)
}

// called notes a Forward call that began at start and ended now.
func (p *phases) called(start time.Time) {
	s, e := int64(start.Sub(p.base)), int64(time.Since(p.base))
	for {
		old := p.first.Load()
		if (old != 0 && old <= s) || p.first.CompareAndSwap(old, s) {
			break
		}
	}
	for {
		old := p.end.Load()
		if old >= e || p.end.CompareAndSwap(old, e) {
			break
		}
	}
}

// span returns the first call's start and the last answer's end; ok is
// false when no model was called.
func (p *phases) span() (first, end time.Time, ok bool) {
	f, e := p.first.Load(), p.end.Load()
	if f == 0 {
		return time.Time{}, time.Time{}, false
	}
	return p.base.Add(time.Duration(f)), p.base.Add(time.Duration(e)), true
}

// fakeModel answers at once: each row's prediction is the hint pixel of
// its image (the largest of its first ten values), and its logits are the
// model's preset row for that prediction. Every model has its own
// confidence and noise, so no two answers are near-identical and every
// peer is scored and paid, as in a network of distinct models.
type fakeModel struct {
	card   *taonetv1.ModelCard
	table  [classes][classes]float32 // logits by predicted class
	phases *phases
}

var _ peer.Model = (*fakeModel)(nil)

// newFakeModel returns the i-th of n fake models.
func newFakeModel(i, n int, ph *phases) *fakeModel {
	m := &fakeModel{phases: ph, card: &taonetv1.ModelCard{Task: "fmnist", Architecture: "mlp",
		InputShape: []int64{1, side, side}, Classes: classes, Device: "cpu", Parameters: 235146}}
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	confidence := 2 + 3*float32(i)/float32(max(n, 1))
	for c := range classes {
		for j := range classes {
			m.table[c][j] = 0.5 * rng.Float32()
		}
		m.table[c][c] = confidence
	}
	return m
}

// Card is the same card every time; nobody changes it.
func (m *fakeModel) Card() *taonetv1.ModelCard { return m.card }

// Forward returns rows*classes logits.
func (m *fakeModel) Forward(x []float32) ([]float32, error) {
	start := time.Now()
	rows := len(x) / features
	out := make([]float32, rows*classes)
	for r := range rows {
		hint := x[r*features : r*features+classes]
		best := 0
		for c, v := range hint {
			if v > hint[best] {
				best = c
			}
		}
		copy(out[r*classes:(r+1)*classes], m.table[best][:])
	}
	m.phases.called(start)
	return out, nil
}

// Apply takes no step.
func (m *fakeModel) Apply(x, grad []float32) error { return nil }
