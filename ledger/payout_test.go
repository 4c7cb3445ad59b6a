package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestListPayouts(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	mustInitialEmission(t, db, 10)
	ids := mustPeers(t, db, "a", "b", "c")
	mustSettle(t, db, 1, scored(ids, 1, 1, 0)) // a=5 b=5
	mustSettle(t, db, 2, scored(ids, 1, 0, 1)) // a=5 c=5
	mustSettle(t, db, 3, scored(ids, 0, 1, 4)) // b=2 c=8
	all := func(f ledger.PayoutFilter, size uint32) []string {
		t.Helper()
		var got []string
		token := ""
		for {
			page, next, err := db.ListPayouts(ctx, f, ledger.Page{Size: size, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				got = append(got, fmt.Sprintf("%d%s=%d", p.Round, p.Account[len(p.Account)-1:], p.Rao))
			}
			if next == "" {
				return got
			}
			token = next
		}
	}
	tests := []struct {
		name   string
		filter ledger.PayoutFilter
		want   string
	}{
		{"OKAll", ledger.PayoutFilter{}, "[3b=2 3c=8 2a=5 2c=5 1a=5 1b=5]"},
		{"OKByAccount", ledger.PayoutFilter{Account: ids[2]}, "[3c=8 2c=5]"},
		{"OKByRound", ledger.PayoutFilter{Round: 2}, "[2a=5 2c=5]"},
		{"OKByBoth", ledger.PayoutFilter{Account: ids[0], Round: 1}, "[1a=5]"},
		{"OKNone", ledger.PayoutFilter{Round: 99}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []uint32{1, 2, 5, 0} {
				if got := fmt.Sprint(all(tt.filter, size)); got != tt.want {
					t.Fatalf("size %d: payouts = %s, want %s", size, got, tt.want)
				}
			}
		})
	}
	t.Run("ErrTokenOfOtherFilter", func(t *testing.T) {
		_, next, err := db.ListPayouts(ctx, ledger.PayoutFilter{Account: ids[0]}, ledger.Page{Size: 1})
		if err != nil || next == "" {
			t.Fatalf("next = %q, %v", next, err)
		}
		_, _, err = db.ListPayouts(ctx, ledger.PayoutFilter{Account: ids[1]}, ledger.Page{Token: next})
		wantCode(t, err, ledger.EINVALID)
	})
	t.Run("ErrPageToken", func(t *testing.T) {
		_, _, err := db.ListPayouts(ctx, ledger.PayoutFilter{}, ledger.Page{Token: "garbage"})
		wantCode(t, err, ledger.EINVALID)
	})
}
