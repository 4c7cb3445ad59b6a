package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/taonet/taonet/ledger"
)

// historyLine is one round of a History as text, for comparisons.
func historyLine(r ledger.HistoryRound) string {
	evs := ""
	for _, e := range r.Evaluations {
		evs += fmt.Sprintf(" %s:%s:%d", e.Identity[len(e.Identity)-1:], e.Status, e.Payout)
	}
	return fmt.Sprintf("%d %s %d/%d minted %d balances %v evals%s", r.Number, r.State, r.Scored, r.Evaluated, r.Minted, r.Balances, evs)
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	mustInitialEmission(t, db, 100)
	ids := mustPeers(t, db, "a", "b", "c")
	mustSettle(t, db, 1, scored(ids[:2], 1, 1))
	mustOpenRound(t, db, 2)
	if _, err := db.AbortOpen(ctx); err != nil {
		t.Fatal(err)
	}
	evs := append(scored(ids[:2], 3, 1), ledger.Evaluation{Identity: ids[2], Loss: 0, Status: ledger.EvalTimeout})
	mustSettle(t, db, 3, evs)
	mustSettle(t, db, 4, scored(ids[1:], 1, 3))
	mustOpenRound(t, db, 5)
	// Balances now: a 50+75 = 125, b 50+25+25 = 100, c 75.
	tests := []struct {
		name          string
		rounds, peers int
		peerIDs       []string
		want          []string
	}{
		{"OKAll", 10, 10, ids, []string{
			"1 settled 2/2 minted 100 balances [50 50 0] evals a:scored:50 b:scored:50",
			"2 aborted 0/0 minted 100 balances [50 50 0] evals",
			"3 settled 2/3 minted 200 balances [125 75 0] evals a:scored:75 b:scored:25 c:timeout:0",
			"4 settled 2/2 minted 300 balances [125 100 75] evals b:scored:25 c:scored:75",
			"5 open 0/0 minted 300 balances [125 100 75] evals",
		}},
		// The window starts at round 3: its supply and balances are what
		// was there before it, added up again.
		{"OKWindow", 3, 10, ids, []string{
			"3 settled 2/3 minted 200 balances [125 75 0] evals a:scored:75 b:scored:25 c:timeout:0",
			"4 settled 2/2 minted 300 balances [125 100 75] evals b:scored:25 c:scored:75",
			"5 open 0/0 minted 300 balances [125 100 75] evals",
		}},
		// Two of the three peers evaluated in the window: the largest
		// balances; the counts still cover every peer.
		{"OKFewerPeers", 3, 2, ids[:2], []string{
			"3 settled 2/3 minted 200 balances [125 75] evals a:scored:75 b:scored:25",
			"4 settled 2/2 minted 300 balances [125 100] evals b:scored:25",
			"5 open 0/0 minted 300 balances [125 100] evals",
		}},
		// Only the peers evaluated in the window.
		{"OKWindowPeers", 2, 10, ids[1:], []string{
			"4 settled 2/2 minted 300 balances [100 75] evals b:scored:25 c:scored:75",
			"5 open 0/0 minted 300 balances [100 75] evals",
		}},
		// Round 5 alone has no evaluations, so no peers.
		{"OKNoPeers", 1, 5, []string{}, []string{
			"5 open 0/0 minted 300 balances [] evals",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := db.History(ctx, tt.rounds, tt.peers)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Peers, tt.peerIDs) {
				t.Errorf("peers = %v, want %v", h.Peers, tt.peerIDs)
			}
			var got []string
			for _, r := range h.Rounds {
				got = append(got, historyLine(r))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("history:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	t.Run("OKEndsAtTheLedger", func(t *testing.T) {
		h, err := db.History(ctx, ledger.MaxHistoryRounds, ledger.MaxHistoryPeers)
		if err != nil {
			t.Fatal(err)
		}
		last := h.Rounds[len(h.Rounds)-1]
		sup, err := db.GetSupply(ctx)
		if err != nil || last.Minted != sup.Minted {
			t.Fatalf("minted after the last round = %d, supply %+v, %v", last.Minted, sup, err)
		}
		for i, id := range h.Peers {
			b, err := db.GetBalance(ctx, id)
			if err != nil || b.Rao != last.Balances[i] {
				t.Errorf("balance of %s = %d in the history, %+v, %v in the ledger", id, last.Balances[i], b, err)
			}
		}
	})
}

func TestHistoryEmpty(t *testing.T) {
	h, err := mustLedger(t).History(context.Background(), 10, 10)
	if err != nil || len(h.Rounds) != 0 || len(h.Peers) != 0 {
		t.Fatalf("history of an empty ledger = %+v, %v", h, err)
	}
}

func TestHistoryRefused(t *testing.T) {
	db := mustLedger(t)
	for _, tt := range []struct {
		name          string
		rounds, peers int
	}{
		{"ErrNoRounds", 0, 10},
		{"ErrTooManyRounds", ledger.MaxHistoryRounds + 1, 10},
		{"ErrNoPeers", 10, 0},
		{"ErrTooManyPeers", 10, ledger.MaxHistoryPeers + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.History(context.Background(), tt.rounds, tt.peers)
			wantCode(t, err, ledger.EINVALID)
		})
	}
}
