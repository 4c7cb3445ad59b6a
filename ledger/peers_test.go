package ledger_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/taonet/taonet/ledger"
)

func TestListPeers(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	mustInitialEmission(t, db, 100)
	ids := mustPeers(t, db, "dave", "carol", "bob", "alice")
	mustSettle(t, db, 1, scored(ids, 1, 1, 1, 1))
	if _, _, err := db.LeavePeer(ctx, ids[1], time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Revoke(ctx, ids[0], "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// A client is not a peer.
	if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
		VALUES ('spiffe://taonet.local/client/ops', 'ops', 'client', 'enrolled', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		peers, total, err := db.ListPeers(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range peers {
			got = append(got, fmt.Sprintf("%s %s %d", p.Name, p.State, p.Balance))
		}
		want := []string{"alice active 25", "bob active 25", "carol left 25", "dave revoked 25"}
		if total != 4 || !slices.Equal(got, want) {
			t.Fatalf("peers = %q (of %d), want %q (of 4)", got, total, want)
		}
	})
	t.Run("OKCount", func(t *testing.T) {
		counts, err := db.CountPeers(ctx)
		want := map[string]int{ledger.StateActive: 2, ledger.StateLeft: 1, ledger.StateRevoked: 1}
		if err != nil || !maps.Equal(counts, want) {
			t.Fatalf("counts = %v, %v; want %v", counts, err, want)
		}
	})
	t.Run("OKLimit", func(t *testing.T) {
		peers, total, err := db.ListPeers(ctx, 1)
		if err != nil || total != 4 || len(peers) != 1 || peers[0].Name != "alice" {
			t.Fatalf("peers = %+v (of %d), %v; want alice of 4", peers, total, err)
		}
	})
	for _, limit := range []int{0, ledger.MaxListedPeers + 1} {
		t.Run(fmt.Sprintf("ErrLimit%d", limit), func(t *testing.T) {
			_, _, err := db.ListPeers(ctx, limit)
			wantCode(t, err, ledger.EINVALID)
		})
	}
}
