package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestGetBalance(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob", "carol")
	mustSettle(t, db, 1, scored(ids[:2], 3, 1))
	tests := []struct {
		name    string
		account string
		want    uint64
		code    ledger.ErrorCode
	}{
		{"OK", ids[0], 750_000_000, ""},
		{"OKNeverPaid", ids[2], 0, ""},
		{"ErrUnknown", peerID("mallory"), 0, ledger.ENOTFOUND},
		{"ErrEmpty", "", 0, ledger.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := db.GetBalance(ctx, tt.account)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil || b.Rao != tt.want || b.Account != tt.account {
				t.Fatalf("balance = %+v, %v; want %d", b, err, tt.want)
			}
		})
	}
}

func TestListAccounts(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	mustInitialEmission(t, db, 100)
	ids := mustPeers(t, db, "a", "b", "c", "d", "e", "f", "g")
	// Balances: b and e tie at 20, so they sort by account.
	mustSettle(t, db, 1, scored(ids, 5, 20, 10, 0, 20, 40, 5))
	t.Run("OK", func(t *testing.T) {
		for _, size := range []uint32{1, 2, 3, 6, 7, 0} {
			var got []string
			token := ""
			for {
				page, next, err := db.ListAccounts(ctx, ledger.Page{Size: size, Token: token})
				if err != nil {
					t.Fatal(err)
				}
				if size != 0 && len(page) > int(size) {
					t.Fatalf("page of %d rows for size %d", len(page), size)
				}
				for _, b := range page {
					got = append(got, fmt.Sprintf("%s=%d", b.Account[len(b.Account)-1:], b.Rao))
				}
				if next == "" {
					break
				}
				token = next
			}
			if want := "[f=40 b=20 e=20 c=10 a=5 g=5]"; fmt.Sprint(got) != want {
				t.Fatalf("size %d: accounts = %v, want %s", size, got, want)
			}
		}
	})
	t.Run("ErrPageToken", func(t *testing.T) {
		mustSettle(t, db, 2, nil) // so rounds has a second page
		_, roundsToken, err := db.ListRounds(ctx, ledger.Page{Size: 1})
		if err != nil || roundsToken == "" {
			t.Fatalf("rounds token %q, %v", roundsToken, err)
		}
		for _, tok := range []string{"%%%", "YWJj", roundsToken} {
			_, _, err := db.ListAccounts(ctx, ledger.Page{Token: tok})
			wantCode(t, err, ledger.EINVALID)
		}
	})
	t.Run("ErrPageSize", func(t *testing.T) {
		_, _, err := db.ListAccounts(ctx, ledger.Page{Size: 1001})
		wantCode(t, err, ledger.EINVALID)
	})
}
