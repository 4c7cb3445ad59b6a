package testdata

import (
	"context"
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
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	nb, na := certs.Validity(now, time.Hour)
	iss, err := ca.Issue(csr, certs.CoordinatorID(trustDomain), nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.EnrollIssued(context.Background(), iss, now); err != nil {
		tb.Fatal(err)
	}
	if err := db.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: iss.Cert}); err != nil {
		tb.Fatal(err)
	}
	return ca
}
