package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

// roundTime is one round as the coordinator spent it, without the distill
// phase, which is nobody's overhead here (it is a fixed wait). The fake
// models' calls split it in three: the peers compute nothing, so a model
// call marks when a peer had received its inputs.
type roundTime struct {
	// Total is RunRound's wall time minus the distill timeout.
	Total time.Duration
	// OpenSend is from RunRound's start to the first model call, minus the
	// distill timeout: reading the directory, opening the round in the
	// ledger, publishing RoundOpened and EvaluationStarted, drawing the
	// validation sample, and sending the inputs until one peer has all of
	// its own (the sends to all peers run at once, so with many peers this
	// holds most of the sending).
	OpenSend time.Duration
	// Answers is from the first model call to the last one's end: the rest
	// of the sending.
	Answers time.Duration
	// ScoreSettle is from the last model call's end to RunRound's return:
	// receiving the last answer, scoring, settling in the ledger,
	// publishing RoundClosed.
	ScoreSettle time.Duration
}

// round runs one round and checks that every peer was scored and paid.
func (nw *network) round(ctx context.Context, s Settings) (roundTime, error) {
	nw.phases.reset()
	start := time.Now()
	rep, err := nw.srv.RunRound(ctx)
	end := time.Now()
	if err != nil {
		return roundTime{}, fmt.Errorf("%d peers: %w", nw.n, err)
	}
	if err := nw.check(rep); err != nil {
		return roundTime{}, err
	}
	first, last, ok := nw.phases.span()
	if !ok {
		return roundTime{}, fmt.Errorf("%d peers: round %d called no model", nw.n, rep.Round)
	}
	return roundTime{
		Total:       end.Sub(start) - s.Distill,
		OpenSend:    first.Sub(start) - s.Distill,
		Answers:     last.Sub(first),
		ScoreSettle: end.Sub(last),
	}, nil
}

// check refuses a round that did not evaluate every peer, scored any as
// other than scored, or paid fewer than all of them.
func (nw *network) check(rep *coordinator.RoundReport) error {
	switch {
	case rep.Skipped:
		return fmt.Errorf("%d peers: round skipped: no active peer", nw.n)
	case rep.Peers != nw.n || len(rep.Results) != nw.n:
		return fmt.Errorf("%d peers: round %d evaluated %d peers (%d results)", nw.n, rep.Round, rep.Peers, len(rep.Results))
	case rep.Settlement == nil:
		return fmt.Errorf("%d peers: round %d has no settlement", nw.n, rep.Round)
	}
	var errs []error
	for _, r := range rep.Results {
		if r.Status != ledger.EvalScored && len(errs) < 3 {
			errs = append(errs, fmt.Errorf("%s: %s", r.Identity, r.Status))
		}
	}
	if len(rep.Settlement.Payouts) != nw.n && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%d payouts", len(rep.Settlement.Payouts)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%d peers: round %d: not every peer was scored and paid: %w", nw.n, rep.Round, err)
	}
	return nil
}

// warm runs k rounds to open the coordinator's connections to the peers
// and fill the caches; a peer may time out in them (the first round
// dials every peer at once), but every round must settle. It returns how
// many answers were not scored.
func (nw *network) warm(ctx context.Context, k int) (int, error) {
	missed := 0
	for range k {
		rep, err := nw.srv.RunRound(ctx)
		if err != nil {
			return missed, fmt.Errorf("%d peers: warm-up: %w", nw.n, err)
		}
		if rep.Skipped || rep.Settlement == nil {
			return missed, fmt.Errorf("%d peers: warm-up round skipped or not settled", nw.n)
		}
		for _, r := range rep.Results {
			if r.Status != ledger.EvalScored {
				missed++
			}
		}
		missed += nw.n - len(rep.Results)
	}
	return missed, nil
}

// rounds runs k rounds and returns their times.
func (nw *network) rounds(ctx context.Context, s Settings, k int) ([]roundTime, error) {
	out := make([]roundTime, 0, k)
	for range k {
		t, err := nw.round(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
