package ledger

import (
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The invariants Verify checks, in the order it checks them. Each is a
// promise of docs/design.md "TAO"; the money checks come first, since they
// give the most precise diagnosis, then the chain of settled rounds, which
// catches a consistent rewrite of history, then the directory, and last
// SQLite's own checks as a catch-all.
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
	InvRoundSequence     = "rounds are numbered 1, 2, 3, ... with none missing"
	InvChain             = "each settled round hashes to its recorded chain hash"
	InvChainSignature    = "each chain hash is signed by a coordinator certificate of the network"
	InvAccountDirectory  = "every account and evaluation names an identity in the directory"
	InvDirectoryCerts    = "every identity in the directory was issued a certificate"
	InvRevocations       = "an identity is revoked in the directory exactly when a revocation records it"
	InvForeignKeys       = "every reference between tables resolves (foreign_key_check)"
	InvIntegrity         = "the database passes integrity_check"
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
// breaking an invariant, or no row when it holds; or, when run is set, a
// check written in Go that returns an *InvariantError.
type invariantCheck struct {
	name  string
	query string
	run   func(ctx context.Context, q sqlQuerier, v *verification) error
}

var invariantChecks = []invariantCheck{
	{name: InvNonNegative, query: `SELECT 'account ' || identity || ' has balance ' || balance FROM accounts WHERE balance < 0
		UNION ALL SELECT 'round ' || round || ' pays ' || account || ' ' || amount FROM payouts WHERE amount < 0
		UNION ALL SELECT 'round ' || number || ' has emission ' || emission FROM rounds WHERE emission < 0
		UNION ALL SELECT 'round ' || round || ' evaluation of ' || identity || ' has shares ' || shares || ' and payout ' || payout
			FROM evaluations WHERE shares < 0 OR payout < 0
		UNION ALL SELECT 'minted is ' || minted || ' and initial emission ' || initial_emission FROM supply WHERE minted < 0 OR initial_emission < 0
		LIMIT 1`},
	{name: InvMintedWithinCap, query: `SELECT 'minted is ' || minted || ' rao, cap is ' || ` + capRao + ` || ' rao' FROM supply WHERE minted > ` + capRao},
	{name: InvUniquePayouts, query: `SELECT 'round ' || round || ' pays ' || account || ' ' || COUNT(*) || ' times'
		FROM payouts GROUP BY round, account HAVING COUNT(*) > 1 ORDER BY round, account LIMIT 1`},
	{name: InvUnsettledUnpaid, query: `SELECT 'round ' || p.round || ' (' || COALESCE(r.state, 'missing') || ') pays ' || p.account || ' ' || p.amount
			FROM payouts p LEFT JOIN rounds r ON r.number = p.round WHERE r.state IS NOT 'settled'
		UNION ALL SELECT 'round ' || number || ' (' || state || ') has emission ' || emission FROM rounds WHERE state <> 'settled' AND emission <> 0
		UNION ALL SELECT 'round ' || e.round || ' (' || COALESCE(r.state, 'missing') || ') has an evaluation of ' || e.identity
			FROM evaluations e LEFT JOIN rounds r ON r.number = e.round WHERE r.state IS NOT 'settled'
		LIMIT 1`},
	{name: InvRoundSum, query: `SELECT 'round ' || r.number || ' emitted ' || r.emission || ' but pays ' || COALESCE(SUM(p.amount), 0)
		FROM rounds r LEFT JOIN payouts p ON p.round = r.number WHERE r.state = 'settled'
		GROUP BY r.number HAVING COALESCE(SUM(p.amount), 0) <> r.emission ORDER BY r.number LIMIT 1`},
	{name: InvEvaluationPayouts, query: `SELECT 'round ' || e.round || ': evaluation of ' || e.identity || ' says ' || e.payout || ', payouts say ' || COALESCE(p.amount, 0)
			FROM evaluations e LEFT JOIN payouts p ON p.round = e.round AND p.account = e.identity
			WHERE e.payout <> COALESCE(p.amount, 0)
		UNION ALL SELECT 'round ' || p.round || ' pays ' || p.account || ', who has no evaluation'
			FROM payouts p WHERE NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.round = p.round AND e.identity = p.account)
		LIMIT 1`},
	// The schedule is checked before the totals: a wrong emission is the
	// more precise diagnosis.
	{name: InvSchedule, run: verifySchedule},
	// With the round sums and unsettled rounds unpaid, this is also "minted
	// equals the settled rounds' emissions"; the detail says which rounds
	// remain, for a history that was deleted without the supply.
	{name: InvPayoutsMinted, query: `SELECT 'payouts sum to ' || (SELECT COALESCE(SUM(amount), 0) FROM payouts) || ', minted is ' || minted ||
			' (settled rounds: ' || COALESCE((SELECT COUNT(*) || ', numbered ' || MIN(number) || ' to ' || MAX(number) || ', emitting ' || SUM(emission)
				FROM rounds WHERE state = 'settled' HAVING COUNT(*) > 0), 'none') || ')'
		FROM supply WHERE minted <> (SELECT COALESCE(SUM(amount), 0) FROM payouts)`},
	{name: InvBalancesMinted, query: `SELECT 'balances sum to ' || (SELECT COALESCE(SUM(balance), 0) FROM accounts) || ', minted is ' || minted
		FROM supply WHERE minted <> (SELECT COALESCE(SUM(balance), 0) FROM accounts)`},
	{name: InvAccountBalances, query: `SELECT 'account ' || a.identity || ' has ' || a.balance || ' but was paid ' ||
			COALESCE((SELECT SUM(amount) FROM payouts p WHERE p.account = a.identity), 0)
		FROM accounts a WHERE a.balance <> COALESCE((SELECT SUM(amount) FROM payouts p WHERE p.account = a.identity), 0)
		ORDER BY a.identity LIMIT 1`},
	{name: InvRoundSequence, query: `SELECT 'round' || CASE WHEN MIN(number) = 2 THEN ' 1 is' ELSE 's 1 to ' || (MIN(number) - 1) || ' are' END ||
			' missing: the first round is ' || MIN(number) || ' (' || (SELECT state FROM rounds ORDER BY number LIMIT 1) || ')'
			FROM rounds HAVING MIN(number) <> 1
		UNION ALL SELECT 'round ' || (r.number - 1) || ' is missing before round ' || r.number || ' (' || r.state || ')'
			FROM rounds r WHERE r.number > 1 AND NOT EXISTS (SELECT 1 FROM rounds p WHERE p.number = r.number - 1)
		LIMIT 1`},
	{name: InvChain, run: verifyChain},
	{name: InvAccountDirectory, query: `SELECT 'account ' || a.identity || ' has no directory row'
			FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM directory d WHERE d.identity = a.identity)
		UNION ALL SELECT 'round ' || e.round || ' evaluates ' || e.identity || ', who has no directory row'
			FROM evaluations e WHERE NOT EXISTS (SELECT 1 FROM directory d WHERE d.identity = e.identity)
		LIMIT 1`},
	{name: InvDirectoryCerts, query: `SELECT d.role || ' ' || d.identity || ' (' || d.state || ') was never issued a certificate'
		FROM directory d WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.identity = d.identity)
		ORDER BY d.identity LIMIT 1`},
	{name: InvRevocations, query: `SELECT d.identity || ' is revoked in the directory but no revocation records it'
			FROM directory d WHERE d.state = 'revoked' AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.identity = d.identity)
		UNION ALL SELECT 'a revocation records ' || r.identity || ', whose directory state is ' || COALESCE(d.state, 'missing')
			FROM revocations r LEFT JOIN directory d ON d.identity = r.identity WHERE d.state IS NOT 'revoked'
		LIMIT 1`},
	{name: InvForeignKeys, run: verifyForeignKeys},
	{name: InvIntegrity, run: verifyIntegrity},
}

// capRao is Cap as an SQL literal.
var capRao = strconv.FormatUint(Cap, 10)

// Verify checks every invariant of docs/design.md "TAO" and of the chain
// of settled rounds on one consistent snapshot of the database, checking
// each round's signature against ca, the network's CA certificate. It
// returns the chain it recomputed; an *InvariantError naming the first
// broken invariant; or another error when the database cannot be read.
func (db *DB) Verify(ctx context.Context, ca *x509.Certificate) (Chain, error) {
	if ca == nil {
		return Chain{}, errors.New("verify ledger: no CA certificate to check round signatures against")
	}
	v := &verification{ca: ca}
	err := db.viewSnapshot(ctx, func(q sqlQuerier) error {
		for i, c := range invariantChecks {
			if c.run != nil {
				if err := c.run(ctx, q, v); err != nil {
					return err
				}
				continue
			}
			var detail string
			err := q.QueryRowContext(ctx, c.query).Scan(&detail)
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
	if err != nil {
		return Chain{}, err
	}
	return v.chain, nil
}

// verification is the state one Verify carries between its checks.
type verification struct {
	ca    *x509.Certificate
	chain Chain
}

// verifySchedule replays the emission schedule over the settled rounds in
// order: each minted Emission(cap, E0, minted so far), or 0 if it had no
// shares.
func verifySchedule(ctx context.Context, q sqlQuerier, _ *verification) error {
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

// verifyForeignKeys runs PRAGMA foreign_key_check, which finds what a
// writer with foreign keys off (the sqlite3 shell's default) left dangling.
func verifyForeignKeys(ctx context.Context, q sqlQuerier, _ *verification) error {
	rows, err := q.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("verify ledger: foreign_key_check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("verify ledger: foreign_key_check: %w", err)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("verify ledger: foreign_key_check: %w", err)
		}
		row, err := describeRow(ctx, q, table, rowid.Int64)
		if err != nil {
			return fmt.Errorf("verify ledger: foreign_key_check: %w", err)
		}
		return &InvariantError{Invariant: InvForeignKeys,
			Detail: fmt.Sprintf("%s row %d (%s) refers to a %s row that does not exist", table, rowid.Int64, row, parent)}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify ledger: foreign_key_check: %w", err)
	}
	return nil
}

// describeRow returns "column=value, ..." for one row of table, which
// names a table SQLite reported.
func describeRow(ctx context.Context, q sqlQuerier, table string, rowid int64) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`" WHERE rowid = ?`, rowid)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", rows.Err()
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = fmt.Sprintf("x'%x'", b)
		}
		parts[i] = fmt.Sprintf("%s=%v", c, v)
	}
	return strings.Join(parts, ", "), nil
}

// verifyIntegrity runs PRAGMA integrity_check: the file's structure,
// indexes that match their tables, NOT NULL and CHECK constraints.
func verifyIntegrity(ctx context.Context, q sqlQuerier, _ *verification) error {
	rows, err := q.QueryContext(ctx, `PRAGMA integrity_check(5)`)
	if err != nil {
		return fmt.Errorf("verify ledger: integrity_check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return fmt.Errorf("verify ledger: integrity_check: %w", err)
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify ledger: integrity_check: %w", err)
	}
	if len(msgs) > 0 {
		return &InvariantError{Invariant: InvIntegrity, Detail: strings.Join(msgs, "; ")}
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
