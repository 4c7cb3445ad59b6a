package receipt_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger/receipt"
	"github.com/taonet/taonet/ledger/roundchain"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// mustReceipts signs a one-peer round with a coordinator certificate of a
// new CA and returns the CA with the round as GetRound and as RoundClosed
// would carry it.
func mustReceipts(tb testing.TB) (*certs.CA, *taonetv1.Round, *taonetv1.RoundClosed) {
	tb.Helper()
	ca, err := certs.NewCA("test.local", time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	nb, na := certs.Validity(time.Now(), time.Hour)
	iss, err := ca.Issue(csr, certs.CoordinatorID("test.local"), nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	valSeed := []byte("validation seed")
	seedHash := sha256.Sum256(valSeed)
	alice := "spiffe://test.local/peer/alice"
	rec := &roundchain.Record{Number: 4, Seed: 99, SeedHash: seedHash[:], ValidationSeed: valSeed, Emission: 10,
		Evaluations: []roundchain.Evaluation{{Identity: alice, Loss: 0.5, Accuracy: 0.75, Weight: 1, Shares: 2, Status: "scored", Payout: 10}},
		Payouts:     []roundchain.Payout{{Account: alice, Amount: 10}}}
	prev := sha256.Sum256([]byte("round 3"))
	hash, err := roundchain.Hash(prev[:], rec)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := roundchain.Sign(key, hash)
	if err != nil {
		tb.Fatal(err)
	}
	eval := &taonetv1.Evaluation{Identity: alice, Loss: 0.5, Accuracy: 0.75, Weight: 1, Shares: 2,
		Status: taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED, PayoutRao: 10}
	r := &taonetv1.Round{Number: 4, State: taonetv1.RoundState_ROUND_STATE_SETTLED, Seed: 99, ValidationSeedHash: seedHash[:],
		ValidationSeed: valSeed, EmissionRao: 10, Evaluations: []*taonetv1.Evaluation{eval},
		PreviousHash: prev[:], Hash: hash, Signature: sig, SignerCertificate: iss.Cert.Raw}
	ev := &taonetv1.RoundClosed{Round: 4, State: taonetv1.RoundState_ROUND_STATE_SETTLED, Seed: 99, ValidationSeed: valSeed,
		EmissionRao: 10, Evaluations: []*taonetv1.Evaluation{proto.Clone(eval).(*taonetv1.Evaluation)},
		PreviousHash: prev[:], Hash: hash, Signature: sig, SignerCertificate: iss.Cert.Raw}
	return ca, r, ev
}

func TestVerifyRound(t *testing.T) {
	ca, r, ev := mustReceipts(t)
	t.Run("OK", func(t *testing.T) {
		if err := receipt.VerifyRound(ca.Cert, r); err != nil {
			t.Fatal(err)
		}
		if err := receipt.VerifyRoundClosed(ca.Cert, ev); err != nil {
			t.Fatal(err)
		}
	})
	for name, edit := range map[string]func(r *taonetv1.Round){
		"ErrAborted":  func(r *taonetv1.Round) { r.State = taonetv1.RoundState_ROUND_STATE_ABORTED },
		"ErrNoLink":   func(r *taonetv1.Round) { r.Hash, r.Signature = nil, nil },
		"ErrSeedHash": func(r *taonetv1.Round) { r.ValidationSeed = []byte("another seed") },
		"ErrUnknownStatus": func(r *taonetv1.Round) {
			r.Evaluations[0].Status = taonetv1.EvaluationStatus_EVALUATION_STATUS_UNSPECIFIED
		},
		"ErrSignerJunk": func(r *taonetv1.Round) { r.SignerCertificate = []byte("junk") },
	} {
		t.Run(name, func(t *testing.T) {
			m := proto.Clone(r).(*taonetv1.Round)
			edit(m)
			if err := receipt.VerifyRound(ca.Cert, m); !errors.Is(err, receipt.ErrBadReceipt) {
				t.Fatalf("err = %v, want ErrBadReceipt", err)
			}
		})
	}
	t.Run("ErrSignatureWrapsBadSignature", func(t *testing.T) {
		m := proto.Clone(ev).(*taonetv1.RoundClosed)
		m.Signature[len(m.Signature)-1] ^= 1
		if err := receipt.VerifyRoundClosed(ca.Cert, m); !errors.Is(err, roundchain.ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
}
