package coordinator_test

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

func mustOpenLedger(tb testing.TB, home string) *ledger.DB {
	tb.Helper()
	db, err := ledger.Open(context.Background(), filepath.Join(home, coordinator.DatabaseFile))
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestInitEmission checks that init records E0 for the schedule.
func TestInitEmission(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "net")
		if err := coordinator.Init(ctx, coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"localhost"}, Task: "fmnist", Emission: 500_000_000}); err != nil {
			t.Fatal(err)
		}
		db := mustOpenLedger(t, home)
		defer db.Close()
		s, err := db.GetSupply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.InitialEmission != 500_000_000 || s.Emission != 500_000_000 {
			t.Fatalf("supply = %+v, want E0 and emission 0.5 TAO", s)
		}
	})
	t.Run("OKDefault", func(t *testing.T) {
		db := mustOpenLedger(t, mustInit(t))
		defer db.Close()
		s, err := db.GetSupply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.InitialEmission != ledger.DefaultEmission {
			t.Fatalf("E0 = %d, want the default %d", s.InitialEmission, ledger.DefaultEmission)
		}
	})
}

// TestRestartAbortsOpenRound checks docs/design.md "A round": a round left open
// by a coordinator that died mid-round is aborted on restart, never paid.
func TestRestartAbortsOpenRound(t *testing.T) {
	ctx := context.Background()
	home := mustInit(t)
	db := mustOpenLedger(t, home)
	hash := sha256.Sum256([]byte("secret"))
	if err := db.OpenRound(ctx, 1, 42, hash[:]); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	n := &testNet{home: home, logs: &syncBuffer{}}
	n.start(t, nil)
	n.stop()

	db = mustOpenLedger(t, home)
	defer db.Close()
	r, err := db.GetRound(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != ledger.RoundAborted {
		t.Fatalf("round 1 state = %s after restart, want aborted", r.State)
	}
	ca, err := coordinator.ReadCA(home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Verify(ctx, ca); err != nil {
		t.Fatalf("verify after restart: %v", err)
	}
}
