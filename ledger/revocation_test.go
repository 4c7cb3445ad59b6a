package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
)

// idMustEnroll redeems a fresh token for name and returns the issued
// certificate.
func idMustEnroll(tb testing.TB, db *ledger.DB, ca *certs.CA, name string) *certs.Issued {
	tb.Helper()
	tok := idMustToken(tb, db, name, time.Hour)
	iss, err := db.RedeemToken(context.Background(), certs.HashToken(tok), nil, time.Now(), idIssuer(tb, ca))
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db, ca := idMustDB(t)
		alice := idMustEnroll(t, db, ca, "alice")
		if _, err := db.JoinPeer(ctx, alice.ID.String(), "127.0.0.1:1", nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Revoke(ctx, alice.ID.String(), "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		ids, err := db.RevokedIdentities(ctx)
		if err != nil || !slices.Equal(ids, []string{alice.ID.String()}) {
			t.Fatalf("revoked = %v, %v", ids, err)
		}
		if act, _ := db.ActivePeers(ctx, "", 10); len(act) != 0 {
			t.Fatalf("revoked peer still active: %+v", act)
		}
		if _, err := db.JoinPeer(ctx, alice.ID.String(), "127.0.0.1:1", nil, time.Now()); !errors.Is(err, certs.ErrRevoked) {
			t.Fatalf("rejoin err = %v, want ErrRevoked", err)
		}
		renewed, err := idIssuer(t, ca)(certs.RolePeer, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RecordRenewal(ctx, renewed, time.Now()); !errors.Is(err, certs.ErrRevoked) {
			t.Fatalf("renew err = %v, want ErrRevoked", err)
		}
		if n, _ := db.CertificateCount(ctx, alice.ID.String()); n != 1 {
			t.Fatalf("certificates = %d after refused renewal, want 1", n)
		}
	})
	t.Run("ErrAlreadyRevoked", func(t *testing.T) {
		db, ca := idMustDB(t)
		alice := idMustEnroll(t, db, ca, "alice")
		if _, err := db.Revoke(ctx, alice.ID.String(), "", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Revoke(ctx, alice.ID.String(), "", time.Now()); !errors.Is(err, ledger.ErrAlreadyRevoked) {
			t.Fatalf("err = %v, want ErrAlreadyRevoked", err)
		}
	})
	t.Run("ErrNoIdentity", func(t *testing.T) {
		db, _ := idMustDB(t)
		if _, err := db.Revoke(ctx, "spiffe://id.test/peer/ghost", "", time.Now()); !errors.Is(err, ledger.ErrNoIdentity) {
			t.Fatalf("err = %v, want ErrNoIdentity", err)
		}
	})
}
