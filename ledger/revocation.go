package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/taonet/taonet/certs"
)

// The ledger is the coordinator's certs.RevocationStore.
var _ certs.RevocationStore = (*DB)(nil)

// ErrAlreadyRevoked is returned by Revoke for an identity revoked before.
var ErrAlreadyRevoked = &Error{Code: ECONFLICT, Msg: "identity already revoked"}

// Revoke revokes every certificate of identity, past and future: in one
// transaction it records the revocation and marks the directory entry
// revoked (which drops a peer from the live directory). A running
// coordinator notices by polling RevokedIdentities. Errors: ErrNoIdentity,
// ErrAlreadyRevoked.
func (db *DB) Revoke(ctx context.Context, identity, reason string, now time.Time) (Entry, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, fmt.Errorf("revoke: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	e, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM directory WHERE identity = ?`, identity))
	if err != nil {
		return Entry{}, fmt.Errorf("revoke %s: %w", identity, ErrNoIdentity)
	}
	if e.State == StateRevoked {
		return Entry{}, fmt.Errorf("revoke %s: %w", identity, ErrAlreadyRevoked)
	}
	ms := dbMillis(now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (identity, revoked_at, reason) VALUES (?, ?, ?)`, identity, ms, reason); err != nil {
		return Entry{}, fmt.Errorf("revoke %s: %w", identity, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE directory SET state = 'revoked', updated_at = ? WHERE identity = ?`, ms, identity); err != nil {
		return Entry{}, fmt.Errorf("revoke %s: %w", identity, err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("revoke %s: %w", identity, err)
	}
	e.State, e.UpdatedAt = StateRevoked, dbTime(ms)
	return e, nil
}

// RevokedIdentities implements certs.RevocationStore.
func (db *DB) RevokedIdentities(ctx context.Context) ([]string, error) {
	return db.identities(ctx, "revoked identities", `SELECT identity FROM revocations ORDER BY identity`)
}

// RevokedLive returns the revoked identities that still hold a certificate
// unexpired at now, ordered by identity: the revocations every server must
// still enforce (an expired certificate is refused anyway).
func (db *DB) RevokedLive(ctx context.Context, now time.Time) ([]string, error) {
	return db.identities(ctx, "live revocations", `SELECT r.identity FROM revocations r JOIN certificates c ON c.identity = r.identity
		GROUP BY r.identity HAVING max(c.not_after) > ? ORDER BY r.identity`, dbMillis(now))
}

// identities runs a query of one text column.
func (db *DB) identities(ctx context.Context, what, query string, args ...any) ([]string, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
