package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/taonet/taonet/ledger/internal/pagetoken"
)

// RoundState is a round's place in its life: open, then settled or aborted.
type RoundState string

// The round states.
const (
	RoundOpen    RoundState = "open"
	RoundSettled RoundState = "settled"
	RoundAborted RoundState = "aborted"
)

// EvaluationStatus says how a peer's answer in a round was judged.
type EvaluationStatus string

// The evaluation statuses. Only a scored answer may carry shares.
const (
	EvalScored  EvaluationStatus = "scored"
	EvalTimeout EvaluationStatus = "timeout"
	EvalInvalid EvaluationStatus = "invalid"
	// EvalDuplicate is an answer near-identical to an earlier responder's:
	// its loss and accuracy are recorded, but it is never paid.
	EvalDuplicate EvaluationStatus = "duplicate"
)

// Round is one round as the ledger records it.
type Round struct {
	Number       uint64
	State        RoundState
	Seed         uint64 // derives the round's transfer sample
	SeedHash     []byte // SHA-256 of the secret validation seed
	RevealedSeed []byte // the validation seed, once settled
	OpenedAt     time.Time
	ClosedAt     time.Time // zero while open
	Emission     uint64    // rao minted by the round; 0 unless settled
	Evaluations  []Evaluation
	// The round's link in the chain of settled rounds (package roundchain),
	// nil unless settled, and nil for a round settled before the chain
	// existed (migration 0004): the chain hash of the settled round before
	// it, its own chain hash, the coordinator's signature of Hash and the
	// DER certificate that made the signature.
	PreviousHash []byte
	Hash         []byte
	Signature    []byte
	Signer       []byte
}

// Evaluation is one peer's result in a round. The coordinator fills in
// everything but Payout, which settlement computes.
type Evaluation struct {
	Identity string // the peer's SPIFFE ID, which is its account
	Loss     float64
	Accuracy float64
	Weight   float64
	Shares   uint64
	Status   EvaluationStatus
	Payout   uint64 // rao
}

// check validates one evaluation's own fields.
func (e Evaluation) check() error {
	switch e.Status {
	case EvalScored, EvalTimeout, EvalInvalid, EvalDuplicate:
	default:
		return ledgerErrorf(EINVALID, "identity %q: unknown evaluation status %q", e.Identity, e.Status)
	}
	if e.Status != EvalScored && e.Shares != 0 {
		return ledgerErrorf(EINVALID, "identity %q: a %s answer cannot carry shares (%d)", e.Identity, e.Status, e.Shares)
	}
	for _, v := range []struct {
		name string
		x    float64
	}{{"loss", e.Loss}, {"accuracy", e.Accuracy}, {"weight", e.Weight}} {
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) || v.x < 0 {
			return ledgerErrorf(EINVALID, "identity %q: %s %v is not a finite non-negative number", e.Identity, v.name, v.x)
		}
	}
	if e.Accuracy > 1 || e.Weight > 1 {
		return ledgerErrorf(EINVALID, "identity %q: accuracy %v and weight %v must be at most 1", e.Identity, e.Accuracy, e.Weight)
	}
	if e.Payout != 0 {
		return ledgerErrorf(EINVALID, "identity %q: payout is computed by settlement, not given", e.Identity)
	}
	return nil
}

// OpenRound records round number as open with its transfer seed and the
// SHA-256 commitment to its secret validation seed. Rounds are numbered 1,
// 2, 3, ... with none skipped, so that a deleted round shows as a gap.
// Errors: EINVALID for number 0 or a hash that is not 32 bytes; ECONFLICT
// when a round is already open or number is not the one after the last
// round.
func (db *DB) OpenRound(ctx context.Context, number, seed uint64, seedHash []byte) error {
	if number == 0 || number > math.MaxInt64 {
		return ledgerErrorf(EINVALID, "round number %d is out of range", number)
	}
	if len(seedHash) != 32 {
		return ledgerErrorf(EINVALID, "round %d: seed hash is %d bytes, want a 32-byte SHA-256", number, len(seedHash))
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open round %d: begin: %w", number, err)
	}
	defer func() { _ = tx.Rollback() }()
	var last int64
	var open sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0), MAX(CASE WHEN state = 'open' THEN number END) FROM rounds`).Scan(&last, &open); err != nil {
		return fmt.Errorf("open round %d: %w", number, err)
	}
	if open.Valid {
		return ledgerErrorf(ECONFLICT, "round %d is still open; settle it before opening round %d", open.Int64, number)
	}
	if number != uint64(last)+1 {
		return ledgerErrorf(ECONFLICT, "round %d is not the next round after %d", number, last)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rounds (number, seed, seed_hash, state, opened_at) VALUES (?, ?, ?, 'open', ?)`,
		int64(number), int64(seed), seedHash, dbMillis(time.Now())); err != nil {
		return fmt.Errorf("open round %d: %w", number, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("open round %d: commit: %w", number, err)
	}
	return nil
}

// AbortOpen marks every open round aborted and returns how many there were.
// The coordinator calls it on startup: a round it did not settle before
// stopping is never paid.
func (db *DB) AbortOpen(ctx context.Context) (int, error) {
	res, err := db.db.ExecContext(ctx, `UPDATE rounds SET state = 'aborted', closed_at = ? WHERE state = 'open'`, dbMillis(time.Now()))
	if err != nil {
		return 0, fmt.Errorf("abort open rounds: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("abort open rounds: %w", err)
	}
	return int(n), nil
}

// LastRound returns the highest round number opened so far, 0 if none.
func (db *DB) LastRound(ctx context.Context) (uint64, error) {
	var n int64
	if err := db.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM rounds`).Scan(&n); err != nil {
		return 0, fmt.Errorf("last round: %w", err)
	}
	return uint64(n), nil
}

// GetRound returns round number with its evaluations, read from one
// snapshot; number 0 means the latest round. Errors: ENOTFOUND.
func (db *DB) GetRound(ctx context.Context, number uint64) (*Round, error) {
	var r *Round
	err := db.viewSnapshot(ctx, func(q sqlQuerier) error {
		if number == 0 {
			var last int64
			if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM rounds`).Scan(&last); err != nil {
				return fmt.Errorf("get latest round: %w", err)
			}
			if last == 0 {
				return ledgerErrorf(ENOTFOUND, "no round has been opened yet")
			}
			number = uint64(last)
		}
		var err error
		if r, err = getRoundRow(ctx, q, number); err != nil {
			return err
		}
		r.Evaluations, err = roundEvaluations(ctx, q, number)
		return err
	})
	return r, err
}

// ListRounds returns one page of rounds, newest first, without their
// evaluations, and the token of the next page ("" on the last one).
// Errors: EINVALID for a bad page.
func (db *DB) ListRounds(ctx context.Context, page Page) ([]Round, string, error) {
	size, err := page.size()
	if err != nil {
		return nil, "", err
	}
	before := int64(math.MaxInt64)
	if page.Token != "" {
		f, err := pagetoken.Decode(page.Token, "rounds", 1)
		if err != nil {
			return nil, "", ledgerErrorf(EINVALID, "%v", err)
		}
		if before, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return nil, "", ledgerErrorf(EINVALID, "page token is not one this server issued")
		}
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+roundColumns+` FROM `+roundTables+` WHERE r.number < ? ORDER BY r.number DESC LIMIT ?`, before, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list rounds: %w", err)
	}
	defer rows.Close()
	var out []Round
	for rows.Next() {
		r, err := scanRound(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list rounds: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list rounds: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = pagetoken.Encode("rounds", strconv.FormatUint(out[size-1].Number, 10))
	}
	return out, next, nil
}

// roundColumns and roundTables select a round row with the certificate of
// its signer.
const (
	roundColumns = `r.number, r.seed, r.seed_hash, r.revealed_seed, r.state, r.opened_at, r.closed_at, r.emission,
		r.previous_hash, r.hash, r.signature, s.certificate`
	roundTables = `rounds r LEFT JOIN round_signers s ON s.serial = r.signer`
)

func scanRound(s interface{ Scan(...any) error }) (*Round, error) {
	var r Round
	var number, seed, opened, emission int64
	var closed sql.NullInt64
	if err := s.Scan(&number, &seed, &r.SeedHash, &r.RevealedSeed, &r.State, &opened, &closed, &emission,
		&r.PreviousHash, &r.Hash, &r.Signature, &r.Signer); err != nil {
		return nil, err
	}
	r.Number, r.Seed, r.Emission = uint64(number), uint64(seed), uint64(emission)
	r.OpenedAt, r.ClosedAt = dbTime(opened), dbNullTime(closed)
	return &r, nil
}

func getRoundRow(ctx context.Context, q sqlQuerier, number uint64) (*Round, error) {
	if number > math.MaxInt64 {
		return nil, ledgerErrorf(ENOTFOUND, "round %d does not exist", number)
	}
	r, err := scanRound(q.QueryRowContext(ctx, `SELECT `+roundColumns+` FROM `+roundTables+` WHERE r.number = ?`, int64(number)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ledgerErrorf(ENOTFOUND, "round %d does not exist", number)
	}
	if err != nil {
		return nil, fmt.Errorf("get round %d: %w", number, err)
	}
	return r, nil
}

func roundEvaluations(ctx context.Context, q sqlQuerier, number uint64) ([]Evaluation, error) {
	rows, err := q.QueryContext(ctx, `SELECT identity, loss, accuracy, weight, shares, status, payout
		FROM evaluations WHERE round = ? ORDER BY identity`, int64(number))
	if err != nil {
		return nil, fmt.Errorf("round %d evaluations: %w", number, err)
	}
	defer rows.Close()
	var out []Evaluation
	for rows.Next() {
		var e Evaluation
		var shares, payout int64
		if err := rows.Scan(&e.Identity, &e.Loss, &e.Accuracy, &e.Weight, &shares, &e.Status, &payout); err != nil {
			return nil, fmt.Errorf("round %d evaluations: %w", number, err)
		}
		e.Shares, e.Payout = uint64(shares), uint64(payout)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("round %d evaluations: %w", number, err)
	}
	return out, nil
}
