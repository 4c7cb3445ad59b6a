package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
)

const idTD = "id.test"

// idMustDB opens a fresh database with a network row and returns it with
// a CA of that network.
func idMustDB(tb testing.TB) (*ledger.DB, *certs.CA) {
	tb.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(tb.TempDir(), "taonet.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.InitNetwork(ctx, ledger.Network{TrustDomain: idTD, Task: "fmnist", CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	ca, err := certs.NewCA(idTD, time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return db, ca
}

// idIssuer returns an issue callback signing a fresh key for the token's
// identity.
func idIssuer(tb testing.TB, ca *certs.CA) func(certs.Role, string) (*certs.Issued, error) {
	return func(role certs.Role, name string) (*certs.Issued, error) {
		key, err := certs.NewKey()
		if err != nil {
			return nil, err
		}
		csr, err := certs.NewCSR(key)
		if err != nil {
			return nil, err
		}
		nb, na := certs.Validity(time.Now(), time.Hour)
		return ca.Issue(csr, certs.ID{TrustDomain: idTD, Role: role, Name: name}, nb, na)
	}
}

// idMustToken stores a token for a peer name and returns the token.
func idMustToken(tb testing.TB, db *ledger.DB, name string, ttl time.Duration) string {
	tb.Helper()
	tok, err := certs.NewToken()
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateToken(context.Background(), certs.HashToken(tok), certs.RolePeer, name, now, now.Add(ttl)); err != nil {
		tb.Fatalf("create token: %v", err)
	}
	return tok
}

// idCounts returns the rows that enrollment writes, to prove a refused
// call wrote nothing.
func idCounts(tb testing.TB, db *ledger.DB) [3]int {
	tb.Helper()
	var c [3]int
	for i, q := range []string{
		`SELECT COUNT(*) FROM directory`,
		`SELECT COUNT(*) FROM certificates`,
		`SELECT COUNT(*) FROM join_tokens WHERE redeemed_at IS NOT NULL`,
	} {
		if err := db.SQL().QueryRow(q).Scan(&c[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

func TestRedeemToken(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db, ca := idMustDB(t)
		tok := idMustToken(t, db, "alice", time.Hour)
		iss, err := db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), idIssuer(t, ca))
		if err != nil {
			t.Fatal(err)
		}
		e, err := db.Entry(ctx, iss.ID.String())
		if err != nil || e.State != ledger.StateEnrolled || e.Name != "alice" {
			t.Fatalf("entry = %+v, %v", e, err)
		}
		if n, _ := db.CertificateCount(ctx, iss.ID.String()); n != 1 {
			t.Fatalf("certificates = %d, want 1", n)
		}
		var raw int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM join_tokens WHERE hash = ?`, []byte(tok)).Scan(&raw); err != nil || raw != 0 {
			t.Fatalf("the token itself is stored (%d rows, %v)", raw, err)
		}
	})
	refusals := map[string]struct {
		setup func(t *testing.T, db *ledger.DB, ca *certs.CA) string
		want  error
	}{
		"ErrTokenUnknown": {func(t *testing.T, _ *ledger.DB, _ *certs.CA) string { tok, _ := certs.NewToken(); return tok }, certs.ErrTokenUnknown},
		"ErrTokenExpired": {func(t *testing.T, db *ledger.DB, _ *certs.CA) string {
			return idMustToken(t, db, "alice", time.Millisecond)
		}, certs.ErrTokenExpired},
		"ErrTokenCancelled": {func(t *testing.T, db *ledger.DB, _ *certs.CA) string {
			tok := idMustToken(t, db, "alice", time.Hour)
			if n, err := db.CancelTokens(ctx, "alice", time.Now()); err != nil || n != 1 {
				t.Fatalf("cancel = %d, %v", n, err)
			}
			return tok
		}, certs.ErrTokenCancelled},
		"ErrTokenRedeemed": {func(t *testing.T, db *ledger.DB, ca *certs.CA) string {
			tok := idMustToken(t, db, "alice", time.Hour)
			if _, err := db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), idIssuer(t, ca)); err != nil {
				t.Fatal(err)
			}
			return tok
		}, certs.ErrTokenRedeemed},
		"ErrNameTaken": {func(t *testing.T, db *ledger.DB, ca *certs.CA) string {
			first := idMustToken(t, db, "alice", time.Hour)
			second := idMustToken(t, db, "alice", time.Hour)
			if _, err := db.RedeemToken(ctx, certs.HashToken(first), nil, time.Now(), idIssuer(t, ca)); err != nil {
				t.Fatal(err)
			}
			return second
		}, certs.ErrNameTaken},
	}
	for name, c := range refusals {
		t.Run(name, func(t *testing.T) {
			db, ca := idMustDB(t)
			tok := c.setup(t, db, ca)
			time.Sleep(2 * time.Millisecond)
			before := idCounts(t, db)
			called := false
			issue := func(r certs.Role, n string) (*certs.Issued, error) { called = true; return idIssuer(t, ca)(r, n) }
			if _, err := db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), issue); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if called {
				t.Fatal("certificate signed for a refused token")
			}
			if after := idCounts(t, db); after != before {
				t.Fatalf("rows %v -> %v: a refused redemption wrote", before, after)
			}
		})
	}
	t.Run("ErrIssueFailsWritesNothing", func(t *testing.T) {
		db, _ := idMustDB(t)
		tok := idMustToken(t, db, "alice", time.Hour)
		before := idCounts(t, db)
		boom := errors.New("bad csr")
		if _, err := db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), func(certs.Role, string) (*certs.Issued, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if after := idCounts(t, db); after != before {
			t.Fatalf("rows %v -> %v", before, after)
		}
	})
	t.Run("OKConcurrentRedemptionsExactlyOneWins", func(t *testing.T) {
		db, ca := idMustDB(t)
		tok := idMustToken(t, db, "alice", time.Hour)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), idIssuer(t, ca))
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, certs.ErrTokenRedeemed):
				t.Errorf("loser err = %v, want ErrTokenRedeemed", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d redemptions won, want exactly 1", wins)
		}
		if c := idCounts(t, db); c != [3]int{1, 1, 1} {
			t.Fatalf("rows = %v, want one identity, one certificate, one redeemed token", c)
		}
	})
}

func TestCreateToken(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db, _ := idMustDB(t)
		idMustToken(t, db, "alice", time.Hour)
		toks, err := db.Tokens(ctx)
		if err != nil || len(toks) != 1 || toks[0].Name != "alice" || toks[0].State(time.Now()) != "valid" {
			t.Fatalf("tokens = %+v, %v", toks, err)
		}
	})
	t.Run("ErrNameTaken", func(t *testing.T) {
		db, ca := idMustDB(t)
		tok := idMustToken(t, db, "alice", time.Hour)
		if _, err := db.RedeemToken(ctx, certs.HashToken(tok), nil, time.Now(), idIssuer(t, ca)); err != nil {
			t.Fatal(err)
		}
		again, _ := certs.NewToken()
		err := db.CreateToken(ctx, certs.HashToken(again), certs.RolePeer, "alice", time.Now(), time.Now().Add(time.Hour))
		if !errors.Is(err, certs.ErrNameTaken) {
			t.Fatalf("err = %v, want ErrNameTaken", err)
		}
	})
}

// TestRedeemTokenRetry: a second redemption with the key of the first
// gets the first certificate back and writes nothing; any other key, no
// key, an expired certificate or a revoked identity is refused.
func TestRedeemTokenRetry(t *testing.T) {
	ctx := context.Background()
	db, ca := idMustDB(t)
	tok := idMustToken(t, db, "alice", time.Hour)
	key := []byte("sha-256 of alice's public key....")
	first, err := db.RedeemToken(ctx, certs.HashToken(tok), key, time.Now(), idIssuer(t, ca))
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.RedeemToken(ctx, certs.HashToken(tok), key, time.Now(), idIssuer(t, ca))
	if err != nil || again.Cert.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 || again.ID != first.ID {
		t.Fatalf("retry with the same key: %v, %v", again, err)
	}
	if n, _ := db.CertificateCount(ctx, first.ID.String()); n != 1 {
		t.Fatalf("certificates after the retry = %d, want 1", n)
	}
	for name, k := range map[string][]byte{"other key": []byte("another key"), "no key": nil} {
		if _, err := db.RedeemToken(ctx, certs.HashToken(tok), k, time.Now(), idIssuer(t, ca)); !errors.Is(err, certs.ErrTokenRedeemed) {
			t.Errorf("%s: %v, want ErrTokenRedeemed", name, err)
		}
	}
	if _, err := db.RedeemToken(ctx, certs.HashToken(tok), key, first.Cert.NotAfter, idIssuer(t, ca)); !errors.Is(err, certs.ErrTokenRedeemed) {
		t.Errorf("retry once the certificate expired: %v, want ErrTokenRedeemed", err)
	}
	if _, err := db.Revoke(ctx, first.ID.String(), "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RedeemToken(ctx, certs.HashToken(tok), key, time.Now(), idIssuer(t, ca)); !errors.Is(err, certs.ErrRevoked) {
		t.Errorf("retry after revocation: %v, want ErrRevoked", err)
	}
}
