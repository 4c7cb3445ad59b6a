package ledger

import (
	"context"
	"fmt"
	"strings"
)

// Bounds of History: however large the ledger, one History holds at most
// MaxHistoryRounds rounds of at most MaxHistoryPeers peers each.
const (
	MaxHistoryRounds = 1000
	MaxHistoryPeers  = 100
)

// History is the recent past of the network, for plots: the last rounds,
// oldest first, with the evaluations and balances of a bounded set of
// peers.
type History struct {
	// Peers are the identities whose evaluations and balances Rounds
	// carry: of the peers evaluated in any of Rounds, those with the
	// largest balances now, then by identity.
	Peers  []string
	Rounds []HistoryRound
}

// HistoryRound is one round of a History.
type HistoryRound struct {
	// Round is the round as ListRounds returns it, with the Evaluations
	// of History.Peers only (by identity).
	Round
	// Evaluated and Scored count the round's evaluations of every peer,
	// and those with status scored.
	Evaluated, Scored int
	// Minted is the supply once the round closed: everything minted up
	// to and including it, in rao.
	Minted uint64
	// Balances holds the balance of each of History.Peers (same order)
	// once the round closed, in rao.
	Balances []uint64
}

// History returns the last rounds (at most MaxHistoryRounds) with the
// evaluations and balances of at most peers (MaxHistoryPeers) peers, read
// from one snapshot. Every query reads only the window's rows: supply and
// balances before the window are the current ones less what the window
// paid. An empty ledger gives an empty History. Errors: EINVALID for
// rounds or peers out of range; an internal error when the supply or a
// balance is smaller than what the window paid (a ledger that fails
// `coordinator ledger verify`).
func (db *DB) History(ctx context.Context, rounds, peers int) (*History, error) {
	if rounds < 1 || rounds > MaxHistoryRounds || peers < 1 || peers > MaxHistoryPeers {
		return nil, ledgerErrorf(EINVALID, "history of %d rounds and %d peers: want 1 to %d rounds and 1 to %d peers",
			rounds, peers, MaxHistoryRounds, MaxHistoryPeers)
	}
	h := &History{Peers: []string{}, Rounds: []HistoryRound{}}
	err := db.viewSnapshot(ctx, func(q sqlQuerier) error {
		if err := historyRounds(ctx, q, h, rounds); err != nil || len(h.Rounds) == 0 {
			return err
		}
		first := int64(h.Rounds[0].Number)
		if err := historyCounts(ctx, q, h, first); err != nil {
			return err
		}
		if err := historyPeers(ctx, q, h, first, peers); err != nil {
			return err
		}
		if err := historyEvaluations(ctx, q, h, first); err != nil {
			return err
		}
		return historyTotals(ctx, q, h)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// historyRounds reads the last n rounds into h, oldest first.
func historyRounds(ctx context.Context, q sqlQuerier, h *History, n int) error {
	rows, err := q.QueryContext(ctx, `SELECT `+roundColumns+` FROM `+roundTables+` ORDER BY r.number DESC LIMIT ?`, n)
	if err != nil {
		return fmt.Errorf("history: rounds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRound(rows)
		if err != nil {
			return fmt.Errorf("history: rounds: %w", err)
		}
		h.Rounds = append(h.Rounds, HistoryRound{Round: *r})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: rounds: %w", err)
	}
	for i, j := 0, len(h.Rounds)-1; i < j; i, j = i+1, j-1 {
		h.Rounds[i], h.Rounds[j] = h.Rounds[j], h.Rounds[i]
	}
	return nil
}

// historyCounts counts every peer's evaluations of the rounds from first.
func historyCounts(ctx context.Context, q sqlQuerier, h *History, first int64) error {
	rows, err := q.QueryContext(ctx, `SELECT round, COUNT(*), COALESCE(SUM(status = 'scored'), 0)
		FROM evaluations WHERE round >= ? GROUP BY round`, first)
	if err != nil {
		return fmt.Errorf("history: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var round int64
		var evaluated, scored int
		if err := rows.Scan(&round, &evaluated, &scored); err != nil {
			return fmt.Errorf("history: counts: %w", err)
		}
		if r := h.round(round); r != nil {
			r.Evaluated, r.Scored = evaluated, scored
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: counts: %w", err)
	}
	return nil
}

// historyPeers picks at most n of the peers evaluated since round first:
// the largest balances now, then by identity.
func historyPeers(ctx context.Context, q sqlQuerier, h *History, first int64, n int) error {
	rows, err := q.QueryContext(ctx, `SELECT e.identity FROM (SELECT DISTINCT identity FROM evaluations WHERE round >= ?) e
		LEFT JOIN accounts a ON a.identity = e.identity
		ORDER BY COALESCE(a.balance, 0) DESC, e.identity LIMIT ?`, first, n)
	if err != nil {
		return fmt.Errorf("history: peers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("history: peers: %w", err)
		}
		h.Peers = append(h.Peers, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: peers: %w", err)
	}
	return nil
}

// historyEvaluations reads the evaluations of h.Peers since round first.
func historyEvaluations(ctx context.Context, q sqlQuerier, h *History, first int64) error {
	if len(h.Peers) == 0 {
		return nil
	}
	args := []any{first}
	for _, id := range h.Peers {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, `SELECT round, identity, loss, accuracy, weight, shares, status, payout
		FROM evaluations WHERE round >= ? AND identity IN (`+placeholders(len(h.Peers))+`) ORDER BY round, identity`, args...)
	if err != nil {
		return fmt.Errorf("history: evaluations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Evaluation
		var round, shares, payout int64
		if err := rows.Scan(&round, &e.Identity, &e.Loss, &e.Accuracy, &e.Weight, &shares, &e.Status, &payout); err != nil {
			return fmt.Errorf("history: evaluations: %w", err)
		}
		e.Shares, e.Payout = uint64(shares), uint64(payout)
		if r := h.round(round); r != nil {
			r.Evaluations = append(r.Evaluations, e)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: evaluations: %w", err)
	}
	return nil
}

// historyTotals fills each round's supply and balances: the current supply
// and balances, less what the window minted and paid, then added up again
// round by round.
func historyTotals(ctx context.Context, q sqlQuerier, h *History) error {
	var minted int64
	if err := q.QueryRowContext(ctx, `SELECT minted FROM supply WHERE id = 1`).Scan(&minted); err != nil {
		return fmt.Errorf("history: supply: %w", err)
	}
	before := uint64(minted)
	balances := make([]uint64, len(h.Peers))
	index := make(map[string]int, len(h.Peers))
	for i, id := range h.Peers {
		index[id] = i
	}
	if err := historyBalances(ctx, q, h.Peers, index, balances); err != nil {
		return err
	}
	for _, r := range h.Rounds {
		if before < r.Emission {
			return fmt.Errorf("history: the supply minted (%d rao) is less than the emission of the rounds since %d: run coordinator ledger verify", minted, h.Rounds[0].Number)
		}
		before -= r.Emission
		for _, e := range r.Evaluations {
			i := index[e.Identity]
			if balances[i] < e.Payout {
				return fmt.Errorf("history: the balance of %s is less than its payouts since round %d: run coordinator ledger verify", e.Identity, h.Rounds[0].Number)
			}
			balances[i] -= e.Payout
		}
	}
	for i := range h.Rounds {
		r := &h.Rounds[i]
		before += r.Emission
		for _, e := range r.Evaluations {
			balances[index[e.Identity]] += e.Payout
		}
		r.Minted, r.Balances = before, append([]uint64(nil), balances...)
	}
	return nil
}

// historyBalances reads the current balances of ids into out (0 for an
// identity never paid).
func historyBalances(ctx context.Context, q sqlQuerier, ids []string, index map[string]int, out []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT identity, balance FROM accounts WHERE identity IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return fmt.Errorf("history: balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			return fmt.Errorf("history: balances: %w", err)
		}
		out[index[id]] = uint64(bal)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: balances: %w", err)
	}
	return nil
}

// round is the round numbered n in h, nil if h has none.
func (h *History) round(n int64) *HistoryRound {
	first := int64(h.Rounds[0].Number)
	if i := n - first; i >= 0 && i < int64(len(h.Rounds)) && int64(h.Rounds[i].Number) == n {
		return &h.Rounds[i]
	}
	return nil
}

// placeholders is "?, ?, ..." with n question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
