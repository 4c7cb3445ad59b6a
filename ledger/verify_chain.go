package ledger

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger/roundchain"
)

// Chain describes the chain of settled rounds that Verify recomputed.
type Chain struct {
	// Settled counts the settled rounds; every one is in the chain.
	Settled int
	// Unsigned counts the first settled rounds, which were settled before
	// the chain was stored (migration 0004). They have no stored hash or
	// signature; the first signed round commits to them through its
	// previous hash.
	Unsigned int
	// Tip is the chain hash of the newest settled round, Genesis when there
	// is none; TipRound is its number, 0 when there is none.
	Tip      []byte
	TipRound uint64
}

// verifyChain recomputes the chain hash of every settled round from
// Genesis and checks it against the stored one, the stored previous hash
// against the chain before it, and the signature against its certificate,
// which must be a coordinator certificate issued by the network's CA and
// recorded in certificates. Only a prefix of the settled rounds may be
// unsigned (settled before migration 0004), and only settled rounds may
// carry a chain link.
func verifyChain(ctx context.Context, q sqlQuerier, v *verification) error {
	var detail string
	err := q.QueryRowContext(ctx, `SELECT 'round ' || number || ' is ' || state || ' but carries a chain link' FROM rounds
		WHERE state <> 'settled' AND (previous_hash IS NOT NULL OR hash IS NOT NULL OR signature IS NOT NULL OR signer IS NOT NULL)
		ORDER BY number LIMIT 1`).Scan(&detail)
	switch {
	case err == nil:
		return &InvariantError{Invariant: InvChain, Detail: detail}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("verify ledger: read chain: %w", err)
	}
	signers := map[string]*x509.Certificate{} // serial -> checked certificate
	lastSigned := uint64(0)
	tip, err := walkChain(ctx, q, 0, func(r *chainRow, prev, hash []byte) error {
		v.chain.Settled++
		v.chain.TipRound = r.number
		if !r.linked() {
			if lastSigned > 0 {
				return &InvariantError{Invariant: InvChain, Detail: fmt.Sprintf(
					"round %d is settled but has no chain hash, after signed round %d: its link was removed", r.number, lastSigned)}
			}
			v.chain.Unsigned++
			return nil
		}
		if err := checkLink(r, prev, hash); err != nil {
			return err
		}
		if err := checkRoundSignature(ctx, q, v.ca, signers, r); err != nil {
			return err
		}
		lastSigned = r.number
		return nil
	})
	if err != nil {
		var inv *InvariantError
		if errors.As(err, &inv) {
			return err
		}
		if errors.Is(err, roundchain.ErrBadRecord) {
			return &InvariantError{Invariant: InvChain, Detail: err.Error()}
		}
		return fmt.Errorf("verify ledger: %w", err)
	}
	v.chain.Tip = tip
	return nil
}

// checkLink compares a settled round's stored chain link with the
// recomputed one.
func checkLink(r *chainRow, prev, hash []byte) error {
	switch {
	case r.previousHash == nil || r.hash == nil || r.signature == nil || !r.signer.Valid:
		return &InvariantError{Invariant: InvChain, Detail: fmt.Sprintf("round %d has an incomplete chain link", r.number)}
	case !bytes.Equal(r.previousHash, prev):
		return &InvariantError{Invariant: InvChain, Detail: fmt.Sprintf(
			"round %d records previous hash %x, but the rounds before it hash to %x: an earlier round was changed, added or removed",
			r.number, r.previousHash, prev)}
	case !bytes.Equal(r.hash, hash):
		return &InvariantError{Invariant: InvChain, Detail: fmt.Sprintf(
			"round %d (its seeds, emission, evaluations or payouts) hashes to %x, but its recorded hash is %x: it was changed after it was settled",
			r.number, hash, r.hash)}
	}
	return nil
}

// checkRoundSignature checks a linked round's signature and its signer:
// a certificate recorded in round_signers and certificates, issued by ca to
// the coordinator. signers caches certificates already checked.
func checkRoundSignature(ctx context.Context, q sqlQuerier, ca *x509.Certificate, signers map[string]*x509.Certificate, r *chainRow) error {
	fail := func(format string, args ...any) error {
		return &InvariantError{Invariant: InvChainSignature, Detail: fmt.Sprintf("round %d: ", r.number) + fmt.Sprintf(format, args...)}
	}
	serial := r.signer.String
	leaf, ok := signers[serial]
	if !ok {
		if r.certificate == nil {
			return fail("signer %s has no certificate in round_signers", serial)
		}
		var err error
		if leaf, err = roundchain.CheckSigner(ca, r.certificate); err != nil {
			return fail("signer %s: %v", serial, err)
		}
		if got := leaf.SerialNumber.Text(16); got != serial {
			return fail("signer %s is recorded with the certificate of serial %s", serial, got)
		}
		id, _ := certs.IDFromCertificate(leaf) // CheckSigner parsed it
		var recorded string
		err = q.QueryRowContext(ctx, `SELECT identity FROM certificates WHERE serial = ?`, serial).Scan(&recorded)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && recorded != id.String()) {
			return fail("signer %s is not recorded in certificates as issued to %s", serial, id)
		}
		if err != nil {
			return fmt.Errorf("verify ledger: read certificates: %w", err)
		}
		signers[serial] = leaf
	}
	if err := roundchain.CheckSignature(leaf.PublicKey, r.hash, r.signature); err != nil {
		return fail("signer %s: %v", serial, err)
	}
	return nil
}
