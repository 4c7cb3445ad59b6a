package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/taonet/taonet/ledger"
)

// mustLedger opens a fresh, fully migrated ledger in a temporary folder.
func mustLedger(tb testing.TB) *ledger.DB {
	tb.Helper()
	db, err := ledger.Open(context.Background(), filepath.Join(tb.TempDir(), "taonet.db"))
	if err != nil {
		tb.Fatalf("open ledger: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// peerID is the SPIFFE ID of test peer name.
func peerID(name string) string { return "spiffe://taonet.local/peer/" + name }

// mustPeers enrolls peers in the directory with plain SQL (the directory
// API belongs to the identity work) and returns their identities.
func mustPeers(tb testing.TB, db *ledger.DB, names ...string) []string {
	tb.Helper()
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = peerID(n)
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, ids[i], n); err != nil {
			tb.Fatalf("enroll %s: %v", n, err)
		}
	}
	return ids
}

// roundSeed is the secret validation seed of round n in tests.
func roundSeed(n uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte("validation-seed-"), n)
}

func roundSeedHash(n uint64) []byte {
	h := sha256.Sum256(roundSeed(n))
	return h[:]
}

// mustOpenRound opens round n with the test seeds.
func mustOpenRound(tb testing.TB, db *ledger.DB, n uint64) {
	tb.Helper()
	if err := db.OpenRound(context.Background(), n, n*7919, roundSeedHash(n)); err != nil {
		tb.Fatalf("open round %d: %v", n, err)
	}
}

// scored returns scored evaluations of ids with the given shares.
func scored(ids []string, shares ...uint64) []ledger.Evaluation {
	evs := make([]ledger.Evaluation, len(ids))
	for i, id := range ids {
		evs[i] = ledger.Evaluation{Identity: id, Loss: 0.5, Accuracy: 0.8, Weight: 0, Shares: shares[i], Status: ledger.EvalScored}
	}
	return evs
}

// mustSettle opens and settles round n.
func mustSettle(tb testing.TB, db *ledger.DB, n uint64, evs []ledger.Evaluation) *ledger.Settlement {
	tb.Helper()
	mustOpenRound(tb, db, n)
	s, err := db.Settle(context.Background(), n, roundSeed(n), evs)
	if err != nil {
		tb.Fatalf("settle round %d: %v", n, err)
	}
	return s
}

// wantCode fails unless err is a ledger error with code.
func wantCode(tb testing.TB, err error, code ledger.ErrorCode) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err = nil, want code %s", code)
	}
	if got := ledger.ErrorCodeOf(err); got != code {
		tb.Fatalf("err = %v (code %q), want code %q", err, got, code)
	}
}

func mustVerify(tb testing.TB, db *ledger.DB) {
	tb.Helper()
	if err := db.Verify(context.Background()); err != nil {
		tb.Fatalf("verify: %v", err)
	}
}

func TestOpenRound(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := mustLedger(t)
		before := time.Now().Add(-time.Second)
		mustOpenRound(t, db, 3)
		r, err := db.GetRound(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != 3 || r.State != ledger.RoundOpen || r.Seed != 3*7919 || string(r.SeedHash) != string(roundSeedHash(3)) ||
			r.OpenedAt.Before(before) || !r.ClosedAt.IsZero() || r.Emission != 0 || len(r.Evaluations) != 0 {
			t.Fatalf("round = %+v", r)
		}
	})
	t.Run("OKSeedAboveMaxInt64", func(t *testing.T) {
		db := mustLedger(t)
		if err := db.OpenRound(ctx, 1, ^uint64(0), roundSeedHash(1)); err != nil {
			t.Fatal(err)
		}
		r, err := db.GetRound(ctx, 1)
		if err != nil || r.Seed != ^uint64(0) {
			t.Fatalf("seed = %d, %v", r.Seed, err)
		}
	})
	tests := []struct {
		name  string
		setup func(db *ledger.DB)
		num   uint64
		hash  []byte
		code  ledger.ErrorCode
	}{
		{"ErrZero", nil, 0, roundSeedHash(0), ledger.EINVALID},
		{"ErrHashLength", nil, 1, []byte("short"), ledger.EINVALID},
		{"ErrAlreadyOpen", func(db *ledger.DB) { mustOpenRound(t, db, 1) }, 2, roundSeedHash(2), ledger.ECONFLICT},
		{"ErrNotAfterLast", func(db *ledger.DB) { mustSettle(t, db, 5, nil) }, 5, roundSeedHash(5), ledger.ECONFLICT},
		{"ErrBeforeLast", func(db *ledger.DB) { mustSettle(t, db, 5, nil) }, 4, roundSeedHash(4), ledger.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustLedger(t)
			if tt.setup != nil {
				tt.setup(db)
			}
			wantCode(t, db.OpenRound(ctx, tt.num, 1, tt.hash), tt.code)
		})
	}
}

func TestAbortOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := mustLedger(t)
		ids := mustPeers(t, db, "alice")
		mustSettle(t, db, 1, scored(ids, 1))
		mustOpenRound(t, db, 2)
		n, err := db.AbortOpen(ctx)
		if err != nil || n != 1 {
			t.Fatalf("abort = %d, %v; want 1", n, err)
		}
		r, err := db.GetRound(ctx, 2)
		if err != nil || r.State != ledger.RoundAborted || r.ClosedAt.IsZero() {
			t.Fatalf("round 2 = %+v, %v", r, err)
		}
		// An aborted round is never paid, and the next round can open.
		_, err = db.Settle(ctx, 2, roundSeed(2), scored(ids, 1))
		wantCode(t, err, ledger.ECONFLICT)
		mustSettle(t, db, 3, scored(ids, 1))
		if n, err := db.AbortOpen(ctx); err != nil || n != 0 {
			t.Fatalf("second abort = %d, %v; want 0", n, err)
		}
		mustVerify(t, db)
	})
}

func TestGetRound(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob")
	mustSettle(t, db, 1, scored(ids, 3, 1))
	t.Run("OK", func(t *testing.T) {
		r, err := db.GetRound(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != ledger.RoundSettled || r.Emission != ledger.DefaultEmission || string(r.RevealedSeed) != string(roundSeed(1)) || r.ClosedAt.IsZero() {
			t.Fatalf("round = %+v", r)
		}
		if len(r.Evaluations) != 2 || r.Evaluations[0].Identity != ids[0] || r.Evaluations[0].Payout != 750_000_000 ||
			r.Evaluations[1].Payout != 250_000_000 || r.Evaluations[0].Shares != 3 || r.Evaluations[0].Loss != 0.5 {
			t.Fatalf("evaluations = %+v", r.Evaluations)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.GetRound(ctx, 2)
		wantCode(t, err, ledger.ENOTFOUND)
		_, err = mustLedger(t).GetRound(ctx, 0)
		wantCode(t, err, ledger.ENOTFOUND)
	})
}

func TestListRounds(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	for n := uint64(1); n <= 7; n++ {
		mustSettle(t, db, n, nil)
	}
	t.Run("OK", func(t *testing.T) {
		var got []uint64
		token := ""
		for pages := 0; ; pages++ {
			rs, next, err := db.ListRounds(ctx, ledger.Page{Size: 3, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				got = append(got, r.Number)
			}
			if next == "" {
				break
			}
			token = next
		}
		if fmt.Sprint(got) != "[7 6 5 4 3 2 1]" {
			t.Fatalf("rounds = %v", got)
		}
	})
	t.Run("ErrPageToken", func(t *testing.T) {
		_, _, err := db.ListRounds(ctx, ledger.Page{Token: "not-a-token!"})
		wantCode(t, err, ledger.EINVALID)
		_, accountsToken, err := db.ListAccounts(ctx, ledger.Page{Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = db.ListRounds(ctx, ledger.Page{Token: accountsToken + "x"})
		wantCode(t, err, ledger.EINVALID)
	})
	t.Run("ErrPageSize", func(t *testing.T) {
		_, _, err := db.ListRounds(ctx, ledger.Page{Size: ledger.MaxPageSize + 1})
		wantCode(t, err, ledger.EINVALID)
	})
}
