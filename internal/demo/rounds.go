package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// roundWatch shows the rounds as they happen: the open round's phase as a
// status, and a row per closed round with every peer's validation loss and
// accuracy as the coordinator scored them.
type roundWatch struct {
	peers   []peerSpec
	rounds  int           // settled rounds to wait for
	every   time.Duration // the coordinator's --round-every (for the wait before a round)
	distill time.Duration // the coordinator's --distill-timeout (to name an open round's phase)
	clock   clock
	out     *progress
}

// Column widths of the progress rows.
const (
	timeCol  = 6
	roundCol = 6
	phaseCol = 12
	cellCol  = 10
)

// run shows the rounds until w.rounds have settled, then reads the ledger
// (balances, supply) and returns what it saw.
func (w *roundWatch) run(ctx context.Context, cc grpc.ClientConnInterface) (*summary, error) {
	coord := taonetv1.NewCoordinatorClient(cc)
	w.header()
	s := &summary{}
	next, settled := uint64(1), 0
	var lastOpened time.Time
	for settled < w.rounds {
		latest, err := latestRound(ctx, coord)
		switch {
		case err != nil && ctx.Err() != nil:
			w.out.clear()
			return nil, fmt.Errorf("waiting for %d settled rounds (%d so far): %w", w.rounds, settled, ctx.Err())
		case err != nil:
			w.out.show(fmt.Sprintf("coordinator: %v", err), "")
		case latest == nil || latest.GetNumber() < next:
			w.waiting(next, lastOpened)
		}
		for n := next; latest != nil && n <= latest.GetNumber() && settled < w.rounds; n++ {
			r := latest
			if n != latest.GetNumber() {
				resp, err := coord.GetRound(ctx, &taonetv1.GetRoundRequest{Number: n})
				if err != nil {
					break
				}
				r = resp.GetRound()
			}
			if r.GetState() == taonetv1.RoundState_ROUND_STATE_OPEN {
				lastOpened = r.GetOpenedAt().AsTime()
				w.open(r)
				break
			}
			lastOpened = r.GetOpenedAt().AsTime()
			w.closed(r)
			s.Rounds = append(s.Rounds, newRoundSummary(r))
			if r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED {
				settled++
			}
			next = n + 1
		}
		if settled >= w.rounds {
			break
		}
		select {
		case <-ctx.Done():
			w.out.clear()
			return nil, fmt.Errorf("waiting for %d settled rounds (%d so far): %w", w.rounds, settled, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
	if err := collectLedger(ctx, cc, s); err != nil {
		return nil, err
	}
	return s, nil
}

// latestRound is the newest round, or nil before the first.
func latestRound(ctx context.Context, coord taonetv1.CoordinatorClient) (*taonetv1.Round, error) {
	resp, err := coord.ListRounds(ctx, &taonetv1.ListRoundsRequest{PageSize: 1})
	if err != nil {
		return nil, fmt.Errorf("list rounds: %w", err)
	}
	if len(resp.GetRounds()) == 0 {
		return nil, nil
	}
	return resp.GetRounds()[0], nil
}

// header names the columns: one per peer, its name over its model.
func (w *roundWatch) header() {
	var names, models strings.Builder
	for _, p := range w.peers {
		fmt.Fprintf(&names, "%-*s", cell(p.Name), p.Name)
		fmt.Fprintf(&models, "%-*s", cell(p.Name), p.Model)
	}
	w.out.line("Each round: the phase, then every peer's validation loss and accuracy as the coordinator scored it.")
	w.out.line("%*s  %*s  %-*s%s", timeCol, "time", roundCol, "round", phaseCol, "phase", strings.TrimRight(names.String(), " "))
	w.out.line("%*s  %*s  %-*s%s", timeCol, "", roundCol, "", phaseCol, "", strings.TrimRight(models.String(), " "))
}

// waiting shows that round n has not opened yet.
func (w *roundWatch) waiting(n uint64, lastOpened time.Time) {
	detail := ""
	if w.every > 0 && !lastOpened.IsZero() {
		if left := time.Until(lastOpened.Add(w.every)); left > 0 {
			detail = fmt.Sprintf(", opens in %ds", int(left.Seconds()+0.5))
		}
	}
	w.out.show(fmt.Sprintf("%*d  waiting", roundCol, n), detail)
}

// open shows the phase of the open round r.
func (w *roundWatch) open(r *taonetv1.Round) {
	phase, detail := "evaluating", ""
	if w.distill > 0 {
		if left := time.Until(r.GetOpenedAt().AsTime().Add(w.distill)); left > 0 {
			phase, detail = "distilling", fmt.Sprintf(", %ds left", int(left.Seconds()+0.5))
		}
	}
	w.out.show(fmt.Sprintf("%*d  %s", roundCol, r.GetNumber(), phase), detail)
}

// closed writes the row of the closed round r.
func (w *roundWatch) closed(r *taonetv1.Round) {
	evals := newRoundSummary(r).Evaluations
	var row strings.Builder
	for _, p := range w.peers {
		e, ok := evals[p.Name]
		fmt.Fprintf(&row, "%-*s", cell(p.Name), cellText(e, ok))
	}
	state := "settled"
	if r.GetState() == taonetv1.RoundState_ROUND_STATE_ABORTED {
		state = "aborted"
	}
	w.out.line("%*s  %*d  %-*s%s", timeCol, w.clock.stamp(), roundCol, r.GetNumber(), phaseCol, state, strings.TrimRight(row.String(), " "))
}

// cellText is one peer's result in a round: "1.97 41%", or its status when
// it was not scored, or "-" when the round has no evaluation of it (ok
// false).
func cellText(e evalSummary, ok bool) string {
	if !ok {
		return "-"
	}
	if e.Status != "scored" {
		return e.Status
	}
	return fmt.Sprintf("%.2f %2.0f%%", e.Loss, 100*e.Accuracy)
}

// cell is the width of a peer's column.
func cell(name string) int { return max(cellCol, len(name)+2) }
