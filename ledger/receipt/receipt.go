// Package receipt checks round receipts: a settled round as the
// coordinator publishes it, in a Round (GetRound, ListRounds) or a
// RoundClosed event (Watch). A receipt carries the round's chain hash, the
// hash of the settled round before it and the coordinator's signature, so
// a peer that keeps its receipts can later prove what the ledger said, and
// catch a ledger whose history was rewritten or cut short: a rewritten
// round no longer has the hash of its receipt, and a deleted one is missing
// although its receipt exists.
//
// The package needs only the network's CA certificate, which every peer
// pins; it does not link the ledger's database.
package receipt

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/taonet/taonet/ledger/roundchain"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ErrBadReceipt is returned (wrapped) for a receipt that does not check
// out: not a settled round, a missing or malformed chain link, fields that
// do not hash to its hash, or a signature that is not the network
// coordinator's. Signature failures also wrap roundchain.ErrBadSignature.
var ErrBadReceipt = errors.New("bad round receipt")

// VerifyRound checks a settled round from GetRound or ListRounds: that its
// fields hash, after its previous hash, to its hash (ledger/roundchain) and
// that the hash is signed by a coordinator certificate issued by ca.
// Errors wrap ErrBadReceipt.
func VerifyRound(ca *x509.Certificate, r *taonetv1.Round) error {
	if r.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
		return fmt.Errorf("%w: round %d is %s, not settled", ErrBadReceipt, r.GetNumber(), r.GetState())
	}
	if sum := sha256.Sum256(r.GetValidationSeed()); !bytes.Equal(sum[:], r.GetValidationSeedHash()) {
		return fmt.Errorf("%w: round %d: the validation seed does not hash to the validation seed hash", ErrBadReceipt, r.GetNumber())
	}
	rec := &roundchain.Record{Number: r.GetNumber(), Seed: r.GetSeed(), SeedHash: r.GetValidationSeedHash(),
		ValidationSeed: r.GetValidationSeed(), Emission: r.GetEmissionRao()}
	return verify(ca, rec, r.GetEvaluations(), r.GetPreviousHash(), r.GetHash(), r.GetSignature(), r.GetSignerCertificate())
}

// VerifyRoundClosed checks a RoundClosed event of a settled round as
// VerifyRound checks a Round; the validation seed hash is the SHA-256 of
// its validation seed. Errors wrap ErrBadReceipt.
func VerifyRoundClosed(ca *x509.Certificate, ev *taonetv1.RoundClosed) error {
	if ev.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
		return fmt.Errorf("%w: round %d is %s, not settled", ErrBadReceipt, ev.GetRound(), ev.GetState())
	}
	seedHash := sha256.Sum256(ev.GetValidationSeed())
	rec := &roundchain.Record{Number: ev.GetRound(), Seed: ev.GetSeed(), SeedHash: seedHash[:],
		ValidationSeed: ev.GetValidationSeed(), Emission: ev.GetEmissionRao()}
	return verify(ca, rec, ev.GetEvaluations(), ev.GetPreviousHash(), ev.GetHash(), ev.GetSignature(), ev.GetSignerCertificate())
}

// verify completes rec with evals and their payouts and checks the link.
func verify(ca *x509.Certificate, rec *roundchain.Record, evals []*taonetv1.Evaluation, prev, hash, sig, signer []byte) error {
	if len(prev) != roundchain.HashSize || len(hash) != roundchain.HashSize || len(sig) == 0 || len(signer) == 0 {
		return fmt.Errorf("%w: round %d has no complete chain link (settled before the chain existed?)", ErrBadReceipt, rec.Number)
	}
	for _, e := range evals {
		status, err := statusName(e.GetStatus())
		if err != nil {
			return fmt.Errorf("%w: round %d: evaluation of %s: %v", ErrBadReceipt, rec.Number, e.GetIdentity(), err)
		}
		rec.Evaluations = append(rec.Evaluations, roundchain.Evaluation{Identity: e.GetIdentity(), Loss: e.GetLoss(),
			Accuracy: e.GetAccuracy(), Weight: e.GetWeight(), Shares: e.GetShares(), Status: status, Payout: e.GetPayoutRao()})
		if e.GetPayoutRao() > 0 {
			rec.Payouts = append(rec.Payouts, roundchain.Payout{Account: e.GetIdentity(), Amount: e.GetPayoutRao()})
		}
	}
	got, err := roundchain.Hash(prev, rec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	if !bytes.Equal(got, hash) {
		return fmt.Errorf("%w: round %d: its fields hash to %x, not to its hash %x", ErrBadReceipt, rec.Number, got, hash)
	}
	if err := roundchain.Verify(ca, signer, hash, sig); err != nil {
		return fmt.Errorf("%w: round %d: %w", ErrBadReceipt, rec.Number, err)
	}
	return nil
}

// statusName is the ledger's name of a wire evaluation status, which the
// canonical encoding uses.
func statusName(s taonetv1.EvaluationStatus) (string, error) {
	switch s {
	case taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED:
		return "scored", nil
	case taonetv1.EvaluationStatus_EVALUATION_STATUS_TIMEOUT:
		return "timeout", nil
	case taonetv1.EvaluationStatus_EVALUATION_STATUS_INVALID:
		return "invalid", nil
	case taonetv1.EvaluationStatus_EVALUATION_STATUS_DUPLICATE:
		return "duplicate", nil
	}
	return "", fmt.Errorf("unknown status %v", s)
}
