package ledger

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger/roundchain"
)

// RoundSigner is the key that signs the chain hash of every settled round
// (package roundchain): the coordinator's private key, ECDSA or Ed25519,
// and its certificate.
type RoundSigner struct {
	Key  crypto.Signer
	Cert *x509.Certificate
}

// ErrNoRoundSigner is returned by Settle when SignRoundsWith was never
// called: a round is never settled without its signature.
var ErrNoRoundSigner = errors.New("no round signer: the ledger settles only rounds it can sign (SignRoundsWith)")

// SignRoundsWith makes every later Settle sign with s. The coordinator
// calls it when it loads its certificate and again after each renewal,
// which brings a new certificate (and, in homes renewed by earlier
// versions, a new key). It refuses a key that does not match the
// certificate and a certificate that does not name the coordinator; it
// does not check the issuer, which Verify does.
func (db *DB) SignRoundsWith(s RoundSigner) error {
	if s.Key == nil || s.Cert == nil {
		return errors.New("round signer: key and certificate are both needed")
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Cert.PublicKey) {
		return errors.New("round signer: the key does not match the certificate")
	}
	id, err := certs.IDFromCertificate(s.Cert)
	if err != nil {
		return fmt.Errorf("round signer: %w", err)
	}
	if id.Role != certs.RoleCoordinator {
		return fmt.Errorf("round signer: certificate of %s, not of the coordinator", id)
	}
	db.signer.Store(&s)
	return nil
}

// chainRound links settled round r into the chain inside tx: it reads the
// round's record back as Verify will read it, hashes it after the previous
// settled round's hash, signs the hash with s and stores the four chain
// columns. It sets r's chain fields.
func chainRound(ctx context.Context, tx *sql.Tx, s *RoundSigner, r *Round) error {
	prev, err := previousHash(ctx, tx, r.Number)
	if err != nil {
		return err
	}
	rec, err := roundRecord(ctx, tx, r.Number, r.Seed, r.SeedHash, r.RevealedSeed, r.Emission)
	if err != nil {
		return err
	}
	hash, err := roundchain.Hash(prev, rec)
	if err != nil {
		return err
	}
	sig, err := roundchain.Sign(s.Key, hash)
	if err != nil {
		return err
	}
	serial := s.Cert.SerialNumber.Text(16)
	if _, err := tx.ExecContext(ctx, `INSERT INTO round_signers (serial, certificate) VALUES (?, ?) ON CONFLICT (serial) DO NOTHING`,
		serial, s.Cert.Raw); err != nil {
		return fmt.Errorf("record round signer: %w", err)
	}
	var stored []byte
	if err := tx.QueryRowContext(ctx, `SELECT certificate FROM round_signers WHERE serial = ?`, serial).Scan(&stored); err != nil {
		return fmt.Errorf("record round signer: %w", err)
	}
	if !bytes.Equal(stored, s.Cert.Raw) {
		return fmt.Errorf("record round signer: another certificate with serial %s is recorded", serial)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rounds SET previous_hash = ?, hash = ?, signature = ?, signer = ? WHERE number = ?`,
		prev, hash, sig, serial, int64(r.Number)); err != nil {
		return fmt.Errorf("chain round: %w", err)
	}
	r.PreviousHash, r.Hash, r.Signature, r.Signer = prev, hash, sig, s.Cert.Raw
	return nil
}

// previousHash returns the chain hash of the last settled round before
// number: Genesis when there is none, its stored hash when it has one, and
// the hash recomputed from the first settled round when the chain has no
// stored hash yet (rounds settled before migration 0004). An unsigned round
// after a signed one is a tampered ledger; nothing is chained onto it.
func previousHash(ctx context.Context, q sqlQuerier, number uint64) ([]byte, error) {
	var last int64
	var hash []byte
	err := q.QueryRowContext(ctx, `SELECT number, hash FROM rounds WHERE state = 'settled' AND number < ? ORDER BY number DESC LIMIT 1`,
		int64(number)).Scan(&last, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return roundchain.Genesis(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("previous chain hash: %w", err)
	}
	if hash != nil {
		return hash, nil
	}
	var signed sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MIN(number) FROM rounds WHERE state = 'settled' AND hash IS NOT NULL`).Scan(&signed); err != nil {
		return nil, fmt.Errorf("previous chain hash: %w", err)
	}
	if signed.Valid {
		return nil, fmt.Errorf("previous chain hash: settled round %d has no chain hash although round %d has one; the ledger was changed (run coordinator ledger verify)", last, signed.Int64)
	}
	return walkChain(ctx, q, number, nil)
}

// roundRecord reads the canonical record of a settled round: its
// evaluations and its payouts as stored.
func roundRecord(ctx context.Context, q sqlQuerier, number, seed uint64, seedHash, valSeed []byte, emission uint64) (*roundchain.Record, error) {
	rec := &roundchain.Record{Number: number, Seed: seed, SeedHash: seedHash, ValidationSeed: valSeed, Emission: emission}
	evals, err := roundEvaluations(ctx, q, number)
	if err != nil {
		return nil, err
	}
	for _, e := range evals {
		rec.Evaluations = append(rec.Evaluations, roundchain.Evaluation{Identity: e.Identity, Loss: e.Loss, Accuracy: e.Accuracy,
			Weight: e.Weight, Shares: e.Shares, Status: string(e.Status), Payout: e.Payout})
	}
	rows, err := q.QueryContext(ctx, `SELECT account, amount FROM payouts WHERE round = ? ORDER BY account`, int64(number))
	if err != nil {
		return nil, fmt.Errorf("round %d payouts: %w", number, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p roundchain.Payout
		var amount int64
		if err := rows.Scan(&p.Account, &amount); err != nil {
			return nil, fmt.Errorf("round %d payouts: %w", number, err)
		}
		p.Amount = uint64(amount)
		rec.Payouts = append(rec.Payouts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("round %d payouts: %w", number, err)
	}
	return rec, nil
}

// chainRow is a settled round as walkChain reads it.
type chainRow struct {
	number, seed, emission uint64
	seedHash, valSeed      []byte
	previousHash, hash     []byte
	signature              []byte
	signer                 sql.NullString // serial
	certificate            []byte         // nil when the serial has no round_signers row
}

// linked reports whether the row has any chain column set.
func (r *chainRow) linked() bool {
	return r.previousHash != nil || r.hash != nil || r.signature != nil || r.signer.Valid
}

// walkChain recomputes the chain from Genesis over every settled round
// numbered below before (all of them when before is 0), oldest first,
// calling visit (when not nil) with each row, the recomputed hash before it
// and its recomputed hash. It returns the last recomputed hash, Genesis
// when there is no settled round.
func walkChain(ctx context.Context, q sqlQuerier, before uint64, visit func(r *chainRow, prev, hash []byte) error) ([]byte, error) {
	const batch = 256
	limit := int64(before)
	if before == 0 || before > 1<<62 {
		limit = 1 << 62
	}
	prev := roundchain.Genesis()
	after := int64(0)
	for {
		page, err := chainPage(ctx, q, after, limit, batch)
		if err != nil {
			return nil, err
		}
		for i := range page {
			r := &page[i]
			rec, err := roundRecord(ctx, q, r.number, r.seed, r.seedHash, r.valSeed, r.emission)
			if err != nil {
				return nil, err
			}
			hash, err := roundchain.Hash(prev, rec)
			if err != nil {
				return nil, err
			}
			if visit != nil {
				if err := visit(r, prev, hash); err != nil {
					return nil, err
				}
			}
			prev = hash
			after = int64(r.number)
		}
		if len(page) < batch {
			return prev, nil
		}
	}
}

// chainPage reads up to n settled rounds numbered after `after` and below
// `before`, in order. The rows are read in full before any other query
// runs on q.
func chainPage(ctx context.Context, q sqlQuerier, after, before int64, n int) ([]chainRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.number, r.seed, r.seed_hash, r.revealed_seed, r.emission,
		r.previous_hash, r.hash, r.signature, r.signer, s.certificate
		FROM rounds r LEFT JOIN round_signers s ON s.serial = r.signer
		WHERE r.state = 'settled' AND r.number > ? AND r.number < ? ORDER BY r.number LIMIT ?`, after, before, n)
	if err != nil {
		return nil, fmt.Errorf("read chain: %w", err)
	}
	defer rows.Close()
	var out []chainRow
	for rows.Next() {
		var r chainRow
		var number, seed, emission int64
		if err := rows.Scan(&number, &seed, &r.seedHash, &r.valSeed, &emission,
			&r.previousHash, &r.hash, &r.signature, &r.signer, &r.certificate); err != nil {
			return nil, fmt.Errorf("read chain: %w", err)
		}
		r.number, r.seed, r.emission = uint64(number), uint64(seed), uint64(emission)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chain: %w", err)
	}
	return out, nil
}
