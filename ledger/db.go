package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	// Registers the "sqlite3" driver.
	_ "github.com/mattn/go-sqlite3"
)

// DefaultBusyTimeout is how long a writer waits for a lock held by another
// connection before SQLite reports SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// DB is the coordinator's database. It is safe for concurrent use.
type DB struct {
	db     *sql.DB
	path   string
	signer atomic.Pointer[RoundSigner] // see SignRoundsWith
}

// Open opens (creating if needed) the database at path, checks its pragmas
// and applies every pending embedded migration. It refuses a database whose
// schema is newer than this binary knows.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := OpenRaw(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db.db, Migrations()); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// OpenRaw opens the database at path with its pragmas checked but applies no
// migration. Tests and tools use it to inspect or prepare a database.
func OpenRaw(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open ledger: empty database path")
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", fmt.Sprint(DefaultBusyTimeout.Milliseconds()))
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db := &DB{db: sqldb, path: path}
	if err := db.checkPragmas(ctx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return db, nil
}

// checkPragmas verifies that the connection settings took effect: SQLite
// silently keeps the old journal mode when it cannot switch.
func (db *DB) checkPragmas(ctx context.Context) error {
	want := map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "2", // FULL
		"busy_timeout": fmt.Sprint(DefaultBusyTimeout.Milliseconds()),
	}
	for _, name := range []string{"journal_mode", "foreign_keys", "synchronous", "busy_timeout"} {
		var got string
		if err := db.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
			return fmt.Errorf("read pragma %s: %w", name, err)
		}
		if !strings.EqualFold(got, want[name]) {
			return fmt.Errorf("pragma %s is %q, want %q", name, got, want[name])
		}
	}
	return nil
}

// SQL returns the underlying handle for packages and tests that need raw
// access (verification, fault injection). Writers should use the ledger's
// methods, which keep the invariants.
func (db *DB) SQL() *sql.DB { return db.db }

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// BeginTx starts a transaction. Callers defer Rollback and Commit at the end.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return db.db.BeginTx(ctx, opts)
}

// OpenReadOnly opens the database at path for reading only, as status
// commands do beside a running coordinator: SQLite's read-only mode, no
// migration, no pragma set but the busy timeout. It refuses a path with no
// database, and a database whose schema is not this binary's
// (ErrSchemaTooNew, wrapped, for a newer one; an older one needs a
// coordinator of this version to migrate it first).
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", fmt.Sprint(DefaultBusyTimeout.Milliseconds()))
	sqldb, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	ms, err := LoadMigrations(Migrations())
	if err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	v, err := SchemaVersion(ctx, sqldb)
	switch {
	case err != nil:
		err = fmt.Errorf("open ledger %s: %w", path, err)
	case v > len(ms):
		err = fmt.Errorf("open ledger %s: %w: database is at version %d, this binary knows up to %d; upgrade taonet", path, ErrSchemaTooNew, v, len(ms))
	case v < len(ms):
		err = fmt.Errorf("open ledger %s: database is at schema version %d, this binary's is %d; start this version's coordinator once to migrate it", path, v, len(ms))
	}
	if err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	return &DB{db: sqldb, path: path}, nil
}
