package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taonet/taonet/ledger"
)

func TestDirectory(t *testing.T) {
	ctx := context.Background()
	db, ca := idMustDB(t)
	var ids []string
	for _, n := range []string{"carol", "alice", "bob"} {
		iss := idMustEnroll(t, db, ca, n)
		if _, err := db.JoinPeer(ctx, iss.ID.String(), n+".example:7000", []byte{1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, iss.ID.String())
	}
	t.Run("OKPaged", func(t *testing.T) {
		first, err := db.ActivePeers(ctx, "", 2)
		if err != nil || len(first) != 2 || first[0].Name != "alice" || first[1].Name != "bob" {
			t.Fatalf("page 1 = %+v, %v", first, err)
		}
		rest, err := db.ActivePeers(ctx, first[1].Identity, 2)
		if err != nil || len(rest) != 1 || rest[0].Name != "carol" || rest[0].Address != "carol.example:7000" {
			t.Fatalf("page 2 = %+v, %v", rest, err)
		}
	})
	t.Run("OKLeave", func(t *testing.T) {
		e, was, err := db.LeavePeer(ctx, ids[0], time.Now())
		if err != nil || !was || e.State != ledger.StateLeft {
			t.Fatalf("leave = %+v, %v, %v", e, was, err)
		}
		if _, was, _ := db.LeavePeer(ctx, ids[0], time.Now()); was {
			t.Fatal("second leave reported the peer active")
		}
		act, _ := db.ActivePeers(ctx, "", 10)
		if len(act) != 2 {
			t.Fatalf("active = %d, want 2", len(act))
		}
	})
	t.Run("ErrJoinUnknown", func(t *testing.T) {
		if _, err := db.JoinPeer(ctx, "spiffe://id.test/peer/ghost", "x:1", nil, time.Now()); !errors.Is(err, ledger.ErrNoIdentity) {
			t.Fatalf("err = %v, want ErrNoIdentity", err)
		}
	})
}
