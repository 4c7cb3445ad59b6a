package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Query limits.
const (
	maxQueryRows  = 1024
	maxQueryPeers = 16
)

// GetRound returns one round with its evaluations (number 0: the latest).
func (v *service) GetRound(ctx context.Context, req *taonetv1.GetRoundRequest) (*taonetv1.GetRoundResponse, error) {
	r, err := v.s.home.db.GetRound(ctx, req.GetNumber())
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	return &taonetv1.GetRoundResponse{Round: roundMessage(r)}, nil
}

// ListRounds pages through rounds, newest first, each with its evaluations
// and payouts.
func (v *service) ListRounds(ctx context.Context, req *taonetv1.ListRoundsRequest) (*taonetv1.ListRoundsResponse, error) {
	size := req.GetPageSize()
	if size == 0 {
		size = 20
	}
	list, next, err := v.s.home.db.ListRounds(ctx, ledger.Page{Size: size, Token: req.GetPageToken()})
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	resp := &taonetv1.ListRoundsResponse{NextPageToken: next}
	for _, r := range list {
		full, err := v.s.home.db.GetRound(ctx, r.Number)
		if err != nil {
			return nil, v.fail(ctx, err)
		}
		resp.Rounds = append(resp.Rounds, roundMessage(full))
	}
	return resp, nil
}

// roundMessage is the wire form of a ledger round.
func roundMessage(r *ledger.Round) *taonetv1.Round {
	m := &taonetv1.Round{Number: r.Number, Seed: r.Seed, ValidationSeedHash: r.SeedHash, ValidationSeed: r.RevealedSeed,
		OpenedAt: timestamppb.New(r.OpenedAt), EmissionRao: r.Emission,
		PreviousHash: r.PreviousHash, Hash: r.Hash, Signature: r.Signature, SignerCertificate: r.Signer}
	switch r.State {
	case ledger.RoundOpen:
		m.State = taonetv1.RoundState_ROUND_STATE_OPEN
	case ledger.RoundSettled:
		m.State = taonetv1.RoundState_ROUND_STATE_SETTLED
	case ledger.RoundAborted:
		m.State = taonetv1.RoundState_ROUND_STATE_ABORTED
	}
	if !r.ClosedAt.IsZero() {
		m.ClosedAt = timestamppb.New(r.ClosedAt)
	}
	for _, e := range r.Evaluations {
		m.Evaluations = append(m.Evaluations, &taonetv1.Evaluation{Identity: e.Identity, Loss: e.Loss, Accuracy: e.Accuracy,
			Weight: e.Weight, Shares: e.Shares, Status: evalStatus(e.Status), PayoutRao: e.Payout})
	}
	return m
}

// Query sends the caller's inputs to the best peers by weight (max_peers,
// default Config.QueryPeers) and returns their weighted ensemble: the
// probabilities, the arg-max classes and the peers whose answers were used.
// Peers that do not answer within QueryTimeout are left out; none
// answering is Unavailable.
func (v *service) Query(ctx context.Context, req *taonetv1.QueryRequest) (*taonetv1.QueryResponse, error) {
	task := v.s.home.task
	x, rows, err := queryInputs(req.GetInputs(), task)
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	want := int(req.GetMaxPeers())
	switch {
	case want == 0:
		want = v.s.cfg.QueryPeers
	case want > maxQueryPeers:
		return nil, v.fail(ctx, fmt.Errorf("%w: max_peers %d is over %d", errBadQuery, want, maxQueryPeers))
	}
	peers, err := v.bestPeers(ctx, want)
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	classes := int(task.Classes)
	call := exchange.Call{Inputs: x, Shape: task.InputShape, Classes: classes, Batch: maxQueryRows, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 64 << 20}
	qctx, cancel := context.WithTimeout(ctx, v.s.cfg.QueryTimeout)
	defer cancel()
	answers := make([]*exchange.Result, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			res, err := v.s.peers.Forward(qctx, p.entry, call)
			if err != nil {
				v.s.cfg.Logger.InfoContext(ctx, "query: peer did not answer", "peer", p.entry.Identity, "err", err)
				return
			}
			answers[i] = res
		})
	}
	wg.Wait()
	var teachers []distill.Logits
	var weights []float64
	resp := &taonetv1.QueryResponse{}
	for i, a := range answers {
		if a == nil {
			continue
		}
		teachers = append(teachers, distill.Logits{Classes: classes, Values: a.Logits})
		weights = append(weights, peers[i].weight)
		resp.Peers = append(resp.Peers, peers[i].entry.Identity)
	}
	if len(teachers) == 0 {
		return nil, v.fail(ctx, errNoPeerAnswered)
	}
	probs, err := distill.Ensemble(teachers, weights, 1)
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	if resp.Probabilities, err = distill.EncodeFloat32([]int64{int64(rows), int64(classes)}, probs); err != nil {
		return nil, v.fail(ctx, err)
	}
	for r := range rows {
		row := probs[r*classes : (r+1)*classes]
		resp.Predictions = append(resp.Predictions, uint32(slices.Index(row, slices.Max(row))))
	}
	return resp, nil
}

// queryInputs checks a Query's inputs against the task: float32 (or
// float16/bfloat16) [rows, shape...] or [rows, features], at most
// maxQueryRows rows, finite.
func queryInputs(t *taonetv1.Tensor, task Task) ([]float32, int, error) {
	features := int64(1)
	for _, d := range task.InputShape {
		features *= d
	}
	shape := t.GetShape()
	if len(shape) < 2 || !(slices.Equal(shape[1:], task.InputShape) || (len(shape) == 2 && shape[1] == features)) {
		return nil, 0, fmt.Errorf("%w: inputs shape %v, want [rows %v] or [rows %d]", errBadQuery, shape, task.InputShape, features)
	}
	if shape[0] > maxQueryRows {
		return nil, 0, fmt.Errorf("%w: %d rows, at most %d", errBadQuery, shape[0], maxQueryRows)
	}
	x, err := distill.DecodeFloats(t, uint64(maxQueryRows*features*4))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errBadQuery, err)
	}
	for i, f := range x {
		if f != f || f > 3.4e38 || f < -3.4e38 {
			return nil, 0, fmt.Errorf("%w: input value %d is %v", errBadQuery, i, f)
		}
	}
	return x, int(shape[0]), nil
}

// weighted is a directory entry with its current weight.
type weighted struct {
	entry  ledger.Entry
	weight float64
}

// bestPeers returns up to n active peers, highest weight first (ties by
// identity); before any round has weights, every peer weighs the same.
func (v *service) bestPeers(ctx context.Context, n int) ([]weighted, error) {
	all, err := v.s.home.db.ActivePeers(ctx, "", maxPageSize)
	if err != nil {
		return nil, err
	}
	weights := map[string]float64{}
	if v.s.sched != nil {
		weights = v.s.sched.Weights()
	}
	var out []weighted
	positive := false
	for _, e := range all {
		w := weights[e.Identity]
		positive = positive || w > 0
		out = append(out, weighted{entry: e, weight: w})
	}
	if positive {
		out = slices.DeleteFunc(out, func(w weighted) bool { return w.weight <= 0 })
	} else {
		for i := range out {
			out[i].weight = 1
		}
	}
	slices.SortFunc(out, func(a, b weighted) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.entry.Identity, b.entry.Identity))
	})
	if len(out) == 0 {
		return nil, errNoPeerAnswered
	}
	return out[:min(n, len(out))], nil
}
