package ledger_test

import (
	"context"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestGetSupply(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice")
	got, err := db.GetSupply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.Supply{Cap: ledger.Cap, InitialEmission: ledger.DefaultEmission, Emission: ledger.DefaultEmission, NextHalvingAt: ledger.Cap / 2}
	if got != want {
		t.Fatalf("fresh supply = %+v, want %+v", got, want)
	}
	mustSettle(t, db, 1, scored(ids, 1))
	mustSettle(t, db, 2, scored(ids, 1))
	got, err = db.GetSupply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.Minted = 2 * ledger.DefaultEmission
	if got != want {
		t.Fatalf("supply = %+v, want %+v", got, want)
	}
}

func TestSetInitialEmission(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := mustLedger(t)
		ids := mustPeers(t, db, "alice")
		mustInitialEmission(t, db, 2*ledger.RaoPerTAO)
		if s := mustSettle(t, db, 1, scored(ids, 1)); s.Emission != 2*ledger.RaoPerTAO {
			t.Fatalf("emission = %d", s.Emission)
		}
		// Setting the same value again is allowed once minted.
		mustInitialEmission(t, db, 2*ledger.RaoPerTAO)
	})
	t.Run("ErrAfterMint", func(t *testing.T) {
		db := mustLedger(t)
		ids := mustPeers(t, db, "alice")
		mustSettle(t, db, 1, scored(ids, 1))
		wantCode(t, db.SetInitialEmission(ctx, 5), ledger.ECONFLICT)
	})
	t.Run("ErrZero", func(t *testing.T) {
		wantCode(t, mustLedger(t).SetInitialEmission(ctx, 0), ledger.EINVALID)
	})
	t.Run("ErrAboveCap", func(t *testing.T) {
		wantCode(t, mustLedger(t).SetInitialEmission(ctx, ledger.Cap+1), ledger.EINVALID)
	})
}
