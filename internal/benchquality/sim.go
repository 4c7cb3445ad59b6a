package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/peer"
)

// Params are the settings every method of a run shares. The defaults are
// those of a real network: peer.DefaultConfig for the peers (50 local
// steps of batch 64, Adam at 1e-3, KD mix 0.5 at T=2, 32 hidden checks,
// one warm-up epoch) and coordinator defaults for the rounds (1,000
// transfer rows in batches of 250, 1,000 validation rows, smoothing 0.5).
type Params struct {
	Peers, Rounds     int
	LocalSteps, Batch int
	LR                float64
	KDMix, KDTemp     float64
	HiddenChecks      int
	WarmupEpochs      int
	Transfer          int
	TransferBatch     int
	Validation        int
	Report            int // rows of the report pool measured each round (the last round: all of it)
	Gradients         peer.Gradients
	Device            string
}

// defaultParams mirrors the network's defaults.
func defaultParams() Params {
	pc := peer.DefaultConfig()
	return Params{
		Peers: 10, Rounds: 30,
		LocalSteps: pc.LocalSteps, Batch: pc.Batch, LR: pc.LR,
		KDMix: pc.KDMix, KDTemp: pc.KDTemperature, HiddenChecks: pc.HiddenChecks,
		WarmupEpochs: pc.WarmupEpochs,
		Transfer:     1000, TransferBatch: 250, Validation: 1000, Report: 2000,
		Gradients: pc.Gradients, Device: "cpu",
	}
}

// Cell is one run of one method on one split: the unit the bench saves
// and resumes.
type Cell struct {
	Method string  `json:"method"`
	Arch   string  `json:"arch"` // mlp, cnn or mixed (alternating, mlp first)
	Alpha  float64 `json:"alpha"`
	Seed   uint64  `json:"seed"`
}

func (c Cell) key() string {
	return fmt.Sprintf("%s-%s-a%g-s%d", c.Method, c.Arch, c.Alpha, c.Seed)
}

// Round is what a cell measured after one round (round 0: after the
// warm-up, before any exchange: local-only).
type Round struct {
	Round int       `json:"round"`
	Mean  float64   `json:"mean_accuracy"`
	Worst float64   `json:"worst_accuracy"`
	Peers []float64 `json:"peer_accuracy"`
	// Bytes is the tensor payload every party sent in the round: inputs,
	// logits, gradients and parameters (no protobuf, HTTP/2 or TLS
	// framing).
	Bytes int64 `json:"bytes"`
	// Dropped counts teachers the students' hidden checks dropped.
	Dropped int `json:"dropped,omitempty"`
	// HonestShare is the share of the round's emission paid to honest
	// peers (taonet-adv; 1 in a network without adversaries).
	HonestShare float64 `json:"honest_share,omitempty"`
	// Ensemble is the students' mean accuracy of their teachers' ensemble
	// on the round's transfer rows, against the labels the public pool has
	// in the dataset (which no party uses): how good the targets were.
	Ensemble float64 `json:"ensemble_accuracy,omitempty"`
}

// CellResult is a finished cell.
type CellResult struct {
	Cell
	Params  Params  `json:"params"`
	Rounds  []Round `json:"rounds"`
	Seconds float64 `json:"seconds"`
}

// Methods.
const (
	mLocal   = "local"        // each peer on its own shard
	mTaonet  = "taonet"       // federated distillation as the network runs it
	mTaoGrad = "taonet-grads" // the same with Backward gradients applied by teachers
	mFedAvg  = "fedavg"       // parameter averaging of same-architecture peers
	mCentral = "central"      // one model on the union of the shards
	// taonet-adv is taonet with the last two peers adversarial: one answers
	// random logits, the other copies the first peer's answers. They do
	// not train, and the accuracy figures are the honest peers'.
	mAdv = "taonet-adv"
)

// simPeer is one peer of a simulated network.
type simPeer struct {
	id    string
	arch  string
	m     *torch.Model
	shard []int
	adv   string // "", advRandom or advCopier
}

const (
	advRandom = "random"
	advCopier = "copier"
)

func archOf(arch string, i int) string {
	if arch != "mixed" {
		return arch
	}
	if i%2 == 0 {
		return torch.ArchMLP
	}
	return torch.ArchCNN
}

// newModel builds a model as a peer does (peer.NewEngine), one at a time:
// the seed and threads are the process's.
func (r *runner) newModel(arch string, seed uint64) (*torch.Model, error) {
	seedMu.Lock()
	defer seedMu.Unlock()
	return peer.NewEngine(arch, r.p.Device, r.threads, seed, r.p.LR)
}

var seedMu sync.Mutex

// runner runs cells on the pools.
type runner struct {
	pools   *distill.Pools
	p       Params
	threads int // torch CPU threads of the process
}

// report is the mean and worst accuracy of models on the first Report
// rows of the report pool, or on all of it when whole is set (the last
// round's figures).
func (r *runner) report(ms []*torch.Model, whole bool) (Round, error) {
	idx := r.pools.Report[:min(r.p.Report, len(r.pools.Report))]
	if whole {
		idx = r.pools.Report
	}
	out := Round{Worst: math.Inf(1)}
	for _, m := range ms {
		ev, err := torch.Evaluate(m, r.pools.Test, idx, 500)
		if err != nil {
			return out, err
		}
		out.Peers = append(out.Peers, round4(ev.Accuracy))
		out.Mean += ev.Accuracy / float64(len(ms))
		out.Worst = min(out.Worst, ev.Accuracy)
	}
	out.Mean, out.Worst = round4(out.Mean), round4(out.Worst)
	return out, nil
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// run runs one cell to the end or until ctx ends.
func (r *runner) run(ctx context.Context, c Cell) (*CellResult, error) {
	if c.Method == mCentral {
		return r.central(ctx, c)
	}
	shards, err := distill.Partition(r.pools.Private, r.pools.Train.Labels, r.pools.Train.Classes, r.p.Peers, c.Alpha, c.Seed)
	if err != nil {
		return nil, err
	}
	peers := make([]*simPeer, r.p.Peers)
	defer func() {
		for _, sp := range peers {
			if sp != nil {
				sp.m.Close()
			}
		}
	}()
	for i := range peers {
		arch := archOf(c.Arch, i)
		// As in the network, every peer of one run has the same seed (it
		// fixes the split), so peers of one architecture start alike.
		m, err := r.newModel(arch, c.Seed)
		if err != nil {
			return nil, err
		}
		peers[i] = &simPeer{id: fmt.Sprintf("spiffe://bench/peer/p%02d", i), arch: arch, m: m, shard: shards[i]}
		if c.Method == mAdv && i >= r.p.Peers-2 {
			peers[i].adv = []string{advRandom, advCopier}[i-(r.p.Peers-2)]
			continue // an adversary does not train
		}
		if r.p.WarmupEpochs > 0 {
			if _, err := torch.Fit(ctx, m, r.pools.Train, shards[i], torch.FitConfig{Epochs: r.p.WarmupEpochs, Batch: r.p.Batch, Seed: c.Seed}); err != nil {
				return nil, fmt.Errorf("warmup of peer %d: %w", i, err)
			}
		}
	}
	if c.Method == mFedAvg {
		for _, sp := range peers[1:] {
			if sp.arch != peers[0].arch {
				return nil, fmt.Errorf("fedavg needs one architecture, not %s", c.Arch)
			}
		}
	}
	res := &CellResult{Cell: c, Params: r.p}
	var models []*torch.Model // the honest peers'
	for _, sp := range peers {
		if sp.adv == "" {
			models = append(models, sp.m)
		}
	}
	rep, err := r.report(models, false)
	if err != nil {
		return nil, err
	}
	res.Rounds = append(res.Rounds, rep)
	net := &network{r: r, cell: c, peers: peers, smoothed: map[string]float64{}}
	for round := 1; round <= r.p.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var st roundStats
		switch c.Method {
		case mLocal:
			err = net.localRound(uint64(round))
		case mFedAvg:
			st, err = net.fedAvgRound(uint64(round))
		case mTaonet, mTaoGrad, mAdv:
			st, err = net.distillRound(uint64(round), c.Method == mTaoGrad)
		default:
			err = fmt.Errorf("unknown method %q", c.Method)
		}
		if err != nil {
			return nil, fmt.Errorf("%s round %d: %w", c.key(), round, err)
		}
		rep, err := r.report(models, round == r.p.Rounds)
		if err != nil {
			return nil, err
		}
		rep.Round, rep.Bytes, rep.Dropped, rep.Ensemble, rep.HonestShare = round, st.bytes, st.dropped, round4(st.ensemble), round4(st.honest)
		res.Rounds = append(res.Rounds, rep)
	}
	return res, nil
}

// network is the state of a simulated network across rounds.
type network struct {
	r        *runner
	cell     Cell
	peers    []*simPeer
	weights  map[string]float64 // the last settled round's, as RoundOpened carries them
	smoothed map[string]float64 // the coordinator's smoothed losses
}

type roundStats struct {
	bytes    int64
	dropped  int
	ensemble float64 // mean accuracy of the students' ensembles
	honest   float64 // share of the weights of honest peers
}

// answer is peer j's logits for the rows x: its model's, or an
// adversary's (random logits, or the first peer's answer).
func (n *network) answer(j int, x []float32) ([]float32, error) {
	sp := n.peers[j]
	switch sp.adv {
	case advRandom:
		rng := rand.New(rand.NewPCG(n.cell.Seed, uint64(len(x))+uint64(j)<<32))
		out := make([]float32, len(x)/sp.m.InFeatures()*sp.m.Classes())
		for i := range out {
			out[i] = float32(3 * rng.NormFloat64())
		}
		return out, nil
	case advCopier:
		return forward(n.peers[0].m, x, n.r.p.TransferBatch)
	}
	return forward(sp.m, x, n.r.p.TransferBatch)
}

// train takes LocalSteps steps as peer.trainRound does: a private batch
// with labels each step, and, when teacher is set, a batch of transfer
// rows with their ensemble rows, at alpha = 1 - KDMix.
func (n *network) train(sp *simPeer, round uint64, transferX, teacher []float32) error {
	p, d := n.r.p, n.r.pools.Train
	f, classes := sp.m.InFeatures(), sp.m.Classes()
	rng := rand.New(rand.NewPCG(n.cell.Seed, round))
	own := distill.NewCycle(len(sp.shard), rng)
	nb := min(p.Batch, len(sp.shard))
	x, y := make([]float32, nb*f), make([]int64, nb)
	idx := make([]int, nb)
	alpha := 1.0
	var kd *distill.Cycle
	var tx, tt []float32
	if teacher != nil {
		alpha = 1 - p.KDMix
		rows := len(teacher) / classes
		kd = distill.NewCycle(rows, rng)
		nk := min(p.Batch, rows)
		tx, tt = make([]float32, nk*f), make([]float32, nk*classes)
	}
	for range p.LocalSteps {
		for i := range idx {
			idx[i] = sp.shard[own.Next()]
		}
		d.Fill(idx, x, y)
		for r := range len(tt) / classes {
			k := kd.Next()
			copy(tx[r*f:(r+1)*f], transferX[k*f:(k+1)*f])
			copy(tt[r*classes:(r+1)*classes], teacher[k*classes:(k+1)*classes])
		}
		if _, err := sp.m.TrainStep(torch.Step{X: x, Labels: y, TransferX: tx, Teacher: tt, Alpha: alpha, Temperature: p.KDTemp}); err != nil {
			return err
		}
	}
	return nil
}

func (n *network) localRound(round uint64) error {
	for _, sp := range n.peers {
		if err := n.train(sp, round, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// fedAvgRound trains every peer LocalSteps steps on its shard, then
// replaces every model by the average of all, weighted by shard size.
// Each peer uploads and downloads its parameters once.
func (n *network) fedAvgRound(round uint64) (roundStats, error) {
	if err := n.localRound(round); err != nil {
		return roundStats{}, err
	}
	total := 0
	for _, sp := range n.peers {
		total += len(sp.shard)
	}
	avg := make([]float64, n.peers[0].m.NumParams())
	for _, sp := range n.peers {
		ps, err := sp.m.Params()
		if err != nil {
			return roundStats{}, err
		}
		w := float64(len(sp.shard)) / float64(total)
		for i, v := range ps {
			avg[i] += w * float64(v)
		}
	}
	out := make([]float32, len(avg))
	for i, v := range avg {
		out[i] = float32(v)
	}
	for _, sp := range n.peers {
		if err := sp.m.SetParams(out); err != nil {
			return roundStats{}, err
		}
	}
	return roundStats{bytes: int64(2 * 4 * len(out) * len(n.peers))}, nil
}

// forward runs m on rows of x in batches of batch rows.
func forward(m *torch.Model, x []float32, batch int) ([]float32, error) {
	f := m.InFeatures()
	var out []float32
	for lo := 0; lo < len(x)/f; lo += batch {
		hi := min(lo+batch, len(x)/f)
		l, err := m.Forward(x[lo*f : hi*f])
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// distillRound is one round of docs/design.md "A round" with the peers in
// one process: every teacher answers the round's transfer sample once
// (the models as they were when the round opened), every student checks
// its teachers on hidden rows of its own shard (distill.HiddenCheckLimit),
// weights them by the last round's weights renormalised as the peer does,
// trains on the weighted ensemble (distill.Ensemble), optionally sends
// its teachers the gradients of its distillation loss
// (distill.TeacherGradient, clipped and scaled by peer.Gradients), and the
// coordinator scores every model on a fresh validation sample
// (coordinator.Score) for the next round's weights.
func (n *network) distillRound(round uint64, grads bool) (roundStats, error) {
	p, pools := n.r.p, n.r.pools
	d := pools.Train
	f := d.Features()
	classes := d.Classes
	var st roundStats
	sample := distill.TransferSample(n.cell.Seed*1_000_003+round, pools.Transfer, p.Transfer)
	tx, ty := make([]float32, len(sample)*f), make([]int64, len(sample))
	d.Fill(sample, tx, ty)
	logits := make([][]float32, len(n.peers))
	for j := range n.peers {
		var err error
		if logits[j], err = n.answer(j, tx); err != nil {
			return st, err
		}
	}
	type pending struct {
		teacher int
		x, g    []float32
	}
	var backward []pending
	// The student's private random source for its hidden rows.
	rng := rand.New(rand.NewPCG(n.cell.Seed, round*7919))
	students := 0
	for i, sp := range n.peers {
		if sp.adv != "" {
			continue // adversaries only answer
		}
		h := min(p.HiddenChecks, len(sp.shard))
		hidden := make([]int, h)
		for k, at := range rng.Perm(len(sp.shard))[:h] {
			hidden[k] = sp.shard[at]
		}
		hx, hy := make([]float32, h*f), make([]int64, h)
		d.Fill(hidden, hx, hy)
		type answer struct {
			j      int
			loss   float64
			weight float64
		}
		var answers []answer
		var finite []float64
		for j, t := range n.peers {
			if j == i {
				continue
			}
			// Each student sends its transfer rows and hidden rows to
			// every teacher and gets logits back for all of them.
			st.bytes += int64((len(sample) + h) * (f + classes) * 4)
			out, err := n.answer(j, hx)
			if err != nil {
				return st, err
			}
			loss, err := distill.CrossEntropy(distill.Logits{Classes: classes, Values: out}, hy)
			if err != nil {
				return st, err
			}
			answers = append(answers, answer{j: j, loss: loss, weight: n.weights[t.id]})
			finite = append(finite, loss)
		}
		limit := distill.HiddenCheckLimit(finite, classes)
		var kept []answer
		total := 0.0
		for _, a := range answers {
			if a.loss >= limit {
				st.dropped++
				continue
			}
			if w := a.weight; w > 0 && !math.IsInf(w, 0) {
				total += w
			}
			kept = append(kept, a)
		}
		var used []distill.Logits
		var ws []float64
		var usedIdx []int
		for _, a := range kept {
			w := a.weight
			switch {
			case total == 0:
				w = 1 / float64(len(kept))
			case !(w > 0) || math.IsInf(w, 0):
				continue
			default:
				w /= total
			}
			used = append(used, distill.Logits{Classes: classes, Values: logits[a.j]})
			ws = append(ws, w)
			usedIdx = append(usedIdx, a.j)
		}
		if len(used) == 0 || p.KDMix == 0 {
			if err := n.train(sp, round, nil, nil); err != nil {
				return st, err
			}
			continue
		}
		ens, err := distill.Ensemble(used, ws, p.KDTemp)
		if err != nil {
			return st, err
		}
		acc, err := distill.Accuracy(distill.Logits{Classes: classes, Values: ens}, ty)
		if err != nil {
			return st, err
		}
		st.ensemble += acc
		students++
		if err := n.train(sp, round, tx, ens); err != nil {
			return st, err
		}
		if !grads {
			continue
		}
		student, err := forward(sp.m, tx, p.TransferBatch)
		if err != nil {
			return st, err
		}
		g, err := distill.TeacherGradient(used, ws, distill.Logits{Classes: classes, Values: student}, 1-p.KDMix, p.KDTemp)
		if err != nil {
			return st, err
		}
		for k, j := range usedIdx {
			gj := g[k]
			st.bytes += int64((len(sample) + h) * classes * 4)
			// The teacher clips and scales each batch, then bounds the stream.
			for lo := 0; lo < len(sample); lo += p.TransferBatch {
				p.Gradients.Process(gj[lo*classes : min(lo+p.TransferBatch, len(sample))*classes])
			}
			p.Gradients.Bound(gj)
			backward = append(backward, pending{teacher: j, x: tx, g: gj})
		}
	}
	if students > 0 {
		st.ensemble /= float64(students)
	}
	for _, b := range backward {
		if n.peers[b.teacher].adv != "" {
			continue
		}
		if _, err := n.peers[b.teacher].m.Backward(b.x, b.g, 0); err != nil {
			return st, err
		}
	}
	b, err := n.score(round)
	st.bytes += b
	for _, sp := range n.peers {
		if sp.adv == "" {
			st.honest += n.weights[sp.id]
		}
	}
	return st, err
}

// score is the coordinator's evaluation: every model on a validation
// sample drawn from the round's seed, judged by coordinator.Score; the
// results are the next round's weights.
func (n *network) score(round uint64) (int64, error) {
	p, pools := n.r.p, n.r.pools
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], n.cell.Seed)
	binary.LittleEndian.PutUint64(seed[8:], round)
	seed = sha256.Sum256(seed[:])
	idx, err := coordinator.ValidationSample(seed[:], pools.Validation, p.Validation)
	if err != nil {
		return 0, err
	}
	d := pools.Test
	x, y := make([]float32, len(idx)*d.Features()), make([]int64, len(idx))
	d.Fill(idx, x, y)
	answers := make([]coordinator.Answer, len(n.peers))
	for i, sp := range n.peers {
		out, err := n.answer(i, x)
		if err != nil {
			return 0, err
		}
		answers[i] = coordinator.Answer{Identity: sp.id, Logits: &distill.Logits{Classes: d.Classes, Values: out}, Order: i}
	}
	results, err := coordinator.Score(coordinator.DefaultScoreConfig(d.Classes), y, answers, n.smoothed)
	if err != nil {
		return 0, err
	}
	n.weights = map[string]float64{}
	for _, res := range results {
		n.weights[res.Identity] = res.Weight
		if !math.IsNaN(res.Smoothed) {
			n.smoothed[res.Identity] = res.Smoothed
		}
	}
	return int64(len(n.peers) * len(idx) * (d.Features() + d.Classes) * 4), nil
}

// central trains one model of c.Arch on the union of the private pool,
// with as many examples per round as the whole network (Peers *
// LocalSteps batches) after the same warm-up (one pass over the data):
// the ceiling. It does not depend on alpha.
func (r *runner) central(ctx context.Context, c Cell) (*CellResult, error) {
	m, err := r.newModel(c.Arch, c.Seed)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	all := r.pools.Private
	if r.p.WarmupEpochs > 0 {
		if _, err := torch.Fit(ctx, m, r.pools.Train, all, torch.FitConfig{Epochs: r.p.WarmupEpochs, Batch: r.p.Batch, Seed: c.Seed}); err != nil {
			return nil, err
		}
	}
	res := &CellResult{Cell: c, Params: r.p}
	rep, err := r.report([]*torch.Model{m}, false)
	if err != nil {
		return nil, err
	}
	res.Rounds = append(res.Rounds, rep)
	sp := &simPeer{arch: c.Arch, m: m, shard: all}
	net := &network{r: r, cell: c}
	for round := 1; round <= r.p.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for k := range r.p.Peers {
			if err := net.train(sp, uint64(round*1000+k), nil, nil); err != nil {
				return nil, err
			}
		}
		rep, err := r.report([]*torch.Model{m}, round == r.p.Rounds)
		if err != nil {
			return nil, err
		}
		rep.Round = round
		res.Rounds = append(res.Rounds, rep)
	}
	return res, nil
}
