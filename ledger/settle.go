package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"
)

// Settlement is the outcome of settling a round.
type Settlement struct {
	// Round is the round number.
	Round uint64
	// Emission is what the round minted, in rao; the payouts sum to it.
	Emission uint64
	// Payouts lists every positive payout, by account.
	Payouts []Payout
	// AlreadySettled is true when the round had been settled before with the
	// same evaluations: nothing was written and the earlier result is
	// returned.
	AlreadySettled bool
	// Seed and SeedHash are the round's transfer seed and the commitment to
	// its validation seed, as it was opened.
	Seed     uint64
	SeedHash []byte
	// PreviousHash, Hash, Signature and Signer are the round's link in the
	// chain of settled rounds (see Round). Signer is the DER certificate of
	// the signing key.
	PreviousHash []byte
	Hash         []byte
	Signature    []byte
	Signer       []byte
}

// Settle pays round number by the integer shares of its evaluations and
// closes it, revealing validationSeed, whose SHA-256 must be the seed hash
// the round was opened with. The round's emission (see Emission) is split by
// shares with largest-remainder rounding, ties broken by account, so the
// payouts sum exactly to it; a round whose shares are all 0 mints nothing.
// The round, its evaluations, the payouts, the balances, the supply and the
// round's link in the chain of settled rounds (its chain hash over the
// previous settled round's, signed with the key given to SignRoundsWith;
// see package roundchain) are written in one transaction.
//
// Settling a settled round again with the same evaluations changes nothing
// and returns the earlier result, chain link included, with AlreadySettled
// set. Errors, with nothing written: EINVALID for bad evaluations (empty or
// duplicate identity, shares over MaxInt64 or summing past MaxUint64,
// non-finite scores, shares on an unscored answer) or a seed that does not
// match; ENOTFOUND for an unknown round or an identity not in the
// directory; ECONFLICT for an aborted round or a settled one with other
// evaluations; ErrNoRoundSigner when no signer was given; an internal error
// when the previous settled round has no chain hash although earlier ones
// do (a tampered ledger is never chained onto).
func (db *DB) Settle(ctx context.Context, number uint64, validationSeed []byte, evals []Evaluation) (*Settlement, error) {
	total, err := checkEvaluations(evals)
	if err != nil {
		return nil, err
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("settle round %d: begin: %w", number, err)
	}
	defer func() { _ = tx.Rollback() }()

	r, err := getRoundRow(ctx, tx, number)
	if err != nil {
		return nil, err
	}
	switch r.State {
	case RoundAborted:
		return nil, ledgerErrorf(ECONFLICT, "round %d was aborted and can never be paid", number)
	case RoundSettled:
		return settledAgain(ctx, tx, r, evals)
	}
	signer := db.signer.Load()
	if signer == nil {
		return nil, fmt.Errorf("settle round %d: %w", number, ErrNoRoundSigner)
	}
	if sum := sha256.Sum256(validationSeed); !bytes.Equal(sum[:], r.SeedHash) {
		return nil, ledgerErrorf(EINVALID, "round %d: the revealed validation seed does not hash to the seed hash published when it opened", number)
	}
	if err := checkDirectory(ctx, tx, evals); err != nil {
		return nil, err
	}
	var minted, e0 int64
	if err := tx.QueryRowContext(ctx, `SELECT minted, initial_emission FROM supply WHERE id = 1`).Scan(&minted, &e0); err != nil {
		return nil, fmt.Errorf("settle round %d: read supply: %w", number, err)
	}
	emission := uint64(0)
	if total > 0 {
		emission = Emission(Cap, uint64(e0), uint64(minted))
	}
	amounts := splitEmission(emission, total, evals)
	s := &Settlement{Round: number, Emission: emission}
	if err := writeSettlement(ctx, tx, r, validationSeed, evals, amounts, s); err != nil {
		return nil, fmt.Errorf("settle round %d: %w", number, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE supply SET minted = minted + ? WHERE id = 1`, int64(emission)); err != nil {
		return nil, fmt.Errorf("settle round %d: update supply: %w", number, err)
	}
	r.RevealedSeed, r.Emission = validationSeed, emission
	if err := chainRound(ctx, tx, signer, r); err != nil {
		return nil, fmt.Errorf("settle round %d: %w", number, err)
	}
	s.setChain(r)
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("settle round %d: commit: %w", number, err)
	}
	return s, nil
}

// checkEvaluations validates evals without touching the database and
// returns the sum of their shares.
func checkEvaluations(evals []Evaluation) (uint64, error) {
	seen := make(map[string]bool, len(evals))
	var total uint64
	for _, e := range evals {
		if e.Identity == "" {
			return 0, ledgerErrorf(EINVALID, "evaluation with an empty identity")
		}
		if seen[e.Identity] {
			return 0, ledgerErrorf(EINVALID, "identity %q appears twice in one settlement", e.Identity)
		}
		seen[e.Identity] = true
		if e.Shares > math.MaxInt64 {
			return 0, ledgerErrorf(EINVALID, "identity %q: %d shares is over the limit of %d", e.Identity, e.Shares, int64(math.MaxInt64))
		}
		sum, carry := bits.Add64(total, e.Shares, 0)
		if carry != 0 {
			return 0, ledgerErrorf(EINVALID, "shares overflow: their sum exceeds %d", uint64(math.MaxUint64))
		}
		total = sum
		if err := e.check(); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// checkDirectory refuses an identity the directory does not know.
func checkDirectory(ctx context.Context, tx *sql.Tx, evals []Evaluation) error {
	stmt, err := tx.PrepareContext(ctx, `SELECT 1 FROM directory WHERE identity = ?`)
	if err != nil {
		return fmt.Errorf("check directory: %w", err)
	}
	defer stmt.Close()
	for _, e := range evals {
		var one int
		err := stmt.QueryRowContext(ctx, e.Identity).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ledgerErrorf(ENOTFOUND, "identity %q is not in the directory", e.Identity)
		}
		if err != nil {
			return fmt.Errorf("check directory: %w", err)
		}
	}
	return nil
}

// splitEmission returns each evaluation's payout: floor(emission*shares/total)
// computed in 128 bits, then one more rao to the largest remainders until the
// payouts sum to emission, ties going to the smaller identity.
func splitEmission(emission, total uint64, evals []Evaluation) []uint64 {
	amounts := make([]uint64, len(evals))
	if emission == 0 || total == 0 {
		return amounts
	}
	rems := make([]uint64, len(evals))
	var paid uint64
	for i, e := range evals {
		hi, lo := bits.Mul64(emission, e.Shares)
		// hi < total because shares <= total, so the quotient fits.
		amounts[i], rems[i] = bits.Div64(hi, lo, total)
		paid += amounts[i]
	}
	order := make([]int, len(evals))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if rems[i] != rems[j] {
			return rems[i] > rems[j]
		}
		return evals[i].Identity < evals[j].Identity
	})
	for _, i := range order[:emission-paid] {
		amounts[i]++
	}
	return amounts
}

// writeSettlement writes evaluations, balances and payouts and closes r.
func writeSettlement(ctx context.Context, tx *sql.Tx, r *Round, seed []byte, evals []Evaluation, amounts []uint64, s *Settlement) error {
	now := dbMillis(time.Now())
	evalStmt, err := tx.PrepareContext(ctx, `INSERT INTO evaluations
		(round, identity, loss, accuracy, weight, shares, status, payout) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare evaluations: %w", err)
	}
	defer evalStmt.Close()
	acctStmt, err := tx.PrepareContext(ctx, `INSERT INTO accounts (identity, balance, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (identity) DO UPDATE SET balance = balance + excluded.balance, updated_at = excluded.updated_at`)
	if err != nil {
		return fmt.Errorf("prepare accounts: %w", err)
	}
	defer acctStmt.Close()
	payStmt, err := tx.PrepareContext(ctx, `INSERT INTO payouts (round, account, amount) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare payouts: %w", err)
	}
	defer payStmt.Close()
	for i, e := range evals {
		if _, err := evalStmt.ExecContext(ctx, int64(r.Number), e.Identity, e.Loss, e.Accuracy, e.Weight,
			int64(e.Shares), string(e.Status), int64(amounts[i])); err != nil {
			return fmt.Errorf("write evaluation of %q: %w", e.Identity, err)
		}
		if amounts[i] == 0 {
			continue
		}
		if _, err := acctStmt.ExecContext(ctx, e.Identity, int64(amounts[i]), now); err != nil {
			return fmt.Errorf("credit %q: %w", e.Identity, err)
		}
		if _, err := payStmt.ExecContext(ctx, int64(r.Number), e.Identity, int64(amounts[i])); err != nil {
			return fmt.Errorf("write payout to %q: %w", e.Identity, err)
		}
		s.Payouts = append(s.Payouts, Payout{Round: r.Number, Account: e.Identity, Rao: amounts[i]})
	}
	sort.Slice(s.Payouts, func(a, b int) bool { return s.Payouts[a].Account < s.Payouts[b].Account })
	res, err := tx.ExecContext(ctx, `UPDATE rounds SET state = 'settled', revealed_seed = ?, closed_at = ?, emission = ?
		WHERE number = ? AND state = 'open'`, seed, now, int64(s.Emission), int64(r.Number))
	if err != nil {
		return fmt.Errorf("close round: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("close round: %d rows changed (%v)", n, err)
	}
	return nil
}

// settledAgain answers a second settlement of a settled round: the earlier
// result when the evaluations are the same, ECONFLICT otherwise.
func settledAgain(ctx context.Context, tx *sql.Tx, r *Round, evals []Evaluation) (*Settlement, error) {
	prev, err := roundEvaluations(ctx, tx, r.Number)
	if err != nil {
		return nil, err
	}
	same := len(prev) == len(evals)
	if same {
		byID := make(map[string]Evaluation, len(prev))
		for _, e := range prev {
			byID[e.Identity] = e
		}
		for _, e := range evals {
			p, ok := byID[e.Identity]
			if !ok || p.Shares != e.Shares || p.Status != e.Status {
				same = false
				break
			}
		}
	}
	if !same {
		return nil, ledgerErrorf(ECONFLICT, "round %d is already settled with other evaluations", r.Number)
	}
	s := &Settlement{Round: r.Number, Emission: r.Emission, AlreadySettled: true}
	s.setChain(r)
	for _, e := range prev {
		if e.Payout > 0 {
			s.Payouts = append(s.Payouts, Payout{Round: r.Number, Account: e.Identity, Rao: e.Payout})
		}
	}
	sort.Slice(s.Payouts, func(a, b int) bool { return s.Payouts[a].Account < s.Payouts[b].Account })
	return s, nil
}

// setChain copies r's seeds and chain link into s.
func (s *Settlement) setChain(r *Round) {
	s.Seed, s.SeedHash = r.Seed, r.SeedHash
	s.PreviousHash, s.Hash, s.Signature, s.Signer = r.PreviousHash, r.Hash, r.Signature, r.Signer
}
