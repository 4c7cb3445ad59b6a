package testdata

import (
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
)

// RoundSigner makes a CA for trustDomain and a coordinator certificate
// issued by it, records the certificate in db as coordinator.Init does
// (so the coordinator has a directory row and a certificate), and makes db
// sign the rounds it settles with the certificate's key. It returns the
// CA, which ledger.DB.Verify checks the signatures against.
func RoundSigner(tb testing.TB, db *ledger.DB, trustDomain string) *certs.CA {
	tb.Helper()
	now := time.Now()
	ca, err := certs.NewCA(trustDomain, now, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	nb, na := certs.Validity(now, time.Hour)
	iss, key := Issue(tb, ca, certs.CoordinatorID(trustDomain), nb, na)
	if err := db.EnrollIssued(context.Background(), iss, now); err != nil {
		tb.Fatal(err)
	}
	if err := db.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: iss.Cert}); err != nil {
		tb.Fatal(err)
	}
	return ca
}

// Issue signs a certificate for id with ca, valid from nb to na, for a new
// key, bypassing the coordinator (a test's rogue or short-lived identity).
func Issue(tb testing.TB, ca *certs.CA, id certs.ID, nb, na time.Time) (*certs.Issued, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := ca.Issue(csr, id, nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	return iss, key
}
