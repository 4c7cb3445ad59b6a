package ledger_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/ledger"
)

// testTrustDomain is the trust domain of the test ledgers.
const testTrustDomain = "taonet.local"

// testCAs maps each test ledger to the CA of its round signer.
var testCAs sync.Map // *ledger.DB -> *x509.Certificate

// mustLedger opens a fresh, fully migrated ledger in a temporary folder
// that signs settled rounds with a coordinator certificate of a test CA.
func mustLedger(tb testing.TB) *ledger.DB {
	tb.Helper()
	db, err := ledger.Open(context.Background(), filepath.Join(tb.TempDir(), "taonet.db"))
	if err != nil {
		tb.Fatalf("open ledger: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	mustSigner(tb, db)
	return db
}

// mustSigner makes db sign rounds with a new test CA's coordinator
// certificate and returns the CA.
func mustSigner(tb testing.TB, db *ledger.DB) *certs.CA {
	tb.Helper()
	ca := testdata.RoundSigner(tb, db, testTrustDomain)
	testCAs.Store(db, ca.Cert)
	return ca
}

// caOf returns the CA of db's round signer.
func caOf(tb testing.TB, db *ledger.DB) *x509.Certificate {
	tb.Helper()
	ca, ok := testCAs.Load(db)
	if !ok {
		tb.Fatal("the test ledger has no round signer (mustSigner)")
	}
	return ca.(*x509.Certificate)
}

// peerID is the SPIFFE ID of test peer name.
func peerID(name string) string { return "spiffe://" + testTrustDomain + "/peer/" + name }

// mustPeers enrolls active peers with plain SQL, a directory row and a
// certificate row each, and returns their identities.
func mustPeers(tb testing.TB, db *ledger.DB, names ...string) []string {
	tb.Helper()
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = peerID(n)
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, ids[i], n); err != nil {
			tb.Fatalf("enroll %s: %v", n, err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO certificates (serial, identity, not_before, not_after, issued_at)
			VALUES (?, ?, 0, 1, 0)`, "cert-"+n, ids[i]); err != nil {
			tb.Fatalf("certificate of %s: %v", n, err)
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
	if _, err := db.Verify(context.Background(), caOf(tb, db)); err != nil {
		tb.Fatalf("verify: %v", err)
	}
}

func TestOpenRound(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := mustLedger(t)
		before := time.Now().Add(-time.Second)
		mustOpenRound(t, db, 1)
		r, err := db.GetRound(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != 1 || r.State != ledger.RoundOpen || r.Seed != 1*7919 || string(r.SeedHash) != string(roundSeedHash(1)) ||
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
		{"ErrNotAfterLast", func(db *ledger.DB) { mustSettle(t, db, 1, nil); mustSettle(t, db, 2, nil) }, 2, roundSeedHash(2), ledger.ECONFLICT},
		{"ErrBeforeLast", func(db *ledger.DB) { mustSettle(t, db, 1, nil); mustSettle(t, db, 2, nil) }, 1, roundSeedHash(1), ledger.ECONFLICT},
		{"ErrSkipsARound", func(db *ledger.DB) { mustSettle(t, db, 1, nil) }, 3, roundSeedHash(3), ledger.ECONFLICT},
		{"ErrFirstNotOne", nil, 2, roundSeedHash(2), ledger.ECONFLICT},
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
