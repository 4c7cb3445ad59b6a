package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/taonet/taonet/ledger"
)

func mustOpenRaw(tb testing.TB, path string) *ledger.DB {
	tb.Helper()
	db, err := ledger.OpenRaw(context.Background(), path)
	if err != nil {
		tb.Fatalf("open raw: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func mustVersion(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	v, err := ledger.SchemaVersion(context.Background(), db)
	if err != nil {
		tb.Fatalf("schema version: %v", err)
	}
	return v
}

func tableExists(tb testing.TB, db *sql.DB, name string) bool {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		tb.Fatalf("sqlite_master: %v", err)
	}
	return n == 1
}

var (
	m1 = &fstest.MapFile{Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY);`)}
	m2 = &fstest.MapFile{Data: []byte(`CREATE TABLE b (id INTEGER PRIMARY KEY); INSERT INTO a (id) VALUES (7);`)}
)

func TestOpen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "taonet.db")
		db, err := ledger.Open(ctx, path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		want, err := ledger.LoadMigrations(ledger.Migrations())
		if err != nil {
			t.Fatal(err)
		}
		if got := mustVersion(t, db.SQL()); got != len(want) {
			t.Fatalf("version = %d, want %d", got, len(want))
		}
		for _, table := range []string{"network", "directory", "join_tokens", "certificates", "revocations"} {
			if !tableExists(t, db.SQL(), table) {
				t.Errorf("table %s missing", table)
			}
		}
		var mode string
		if err := db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		// Reopening is a no-op.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db2, err := ledger.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db2.Close()
		if got := mustVersion(t, db2.SQL()); got != len(want) {
			t.Fatalf("version after reopen = %d, want %d", got, len(want))
		}
	})
	t.Run("ErrForeignKeys", func(t *testing.T) {
		db, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "fk.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_, err = db.SQL().Exec(`INSERT INTO certificates (serial, identity, not_before, not_after, issued_at) VALUES ('01', 'spiffe://x/peer/nobody', 0, 0, 0)`)
		if err == nil {
			t.Fatal("insert referencing a missing identity succeeded; foreign keys are off")
		}
	})
	t.Run("ErrEmptyPath", func(t *testing.T) {
		if _, err := ledger.Open(context.Background(), ""); err == nil {
			t.Fatal("empty path accepted")
		}
	})
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := mustOpenRaw(t, filepath.Join(t.TempDir(), "m.db")).SQL()
		if err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1, "0002_b.sql": m2}); err != nil {
			t.Fatal(err)
		}
		if got := mustVersion(t, db); got != 2 {
			t.Fatalf("version = %d, want 2", got)
		}
	})
	t.Run("OKForwardFromOlder", func(t *testing.T) {
		db := mustOpenRaw(t, filepath.Join(t.TempDir(), "m.db")).SQL()
		if err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO a (id) VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		if err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1, "0002_b.sql": m2}); err != nil {
			t.Fatalf("forward: %v", err)
		}
		if got := mustVersion(t, db); got != 2 {
			t.Fatalf("version = %d, want 2", got)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("rows in a = %d, %v; want 2 (old row kept, migration row added)", n, err)
		}
	})
	t.Run("OKRealForwardFromVersion1", func(t *testing.T) {
		all, err := ledger.LoadMigrations(ledger.Migrations())
		if err != nil {
			t.Fatal(err)
		}
		first := fstest.MapFS{"0001_x.sql": &fstest.MapFile{Data: []byte(all[0].SQL)}}
		path := filepath.Join(t.TempDir(), "real.db")
		raw := mustOpenRaw(t, path)
		if err := ledger.Migrate(ctx, raw.SQL(), first); err != nil {
			t.Fatal(err)
		}
		if err := raw.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := ledger.Open(ctx, path)
		if err != nil {
			t.Fatalf("open migrates forward: %v", err)
		}
		defer db.Close()
		if got := mustVersion(t, db.SQL()); got != len(all) {
			t.Fatalf("version = %d, want %d", got, len(all))
		}
	})
	t.Run("ErrNewerRefused", func(t *testing.T) {
		db := mustOpenRaw(t, filepath.Join(t.TempDir(), "m.db")).SQL()
		if err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1, "0002_b.sql": m2}); err != nil {
			t.Fatal(err)
		}
		err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1})
		if !errors.Is(err, ledger.ErrSchemaTooNew) {
			t.Fatalf("err = %v, want ErrSchemaTooNew", err)
		}
		if got := mustVersion(t, db); got != 2 {
			t.Fatalf("version = %d after refusal, want 2", got)
		}
	})
	t.Run("ErrNewerRefusedByOpen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "newer.db")
		db, err := ledger.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		if _, err := ledger.Open(ctx, path); !errors.Is(err, ledger.ErrSchemaTooNew) {
			t.Fatalf("open newer database: err = %v, want ErrSchemaTooNew", err)
		}
	})
	t.Run("ErrFailedMigrationRollsBack", func(t *testing.T) {
		db := mustOpenRaw(t, filepath.Join(t.TempDir(), "m.db")).SQL()
		if err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1}); err != nil {
			t.Fatal(err)
		}
		bad := &fstest.MapFile{Data: []byte(`CREATE TABLE c (id INTEGER); INSERT INTO a (id) VALUES (5); INSERT INTO nosuch VALUES (1);`)}
		err := ledger.Migrate(ctx, db, fstest.MapFS{"0001_a.sql": m1, "0002_bad.sql": bad})
		if err == nil {
			t.Fatal("failing migration reported success")
		}
		if got := mustVersion(t, db); got != 1 {
			t.Fatalf("version = %d after failed migration, want 1", got)
		}
		if tableExists(t, db, "c") {
			t.Fatal("table c from the failed migration survived")
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rows in a = %d, %v; want 0", n, err)
		}
	})
	t.Run("ErrBadNames", func(t *testing.T) {
		for name, fsys := range map[string]fstest.MapFS{
			"gap":      {"0001_a.sql": m1, "0003_c.sql": m2},
			"noNumber": {"a.sql": m1},
			"dup":      {"0001_a.sql": m1, "01_b.sql": m2},
		} {
			if _, err := ledger.LoadMigrations(fsys); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

// TestMigrateDuplicateStatus migrates a database holding settled
// evaluations across the migration that allows the 'duplicate' status: the
// rows survive unchanged, the table keeps its keys and uniqueness, and a
// duplicate evaluation is refused before and accepted after.
func TestMigrateDuplicateStatus(t *testing.T) {
	ctx := context.Background()
	all, err := ledger.LoadMigrations(ledger.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for i, m := range all {
		if m.Name == "duplicate_status" {
			at = i
		}
	}
	if at < 0 {
		t.Fatal("no duplicate_status migration")
	}
	older := fstest.MapFS{}
	for _, m := range all[:at] {
		older[fmt.Sprintf("%04d_%s.sql", m.Version, m.Name)] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	path := filepath.Join(t.TempDir(), "old.db")
	raw := mustOpenRaw(t, path)
	if err := ledger.Migrate(ctx, raw.SQL(), older); err != nil {
		t.Fatal(err)
	}
	ids := mustPeers(t, raw, "alice", "bob", "carol")
	alice, bob, carol := ids[0], ids[1], ids[2]
	mustLegacySettle(t, raw, 1, []ledger.Evaluation{
		{Identity: alice, Loss: 0.25, Accuracy: 0.875, Weight: 1, Shares: 3, Status: ledger.EvalScored, Payout: ledger.DefaultEmission},
		{Identity: bob, Status: ledger.EvalTimeout},
		{Identity: carol, Status: ledger.EvalInvalid},
	})
	withDuplicate := []ledger.Evaluation{
		{Identity: alice, Loss: 0.5, Accuracy: 0.75, Weight: 1, Shares: 1, Status: ledger.EvalScored},
		{Identity: bob, Loss: 0.5, Accuracy: 0.75, Status: ledger.EvalDuplicate},
	}
	mustOpenRound(t, raw, 2)
	before := ledgerState(t, raw)

	t.Run("ErrDuplicateBefore", func(t *testing.T) {
		_, err := raw.SQL().Exec(`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
			VALUES (2, ?, 0.5, 0.75, 0, 0, 'duplicate', 0)`, bob)
		if err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
			t.Fatalf("a duplicate evaluation before the migration: err = %v, want a CHECK failure", err)
		}
		if got := ledgerState(t, raw); got != before {
			t.Fatalf("refused evaluation wrote:\n%s\nwas\n%s", got, before)
		}
	})
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatalf("open migrates forward: %v", err)
	}
	defer db.Close()
	mustSigner(t, db)

	t.Run("OKRowsKept", func(t *testing.T) {
		if got := mustVersion(t, db.SQL()); got != len(all) {
			t.Fatalf("version = %d, want %d", got, len(all))
		}
		if got := ledgerState(t, db); got != before {
			t.Fatalf("migration changed the ledger:\n%s\nwas\n%s", got, before)
		}
		if tableExists(t, db.SQL(), "evaluations_new") {
			t.Fatal("evaluations_new left behind")
		}
		rows, err := db.SQL().Query(`PRAGMA foreign_key_check`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if rows.Next() {
			t.Fatal("foreign_key_check reports a broken reference")
		}
		mustVerify(t, db)
	})
	t.Run("ErrConstraintsKept", func(t *testing.T) {
		for _, tt := range []struct {
			round    int
			identity string
			want     string
		}{
			{99, alice, "FOREIGN KEY"},            // no such round
			{1, peerID("mallory"), "FOREIGN KEY"}, // not in the directory
			{1, alice, "UNIQUE"},                  // evaluated twice
		} {
			_, err := db.SQL().Exec(`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
				VALUES (?, ?, 0, 0, 0, 0, 'duplicate', 0)`, tt.round, tt.identity)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("evaluation of %s in round %d: err = %v, want %s", tt.identity, tt.round, err, tt.want)
			}
		}
		_, err := db.SQL().Exec(`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
			VALUES (2, ?, 0, 0, 0, 0, 'copied', 0)`, carol)
		if err == nil || !strings.Contains(err.Error(), "CHECK") {
			t.Errorf("unknown status: err = %v, want a CHECK failure", err)
		}
	})
	t.Run("OKDuplicateAfter", func(t *testing.T) {
		s, err := db.Settle(ctx, 2, roundSeed(2), withDuplicate)
		if err != nil {
			t.Fatalf("settle a duplicate after the migration: %v", err)
		}
		if got := payoutMap(s); got[alice] != s.Emission || got[bob] != 0 || s.Emission == 0 {
			t.Fatalf("payouts = %v of %d, want all to alice", got, s.Emission)
		}
		r, err := db.GetRound(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Evaluations) != 2 || r.Evaluations[1].Identity != bob || r.Evaluations[1].Status != ledger.EvalDuplicate {
			t.Fatalf("round 2 evaluations = %+v", r.Evaluations)
		}
		mustVerify(t, db)
	})
}
