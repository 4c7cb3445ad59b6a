package peer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/internal/exchange"
)

// warmup trains a model that has no checkpoint in Home on this peer's
// shard for WarmupEpochs epochs (batches of Batch, the optimizer's own
// learning rate, no schedule, so rounds start at the full rate) and saves
// the checkpoint. Run calls it after the server starts and before Join:
// the peer serves Forward meanwhile (the model's mutex is held per step)
// but takes part in no round before its model has seen its own data. A
// peer that serves ServeModel, or WarmupEpochs 0, does nothing.
func (p *Peer) warmup(ctx context.Context) error {
	ckpt := CheckpointPath(p.cfg.Home, p.cfg.Model)
	if p.engine == nil || p.cfg.WarmupEpochs == 0 {
		return nil
	}
	if _, err := os.Stat(ckpt); err == nil {
		return nil
	}
	start := time.Now()
	// Fit takes every step itself; the time between its Progress calls is
	// the step time (with the batch's copy in, as in rounds).
	last := start
	progress := func(int, int, int, float32) {
		p.metrics.observeStep(stepWarmup, last)
		last = time.Now()
	}
	stats, err := torch.Fit(ctx, p.engine, p.pools.Train, p.shard,
		torch.FitConfig{Epochs: p.cfg.WarmupEpochs, Batch: p.cfg.Batch, Seed: p.cfg.Seed, Progress: progress})
	if err != nil {
		return fmt.Errorf("warmup: %w", err)
	}
	if err := p.engine.Save(ckpt); err != nil {
		return fmt.Errorf("warmup: %w", err)
	}
	p.cfg.Logger.Info("warmup done", "epochs", len(stats), "examples", len(p.shard),
		"loss", stats[len(stats)-1].Loss, "checkpoint", ckpt, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// trainRound takes up to LocalSteps steps of the mixed loss: a batch of
// the private shard with its labels, and, when ensemble is set (alpha <
// 1), a batch of the transfer rows with their ensemble rows. It stops at
// stopAt (not an error) or when ctx ends (its error), and returns the
// steps taken and their mean loss. Only the engine trains; it is locked
// per step, so Forward keeps serving between steps.
func (p *Peer) trainRound(ctx context.Context, plan roundPlan, ensemble []float32, alpha float64, stopAt time.Time) (int, float64, error) {
	eng := p.engine
	f, classes := eng.InFeatures(), eng.Classes()
	if len(p.shard) == 0 {
		return 0, 0, fmt.Errorf("round %d: no private examples to train on", plan.round)
	}
	rng := rand.New(rand.NewPCG(p.cfg.Seed, plan.round))
	own := distill.NewCycle(len(p.shard), rng)
	nb := min(p.cfg.Batch, len(p.shard))
	x, y := make([]float32, nb*f), make([]int64, nb)
	var kd *distill.Cycle
	var tx, tt []float32
	if alpha < 1 {
		kd = distill.NewCycle(len(plan.transfer), rng)
		nk := min(p.cfg.Batch, len(plan.transfer))
		tx, tt = make([]float32, nk*f), make([]float32, nk*classes)
	}
	idx := make([]int, nb)
	steps, sum := 0, 0.0
	for steps < p.cfg.LocalSteps {
		if err := ctx.Err(); err != nil {
			return steps, mean(sum, steps), err
		}
		if !time.Now().Before(stopAt) {
			break
		}
		for i := range idx {
			idx[i] = p.shard[own.Next()]
		}
		p.pools.Train.Fill(idx, x, y)
		for r := range len(tt) / classes {
			k := kd.Next() // the k-th transfer row and its ensemble row
			copy(tx[r*f:(r+1)*f], plan.call.Inputs[plan.transfer[k]*f:])
			copy(tt[r*classes:(r+1)*classes], ensemble[k*classes:])
		}
		stepStart := time.Now()
		st, err := eng.TrainStep(torch.Step{X: x, Labels: y, TransferX: tx, Teacher: tt, Alpha: alpha, Temperature: p.cfg.KDTemperature})
		p.metrics.observeStep(stepRound, stepStart)
		if err != nil {
			return steps, mean(sum, steps), fmt.Errorf("round %d step %d: %w", plan.round, steps+1, err)
		}
		steps++
		sum += float64(st.Loss)
	}
	return steps, mean(sum, steps), nil
}

func mean(sum float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// sendGradients is mutual learning: it runs the trained model on the
// transfer rows, computes every used teacher's gradient of this peer's
// distillation loss with respect to that teacher's logits
// (distill.TeacherGradient) and sends it through Backward, one gradient
// per batch of the round's Forward call with the same batch ids and zeros
// on the hidden rows. Teachers are sent to at once. A teacher with
// gradients off is counted, not an error; other refusals are logged.
func (p *Peer) sendGradients(ctx context.Context, plan roundPlan, used []teacherAnswer, rep *RoundReport) error {
	classes := plan.call.Classes
	f := p.engine.InFeatures()
	student := make([]float32, 0, len(plan.transfer)*classes)
	x := make([]float32, 0, plan.call.Batch*f)
	for lo := 0; lo < len(plan.transfer); lo += plan.call.Batch {
		x = x[:0]
		for _, r := range plan.transfer[lo:min(lo+plan.call.Batch, len(plan.transfer))] {
			x = append(x, plan.call.Inputs[r*f:(r+1)*f]...)
		}
		out, err := p.engine.Forward(x)
		if err != nil {
			return fmt.Errorf("mutual learning: %w", err)
		}
		student = append(student, out...)
	}
	grads, err := distill.TeacherGradient(logitsOf(used), weightsOf(used), distill.Logits{Classes: classes, Values: student}, 1-p.cfg.KDMix, p.cfg.KDTemperature)
	if err != nil {
		return fmt.Errorf("mutual learning: %w", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for j, t := range used {
		batches := batchGradients(plan, grads[j])
		wg.Go(func() {
			sum, err := p.teachers.Backward(ctx, t.info, plan.round, classes, batches)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				p.cfg.Logger.Warn("backward", "round", plan.round, "teacher", t.info.GetIdentity(), "err", err)
			case sum.GetDisabled():
				rep.Disabled++
			case sum.GetAccepted() > 0:
				rep.Accepted++
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// batchGradients scatters g (one row per transfer row) into the rows of
// the Forward call, zero on the hidden rows, and cuts it into the call's
// batches.
func batchGradients(plan roundPlan, g []float32) []exchange.Gradient {
	classes := plan.call.Classes
	rows := len(plan.transfer) + len(plan.hidden)
	full := make([]float32, rows*classes)
	for k, r := range plan.transfer {
		copy(full[r*classes:(r+1)*classes], g[k*classes:(k+1)*classes])
	}
	var out []exchange.Gradient
	for i, lo := 0, 0; lo < rows; i, lo = i+1, lo+plan.call.Batch {
		hi := min(lo+plan.call.Batch, rows)
		out = append(out, exchange.Gradient{Batch: plan.call.FirstBatch + uint64(i), Rows: hi - lo, Values: full[lo*classes : hi*classes]})
	}
	return out
}
