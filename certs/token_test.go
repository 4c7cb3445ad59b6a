package certs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
)

// memTokens is an in-memory certs.TokenStore that counts store calls; the
// SQLite store is tested in package ledger.
type memTokens struct {
	calls    int
	name     string
	redeemed bool
}

func (m *memTokens) CreateToken(context.Context, []byte, certs.Role, string, time.Time, time.Time) error {
	return nil
}

func (m *memTokens) RedeemToken(_ context.Context, _, _ []byte, _ time.Time, issue func(certs.Role, string) (*certs.Issued, error)) (*certs.Issued, error) {
	m.calls++
	if m.redeemed {
		return nil, certs.ErrTokenRedeemed
	}
	iss, err := issue(certs.RolePeer, m.name)
	if err != nil {
		return nil, err
	}
	m.redeemed = true
	return iss, nil
}

func TestNewToken(t *testing.T) {
	a, err := certs.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := certs.NewToken()
	if a == b || !strings.HasPrefix(a, "taonet_") || len(a) < 40 {
		t.Fatalf("tokens %q, %q are not fresh taonet_ tokens", a, b)
	}
	if string(certs.HashToken(a)) == string(certs.HashToken(b)) || len(certs.HashToken(a)) != 32 {
		t.Fatal("hashes collide or are not SHA-256")
	}
}

func TestEnroller(t *testing.T) {
	ca := mustCA(t, td)
	tok, _ := certs.NewToken()
	t.Run("OK", func(t *testing.T) {
		store := &memTokens{name: "alice"}
		e := &certs.Enroller{CA: ca, Tokens: store, Lifetime: time.Hour}
		iss, err := e.Enroll(context.Background(), tok, mustCSR(t, mustKey(t)))
		if err != nil {
			t.Fatal(err)
		}
		if iss.ID != certs.PeerID(td, "alice") {
			t.Fatalf("identity %v, want the token's", iss.ID)
		}
		if d := time.Until(iss.Cert.NotAfter); d < 59*time.Minute || d > time.Hour {
			t.Fatalf("lifetime %v, want 1h", d)
		}
		if _, err := e.Enroll(context.Background(), tok, mustCSR(t, mustKey(t))); !errors.Is(err, certs.ErrTokenRedeemed) {
			t.Fatalf("second enroll err = %v, want ErrTokenRedeemed", err)
		}
	})
	t.Run("ErrMalformedTokenNeverReachesStore", func(t *testing.T) {
		store := &memTokens{name: "alice"}
		e := &certs.Enroller{CA: ca, Tokens: store}
		for _, bad := range []string{"", "taonet_short", "other_" + strings.TrimPrefix(tok, "taonet_")} {
			if _, err := e.Enroll(context.Background(), bad, mustCSR(t, mustKey(t))); !errors.Is(err, certs.ErrTokenUnknown) {
				t.Errorf("token %q: err = %v, want ErrTokenUnknown", bad, err)
			}
		}
		if store.calls != 0 {
			t.Fatalf("store called %d times for malformed tokens", store.calls)
		}
	})
	t.Run("ErrBadCSRNeverReachesStore", func(t *testing.T) {
		store := &memTokens{name: "alice"}
		e := &certs.Enroller{CA: ca, Tokens: store}
		if _, err := e.Enroll(context.Background(), tok, []byte("junk")); !errors.Is(err, certs.ErrBadCSR) {
			t.Fatalf("err = %v, want ErrBadCSR", err)
		}
		if store.calls != 0 {
			t.Fatal("store called for a bad CSR")
		}
	})
}
