package peer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/runstate"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// The distillation window of a round, from RoundOpened to its
// distill_deadline, is shared out so that a slow teacher cannot starve the
// rest: teachers have forwardShare of it to answer, training runs until
// tailShare of it is left, and the tail is for Backward and the
// checkpoint.
const (
	forwardShare = 0.5
	tailShare    = 0.1
)

// RoundReport is what this peer did as a student in one round.
type RoundReport struct {
	Round uint64
	// Teachers are the identities distilled from, in directory order.
	// Dropped failed the hidden checks (cross-entropy on this peer's own
	// labelled samples no better than uniform guessing); Unanswered gave
	// no usable answer in time; Unweighted passed but had weight 0 while
	// others had more.
	Teachers, Dropped, Unanswered, Unweighted []string
	// HiddenLoss is the cross-entropy of every teacher that answered on
	// the hidden checks.
	HiddenLoss map[string]float64
	// TransferRows and HiddenRows are the rows sent to each teacher.
	TransferRows, HiddenRows int
	// Alpha is the weight of the private cross-entropy in training: 1 when
	// no teacher was used.
	Alpha float64
	// Steps training steps were taken; Loss is their mean loss.
	Steps int
	Loss  float64
	// Accepted and Disabled count the teachers that applied this peer's
	// gradients and those that have incoming gradients turned off.
	Accepted, Disabled int
	// Checkpoint is where the model was saved ("" when it was not).
	Checkpoint string
	Duration   time.Duration
	// Err is why the round ended early or failed (cancelled by a newer
	// round or shutdown, a training error), nil when it ran through.
	Err error
}

// rounds runs this peer's rounds one at a time, each in a goroutine of the
// Peer's wait group, so the Watch loop never blocks on one.
type rounds struct {
	mu     sync.Mutex
	ctx    context.Context    // Run's; nil before Run
	cancel context.CancelFunc // of the round in progress
	round  uint64             // the last round started
	done   chan struct{}      // closed when the round in progress returns
	last   *RoundReport
}

// LastRound is the report of the last round this peer took part in as a
// student, and false before the first one ended.
func (p *Peer) LastRound() (RoundReport, bool) {
	p.rounds.mu.Lock()
	defer p.rounds.mu.Unlock()
	if p.rounds.last == nil {
		return RoundReport{}, false
	}
	return *p.rounds.last, true
}

// startRound cancels the round in progress, if any, and starts ev's once
// that one has returned. It never blocks. The round already started is
// not started again (the coordinator repeats the open round to a Watch
// stream that reconnects). A peer without an engine (ServeModel) only
// serves; an event without a future distill deadline is logged and
// skipped.
func (p *Peer) startRound(ev *taonetv1.RoundOpened) {
	if p.engine == nil {
		return
	}
	p.rounds.mu.Lock()
	defer p.rounds.mu.Unlock()
	if p.rounds.round != 0 && ev.GetRound() == p.rounds.round {
		return
	}
	if p.rounds.cancel != nil {
		p.rounds.cancel() // the coordinator moved on; the old round's records are gone at the teachers
	}
	base := p.rounds.ctx
	if base == nil || base.Err() != nil {
		return
	}
	if ev.GetDistillDeadline() == nil || !time.Now().Before(ev.GetDistillDeadline().AsTime()) {
		p.cfg.Logger.Warn("round skipped: no distill deadline ahead", "round", ev.GetRound())
		return
	}
	ctx, cancel := context.WithDeadline(base, ev.GetDistillDeadline().AsTime())
	prev, done := p.rounds.done, make(chan struct{})
	p.rounds.cancel, p.rounds.done, p.rounds.round = cancel, done, ev.GetRound()
	p.wg.Go(func() {
		defer close(done)
		defer cancel()
		if prev != nil {
			<-prev // the engine trains for one round at a time
		}
		rep := p.runRound(ctx, ev)
		p.rounds.mu.Lock()
		p.rounds.last = rep
		p.rounds.mu.Unlock()
		p.metrics.studentRound(rep)
		p.state.Update(func(st *runstate.State) { st.Student = studentState(rep) })
	})
}

// studentState is the state file's summary of a round as a student.
func studentState(rep *RoundReport) *runstate.Student {
	s := &runstate.Student{Round: rep.Round, Teachers: len(rep.Teachers), Dropped: len(rep.Dropped),
		Unanswered: len(rep.Unanswered), Steps: rep.Steps, Loss: rep.Loss, Duration: rep.Duration}
	if rep.Err != nil {
		s.Error = rep.Err.Error()
	}
	return s
}

// roundPlan is a round's inputs as sent to every teacher: the transfer
// sample with the hidden checks mixed in at random positions.
type roundPlan struct {
	round    uint64
	deadline time.Time
	teachers []*taonetv1.PeerInfo
	call     exchange.Call
	transfer []int   // positions of transfer rows in call.Inputs
	hidden   []int   // positions of hidden-check rows
	labels   []int64 // labels of the hidden rows, in hidden's order
}

// runRound is one round as a student: ask the teachers, check them, train,
// send gradients, save. It logs one line when done and never fails the
// peer: what went wrong is in the report.
func (p *Peer) runRound(ctx context.Context, ev *taonetv1.RoundOpened) *RoundReport {
	start := time.Now()
	plan := p.planRound(ev)
	rep := &RoundReport{Round: plan.round, TransferRows: len(plan.transfer), HiddenRows: len(plan.hidden), Alpha: 1}
	window := time.Until(plan.deadline)
	var used []teacherAnswer
	if len(plan.teachers) > 0 && len(plan.transfer) > 0 && p.cfg.KDMix > 0 {
		answers := p.teachers.Forward(ctx, plan.teachers, plan.call, time.Duration(forwardShare*float64(window)))
		used = p.checkTeachers(plan, answers, ev.GetWeights(), rep)
	}
	var ensemble []float32
	if len(used) > 0 {
		rep.Alpha = 1 - p.cfg.KDMix
		var err error
		if ensemble, err = distill.Ensemble(logitsOf(used), weightsOf(used), p.cfg.KDTemperature); err != nil {
			rep.Err, used, rep.Teachers, rep.Alpha = fmt.Errorf("ensemble: %w", err), nil, nil, 1
		}
	}
	stopAt := plan.deadline.Add(-time.Duration(tailShare * float64(window)))
	var trainErr error
	rep.Steps, rep.Loss, trainErr = p.trainRound(ctx, plan, ensemble, rep.Alpha, stopAt)
	rep.Err = errors.Join(rep.Err, trainErr)
	if len(used) > 0 && rep.Err == nil {
		rep.Err = p.sendGradients(ctx, plan, used, rep)
	}
	if rep.Steps > 0 {
		ckpt := CheckpointPath(p.cfg.Home, p.cfg.Model)
		if err := p.engine.Save(ckpt); err != nil {
			rep.Err = errors.Join(rep.Err, err)
		} else {
			rep.Checkpoint = ckpt
		}
	}
	rep.Duration = time.Since(start)
	p.cfg.Logger.Info("round done", "round", rep.Round, "teachers", len(rep.Teachers), "dropped", len(rep.Dropped),
		"unanswered", len(rep.Unanswered), "steps", rep.Steps, "loss", rep.Loss, "gradients_accepted", rep.Accepted,
		"elapsed", rep.Duration.Round(time.Millisecond), "err", rep.Err)
	return rep
}

// planRound draws the round's transfer sample from the seed (the same on
// every peer) and mixes in HiddenChecks labelled rows of this peer's own
// shard at positions drawn from the process's private random source, which
// no teacher can derive. Teachers are every other peer of the round's
// directory.
//
// The checks catch a teacher that answers peers worse than it answers the
// coordinator. They do not catch one that looks every input up in the
// public transfer pool, which it has too, and poisons only the rows of the
// round's sample (it knows the seed): the hidden rows are not disguised.
func (p *Peer) planRound(ev *taonetv1.RoundOpened) roundPlan {
	d := p.pools.Train
	sample := distill.TransferSample(ev.GetSeed(), p.pools.Transfer, int(ev.GetTransfer().GetSamples()))
	h := 0
	if len(sample) > 0 {
		h = min(p.cfg.HiddenChecks, len(p.shard))
	}
	rows := len(sample) + h
	hiddenAt := make([]bool, rows)
	for _, i := range rand.Perm(rows)[:h] {
		hiddenAt[i] = true
	}
	own := rand.Perm(len(p.shard))[:h]
	idx := make([]int, rows)
	plan := roundPlan{round: ev.GetRound(), deadline: ev.GetDistillDeadline().AsTime()}
	for i, t := 0, 0; i < rows; i++ {
		if hiddenAt[i] {
			idx[i] = p.shard[own[len(plan.hidden)]]
			plan.hidden = append(plan.hidden, i)
			plan.labels = append(plan.labels, int64(d.Labels[idx[i]]))
		} else {
			idx[i] = sample[t]
			plan.transfer = append(plan.transfer, i)
			t++
		}
	}
	x := make([]float32, rows*d.Features())
	d.Fill(idx, x, nil)
	batch := int(ev.GetTransfer().GetBatchSize())
	if batch < 1 {
		batch = p.cfg.Batch
	}
	plan.call = exchange.Call{Round: plan.round, Inputs: x, Shape: p.model.Card().GetInputShape(),
		Classes: p.engine.Classes(), Batch: batch, FirstBatch: 1}
	self := p.ID().String()
	for _, info := range ev.GetDirectory() {
		if info.GetIdentity() != self {
			plan.teachers = append(plan.teachers, info)
		}
	}
	return plan
}

// teacherAnswer is a teacher that passed the hidden checks: its logits on
// the transfer rows and its renormalised weight.
type teacherAnswer struct {
	info   *taonetv1.PeerInfo
	logits distill.Logits
	weight float64
}

// checkTeachers keeps the teachers that answered and pass the hidden
// checks, weighted by the round's weights renormalised over them (equal
// when they are all 0 or missing). Teachers of weight 0 beside weighted
// ones are left out. It fills rep's lists.
//
// The hidden check drops a teacher whose cross-entropy on the hidden rows
// reaches distill.HiddenCheckLimit.
func (p *Peer) checkTeachers(plan roundPlan, answers []TeacherAnswer, weights []*taonetv1.TeacherWeight, rep *RoundReport) []teacherAnswer {
	classes := plan.call.Classes
	uniform := math.Log(float64(classes))
	byID := map[string]float64{}
	for _, w := range weights {
		if v := w.GetWeight(); v > 0 && !math.IsInf(v, 0) {
			byID[w.GetIdentity()] = v
		}
	}
	rep.HiddenLoss = map[string]float64{}
	losses := make([]float64, len(answers))
	var finite []float64
	for i, a := range answers {
		losses[i] = math.Inf(1)
		if a.Err != nil || len(plan.hidden) == 0 {
			continue
		}
		if loss, err := distill.CrossEntropy(rowsOf(a.Logits, classes, plan.hidden), plan.labels); err == nil {
			rep.HiddenLoss[a.Identity] = loss
			losses[i] = loss
			finite = append(finite, loss)
		}
	}
	limit := distill.HiddenCheckLimit(finite, classes)
	var kept []teacherAnswer
	for i, a := range answers {
		if a.Err != nil {
			rep.Unanswered = append(rep.Unanswered, a.Identity)
			p.cfg.Logger.Info("teacher did not answer", "round", plan.round, "teacher", a.Identity, "err", a.Err)
			continue
		}
		if len(plan.hidden) > 0 && losses[i] >= limit {
			rep.Dropped = append(rep.Dropped, a.Identity)
			p.cfg.Logger.Warn("teacher dropped by hidden checks", "round", plan.round, "teacher", a.Identity,
				"loss", losses[i], "limit", limit, "uniform", uniform)
			continue
		}
		kept = append(kept, teacherAnswer{info: plan.teachers[i], logits: rowsOf(a.Logits, classes, plan.transfer), weight: byID[a.Identity]})
	}
	total := 0.0
	for _, t := range kept {
		total += t.weight
	}
	var used []teacherAnswer
	for _, t := range kept {
		switch {
		case total == 0:
			t.weight = 1 / float64(len(kept))
		case t.weight == 0:
			rep.Unweighted = append(rep.Unweighted, t.info.GetIdentity())
			continue
		default:
			t.weight /= total
		}
		rep.Teachers = append(rep.Teachers, t.info.GetIdentity())
		used = append(used, t)
	}
	return used
}

// rowsOf gathers the rows at positions of l's rows*classes values.
func rowsOf(l []float32, classes int, positions []int) distill.Logits {
	out := make([]float32, 0, len(positions)*classes)
	for _, r := range positions {
		out = append(out, l[r*classes:(r+1)*classes]...)
	}
	return distill.Logits{Classes: classes, Values: out}
}

func logitsOf(ts []teacherAnswer) []distill.Logits {
	out := make([]distill.Logits, len(ts))
	for i, t := range ts {
		out[i] = t.logits
	}
	return out
}

func weightsOf(ts []teacherAnswer) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = t.weight
	}
	return out
}
