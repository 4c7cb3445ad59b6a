package torch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/taonet/taonet/distill"
)

// FitConfig configures Fit.
type FitConfig struct {
	Epochs int     // passes over the examples, >= 1
	Batch  int     // examples per step, >= 1 (the last batch may be smaller)
	Seed   uint64  // order of the examples
	Clip   float64 // gradient-norm clip; 0 means none
	// LR, when positive, is the peak learning rate of a cosine schedule
	// that decays it to 0 over the whole run; 0 keeps the optimizer's rate.
	LR float64
	// Progress, when set, is called after every step with the 1-based step
	// number of the epoch, the epoch's step count and the step's loss.
	Progress func(epoch, step, steps int, loss float32)
	// OnEpoch, when set, is called at the end of every epoch.
	OnEpoch func(EpochStats)
}

// Validate checks the configuration and names the bad value.
func (c FitConfig) Validate() error {
	if c.Epochs < 1 {
		return fmt.Errorf("epochs %d: want at least 1", c.Epochs)
	}
	if c.Batch < 1 {
		return fmt.Errorf("batch %d: want at least 1", c.Batch)
	}
	if c.LR < 0 || math.IsNaN(c.LR) {
		return fmt.Errorf("learning rate %v is negative", c.LR)
	}
	if c.Clip < 0 {
		return fmt.Errorf("clip %v is negative", c.Clip)
	}
	return nil
}

// EpochStats summarises one epoch of Fit.
type EpochStats struct {
	Epoch    int           // 1-based
	Steps    int           // optimizer steps taken
	Loss     float64       // mean training loss over the steps
	Duration time.Duration // wall time of the epoch
}

// Fit trains m with cross-entropy on the examples idx of d, shuffled each
// epoch from cfg.Seed. It stops with ctx's error between steps.
func Fit(ctx context.Context, m *Model, d *distill.Dataset, idx []int, cfg FitConfig) ([]EpochStats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("fit: no examples")
	}
	if d.Features() != m.InFeatures() {
		return nil, fmt.Errorf("fit: examples have %d features, model %s wants %d", d.Features(), m.Arch(), m.InFeatures())
	}
	b, err := newBatcher(d, idx, m.Classes())
	if err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	order := append([]int(nil), idx...)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7a0e7))
	x := make([]float32, cfg.Batch*d.Features())
	y := make([]int64, cfg.Batch)
	steps := (len(order) + cfg.Batch - 1) / cfg.Batch
	var stats []EpochStats
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		start := time.Now()
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		sum := 0.0
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			step := Step{Alpha: 1, Clip: cfg.Clip}
			if cfg.LR > 0 {
				done := float64((epoch-1)*steps+s) / float64(cfg.Epochs*steps)
				step.LR = cfg.LR * 0.5 * (1 + math.Cos(math.Pi*done))
			}
			part := order[s*cfg.Batch : min((s+1)*cfg.Batch, len(order))]
			step.X, step.Labels = x[:len(part)*d.Features()], y[:len(part)]
			st, err := m.trainStep(step, func() { b.fill(part, step.X, step.Labels) })
			if err != nil {
				return stats, fmt.Errorf("fit: epoch %d step %d: %w", epoch, s+1, err)
			}
			sum += float64(st.Loss)
			if cfg.Progress != nil {
				cfg.Progress(epoch, s+1, steps, st.Loss)
			}
		}
		es := EpochStats{Epoch: epoch, Steps: steps, Loss: sum / float64(steps), Duration: time.Since(start)}
		stats = append(stats, es)
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(es)
		}
	}
	return stats, nil
}

// Eval is the quality of a model on a labeled pool.
type Eval struct {
	Examples int
	Accuracy float64 // fraction of correct top-1 predictions
	Loss     float64 // mean cross-entropy
}

// Evaluate runs m on the examples idx of d in batches of batch rows and
// scores the logits with the pure-Go math of package distill.
func Evaluate(m *Model, d *distill.Dataset, idx []int, batch int) (Eval, error) {
	if len(idx) == 0 || batch < 1 {
		return Eval{}, fmt.Errorf("evaluate: %d examples in batches of %d", len(idx), batch)
	}
	x := make([]float32, batch*d.Features())
	y := make([]int64, batch)
	var hits, loss float64
	for s := 0; s < len(idx); s += batch {
		part := idx[s:min(s+batch, len(idx))]
		bx, by := x[:len(part)*d.Features()], y[:len(part)]
		d.Fill(part, bx, by)
		out, err := m.Forward(bx)
		if err != nil {
			return Eval{}, fmt.Errorf("evaluate: %w", err)
		}
		l := distill.Logits{Classes: m.Classes(), Values: out}
		acc, err := distill.Accuracy(l, by)
		if err != nil {
			return Eval{}, fmt.Errorf("evaluate: %w", err)
		}
		ce, err := distill.CrossEntropy(l, by)
		if err != nil {
			return Eval{}, fmt.Errorf("evaluate: %w", err)
		}
		hits += acc * float64(len(part))
		loss += ce * float64(len(part))
	}
	n := float64(len(idx))
	return Eval{Examples: len(idx), Accuracy: hits / n, Loss: loss / n}, nil
}
