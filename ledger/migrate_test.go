package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
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
