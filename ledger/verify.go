package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// The invariants Verify checks, in the order it checks them. Each is a
// promise of docs/design.md "TAO"; the last few are consequences that pinpoint
// where the books went wrong.
const (
	InvNonNegative       = "no negative amounts"
	InvMintedWithinCap   = "minted supply never exceeds the cap"
	InvUniquePayouts     = "no (round, account) pair is paid twice"
	InvUnsettledUnpaid   = "open and aborted rounds paid nothing"
	InvRoundSum          = "each settled round's payouts sum to its emission"
	InvEvaluationPayouts = "each evaluation's payout matches the payouts"
	InvSchedule          = "each settled round minted what the schedule allows"
	InvPayoutsMinted     = "the sum of payouts equals minted supply"
	InvBalancesMinted    = "the sum of balances equals minted supply"
	InvAccountBalances   = "each balance equals the sum of its payouts"
)

// InvariantError reports the first broken invariant Verify found.
type InvariantError struct {
	// Invariant is one of the Inv* constants.
	Invariant string
	// Detail names the rows that break it.
	Detail string
}

// Error implements error.
func (e *InvariantError) Error() string {
	return fmt.Sprintf("ledger invariant broken: %s: %s", e.Invariant, e.Detail)
}

// invariantCheck is one query that returns a description of the first row
// breaking an invariant, or no row when it holds.
type invariantCheck struct {
	name  string
	query string
}

var invariantChecks = []invariantCheck{
	{InvNonNegative, `SELECT 'account ' || identity || ' has balance ' || balance FROM accounts WHERE balance < 0
		UNION ALL SELECT 'round ' || round || ' pays ' || account || ' ' || amount FROM payouts WHERE amount < 0
		UNION ALL SELECT 'round ' || number || ' has emission ' || emission FROM rounds WHERE emission < 0
		UNION ALL SELECT 'round ' || round || ' evaluation of ' || identity || ' has shares ' || shares || ' and payout ' || payout
			FROM evaluations WHERE shares < 0 OR payout < 0
		UNION ALL SELECT 'minted is ' || minted || ' and initial emission ' || initial_emission FROM supply WHERE minted < 0 OR initial_emission < 0
		LIMIT 1`},
	{InvMintedWithinCap, `SELECT 'minted is ' || minted || ' rao, cap is ' || ? || ' rao' FROM supply WHERE minted > ?`},
	{InvUniquePayouts, `SELECT 'round ' || round || ' pays ' || account || ' ' || COUNT(*) || ' times'
		FROM payouts GROUP BY round, account HAVING COUNT(*) > 1 ORDER BY round, account LIMIT 1`},
	{InvUnsettledUnpaid, `SELECT 'round ' || p.round || ' (' || COALESCE(r.state, 'missing') || ') pays ' || p.account || ' ' || p.amount
			FROM payouts p LEFT JOIN rounds r ON r.number = p.round WHERE r.state IS NOT 'settled'
		UNION ALL SELECT 'round ' || number || ' (' || state || ') has emission ' || emission FROM rounds WHERE state <> 'settled' AND emission <> 0
		UNION ALL SELECT 'round ' || e.round || ' (' || COALESCE(r.state, 'missing') || ') has an evaluation of ' || e.identity
			FROM evaluations e LEFT JOIN rounds r ON r.number = e.round WHERE r.state IS NOT 'settled'
		LIMIT 1`},
	{InvRoundSum, `SELECT 'round ' || r.number || ' emitted ' || r.emission || ' but pays ' || COALESCE(SUM(p.amount), 0)
		FROM rounds r LEFT JOIN payouts p ON p.round = r.number WHERE r.state = 'settled'
		GROUP BY r.number HAVING COALESCE(SUM(p.amount), 0) <> r.emission ORDER BY r.number LIMIT 1`},
	{InvEvaluationPayouts, `SELECT 'round ' || e.round || ': evaluation of ' || e.identity || ' says ' || e.payout || ', payouts say ' || COALESCE(p.amount, 0)
			FROM evaluations e LEFT JOIN payouts p ON p.round = e.round AND p.account = e.identity
			WHERE e.payout <> COALESCE(p.amount, 0)
		UNION ALL SELECT 'round ' || p.round || ' pays ' || p.account || ', who has no evaluation'
			FROM payouts p WHERE NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.round = p.round AND e.identity = p.account)
		LIMIT 1`},
	{InvPayoutsMinted, `SELECT 'payouts sum to ' || (SELECT COALESCE(SUM(amount), 0) FROM payouts) || ', minted is ' || minted
		FROM supply WHERE minted <> (SELECT COALESCE(SUM(amount), 0) FROM payouts)`},
	{InvBalancesMinted, `SELECT 'balances sum to ' || (SELECT COALESCE(SUM(balance), 0) FROM accounts) || ', minted is ' || minted
		FROM supply WHERE minted <> (SELECT COALESCE(SUM(balance), 0) FROM accounts)`},
	{InvAccountBalances, `SELECT 'account ' || a.identity || ' has ' || a.balance || ' but was paid ' ||
			COALESCE((SELECT SUM(amount) FROM payouts p WHERE p.account = a.identity), 0)
		FROM accounts a WHERE a.balance <> COALESCE((SELECT SUM(amount) FROM payouts p WHERE p.account = a.identity), 0)
		ORDER BY a.identity LIMIT 1`},
}

// Verify checks every invariant of docs/design.md "TAO" on one consistent
// snapshot of the database and returns an *InvariantError naming the first
// broken one, nil when the books are sound, or another error when the
// database cannot be read.
func (db *DB) Verify(ctx context.Context) error {
	return db.viewSnapshot(ctx, func(q sqlQuerier) error {
		for i, c := range invariantChecks {
			if c.name == InvPayoutsMinted {
				// The schedule is checked before the totals: a wrong emission
				// is the more precise diagnosis.
				if err := verifySchedule(ctx, q); err != nil {
					return err
				}
			}
			var args []any
			if c.name == InvMintedWithinCap {
				args = []any{int64(Cap), int64(Cap)}
			}
			var detail string
			err := q.QueryRowContext(ctx, c.query, args...).Scan(&detail)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("verify ledger: check %d (%s): %w", i+1, c.name, err)
			}
			return &InvariantError{Invariant: c.name, Detail: detail}
		}
		return nil
	})
}

// verifySchedule replays the emission schedule over the settled rounds in
// order: each minted Emission(cap, E0, minted so far), or 0 if it had no
// shares.
func verifySchedule(ctx context.Context, q sqlQuerier) error {
	var e0 int64
	if err := q.QueryRowContext(ctx, `SELECT initial_emission FROM supply WHERE id = 1`).Scan(&e0); err != nil {
		return fmt.Errorf("verify ledger: read supply: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT r.number, r.emission,
		EXISTS (SELECT 1 FROM evaluations e WHERE e.round = r.number AND e.shares > 0)
		FROM rounds r WHERE r.state = 'settled' ORDER BY r.number`)
	if err != nil {
		return fmt.Errorf("verify ledger: read rounds: %w", err)
	}
	defer rows.Close()
	var minted uint64
	for rows.Next() {
		var number, emission int64
		var shared bool
		if err := rows.Scan(&number, &emission, &shared); err != nil {
			return fmt.Errorf("verify ledger: read rounds: %w", err)
		}
		want := uint64(0)
		if shared {
			want = Emission(Cap, uint64(e0), minted)
		}
		if uint64(emission) != want {
			return &InvariantError{Invariant: InvSchedule,
				Detail: fmt.Sprintf("round %d emitted %d rao after %d were minted; the schedule allows %d", number, emission, minted, want)}
		}
		minted += want
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify ledger: read rounds: %w", err)
	}
	return nil
}

// sqlQuerier is what reads need from a transaction or a connection.
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// viewSnapshot runs fn inside one deferred (read) transaction on a single
// connection, so every query of fn sees the same committed state while a
// writer carries on in WAL mode. BeginTx cannot be used for this: the
// database is opened with _txlock=immediate, which makes every Go
// transaction take the write lock.
func (db *DB) viewSnapshot(ctx context.Context, fn func(q sqlQuerier) error) error {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return fmt.Errorf("read snapshot: begin: %w", err)
	}
	fnErr := fn(conn)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); err != nil {
		// Never hand a connection with an open transaction back to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		if fnErr == nil {
			return fmt.Errorf("read snapshot: end: %w", err)
		}
	}
	return fnErr
}
