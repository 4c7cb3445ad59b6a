package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/taonet/taonet/certs"
)

// Directory states of an identity.
const (
	StateEnrolled = "enrolled" // has a certificate, not in the live directory
	StateActive   = "active"   // a peer in the live directory
	StateLeft     = "left"     // a peer that left
	StateRevoked  = "revoked"  // every certificate revoked
)

// Entry is one identity of the directory.
type Entry struct {
	Identity   string
	Name       string
	Role       certs.Role
	State      string
	Address    string
	Card       []byte // protobuf taonet.v1.ModelCard, nil until joined
	EnrolledAt time.Time
	JoinedAt   time.Time // zero if never joined
	UpdatedAt  time.Time
}

const entryColumns = `identity, name, role, state, address, card, enrolled_at, joined_at, updated_at`

func scanEntry(row interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var role string
	var enrolled, updated int64
	var joined sql.NullInt64
	if err := row.Scan(&e.Identity, &e.Name, &role, &e.State, &e.Address, &e.Card, &enrolled, &joined, &updated); err != nil {
		return Entry{}, err
	}
	e.Role = certs.Role(role)
	e.EnrolledAt, e.JoinedAt, e.UpdatedAt = dbTime(enrolled), dbNullTime(joined), dbTime(updated)
	return e, nil
}

// Entry returns the directory entry of identity, or ErrNoIdentity.
func (db *DB) Entry(ctx context.Context, identity string) (Entry, error) {
	e, err := scanEntry(db.db.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM directory WHERE identity = ?`, identity))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("directory: %s: %w", identity, ErrNoIdentity)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("directory: %w", err)
	}
	return e, nil
}

// EntriesByName returns every identity (peer or client) called name.
func (db *DB) EntriesByName(ctx context.Context, name string) ([]Entry, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM directory WHERE name = ? ORDER BY identity`, name)
	if err != nil {
		return nil, fmt.Errorf("directory by name: %w", err)
	}
	return collectEntries(rows)
}

// ActivePeers returns up to limit active peers with identity > after,
// ordered by identity (for paging).
func (db *DB) ActivePeers(ctx context.Context, after string, limit int) ([]Entry, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM directory
		WHERE role = 'peer' AND state = 'active' AND identity > ? ORDER BY identity LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("active peers: %w", err)
	}
	return collectEntries(rows)
}

func collectEntries(rows *sql.Rows) ([]Entry, error) {
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return out, nil
}

// JoinPeer makes the enrolled peer identity active at address with card.
// It returns certs.ErrRevoked for a revoked identity and ErrNoIdentity for
// an identity that never enrolled as a peer.
func (db *DB) JoinPeer(ctx context.Context, identity, address string, card []byte, now time.Time) (Entry, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, fmt.Errorf("join: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	e, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM directory WHERE identity = ? AND role = 'peer'`, identity))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("join: %s: %w", identity, ErrNoIdentity)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("join: %w", err)
	}
	if e.State == StateRevoked {
		return Entry{}, fmt.Errorf("join: %w: %s", certs.ErrRevoked, identity)
	}
	ms := dbMillis(now)
	if _, err := tx.ExecContext(ctx, `UPDATE directory SET state = 'active', address = ?, card = ?, joined_at = ?, updated_at = ?
		WHERE identity = ?`, address, card, ms, ms, identity); err != nil {
		return Entry{}, fmt.Errorf("join: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("join: %w", err)
	}
	e.State, e.Address, e.Card, e.JoinedAt, e.UpdatedAt = StateActive, address, card, dbTime(ms), dbTime(ms)
	return e, nil
}

// LeavePeer takes an active peer out of the live directory. It returns the
// entry and whether it was active.
func (db *DB) LeavePeer(ctx context.Context, identity string, now time.Time) (Entry, bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, false, fmt.Errorf("leave: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	e, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM directory WHERE identity = ?`, identity))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, fmt.Errorf("leave: %s: %w", identity, ErrNoIdentity)
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("leave: %w", err)
	}
	if e.State != StateActive {
		return e, false, nil
	}
	ms := dbMillis(now)
	if _, err := tx.ExecContext(ctx, `UPDATE directory SET state = 'left', updated_at = ? WHERE identity = ?`, ms, identity); err != nil {
		return Entry{}, false, fmt.Errorf("leave: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, false, fmt.Errorf("leave: %w", err)
	}
	e.State, e.UpdatedAt = StateLeft, dbTime(ms)
	return e, true, nil
}
