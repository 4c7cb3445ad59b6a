package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/taonet/taonet/certs"
)

// The ledger is the coordinator's certs.TokenStore.
var _ certs.TokenStore = (*DB)(nil)

// TokenInfo describes one join token (never the token itself).
type TokenInfo struct {
	Name        string
	Role        certs.Role
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RedeemedAt  time.Time // zero if not redeemed
	CancelledAt time.Time // zero if not cancelled
	// NameEnrolled says the token's role/name is in the directory (enrolled
	// with another token, in any state): the token can no longer be
	// redeemed.
	NameEnrolled bool
}

// State is "redeemed", "cancelled", "name-enrolled" (another token
// enrolled the name), "expired" (at now) or "valid".
func (t TokenInfo) State(now time.Time) string {
	switch {
	case !t.RedeemedAt.IsZero():
		return "redeemed"
	case !t.CancelledAt.IsZero():
		return "cancelled"
	case t.NameEnrolled:
		return "name-enrolled"
	case !now.Before(t.ExpiresAt):
		return "expired"
	default:
		return "valid"
	}
}

// CreateToken stores a token hash for role/name. It refuses a name that is
// already in the directory for that role (certs.ErrNameTaken), including a
// revoked one.
func (db *DB) CreateToken(ctx context.Context, hash []byte, role certs.Role, name string, created, expires time.Time) error {
	if len(hash) != 32 {
		return fmt.Errorf("create token: hash is %d bytes, want 32", len(hash))
	}
	if !expires.After(created) {
		return fmt.Errorf("create token: expiry %v is not after creation %v", expires, created)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := nameFree(ctx, tx, role, name); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO join_tokens (hash, name, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hash, name, string(role), dbMillis(created), dbMillis(expires)); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// nameFree returns certs.ErrNameTaken when role/name is in the directory.
func nameFree(ctx context.Context, tx *sql.Tx, role certs.Role, name string) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM directory WHERE role = ? AND name = ?`, string(role), name).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s %q is %s", certs.ErrNameTaken, role, name, state)
}

// RedeemToken implements certs.TokenStore: in one immediate transaction it
// checks the token, calls issue, marks the token redeemed with key and the
// certificate, enrolls the identity in the directory and records the
// certificate. Any error rolls everything back. A retry with the same key
// gets the same certificate back (see redeemedAgain).
func (db *DB) RedeemToken(ctx context.Context, hash, key []byte, now time.Time, issue func(role certs.Role, name string) (*certs.Issued, error)) (*certs.Issued, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var name, role string
	var expires int64
	var redeemed, cancelled sql.NullInt64
	var redeemedKey, redeemedCert []byte
	err = tx.QueryRowContext(ctx, `SELECT name, role, expires_at, redeemed_at, cancelled_at, redeemed_key, redeemed_cert FROM join_tokens WHERE hash = ?`, hash).
		Scan(&name, &role, &expires, &redeemed, &cancelled, &redeemedKey, &redeemedCert)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, certs.ErrTokenUnknown
	case err != nil:
		return nil, fmt.Errorf("redeem token: %w", err)
	case redeemed.Valid:
		return redeemedAgain(ctx, tx, key, redeemedKey, redeemedCert, now)
	case cancelled.Valid:
		return nil, certs.ErrTokenCancelled
	case dbMillis(now) >= expires:
		return nil, certs.ErrTokenExpired
	}
	if err := nameFree(ctx, tx, certs.Role(role), name); err != nil {
		return nil, err
	}
	iss, err := issue(certs.Role(role), name)
	if err != nil {
		return nil, err
	}
	// The immediate transaction holds the write lock from the SELECT
	// above, so no other redemption can slip in between.
	if _, err := tx.ExecContext(ctx, `UPDATE join_tokens SET redeemed_at = ?, redeemed_key = ?, redeemed_cert = ? WHERE hash = ?`,
		dbMillis(now), nilIfEmpty(key), iss.PEM, hash); err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	if err := insertIdentity(ctx, tx, iss, now); err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	if err := insertCertificate(ctx, tx, iss, now); err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	return iss, nil
}

// redeemedAgain answers a second redemption of a token. The same key as
// the first (a requester that lost the answer and retries with the key it
// kept) gets the certificate issued then, unless it expired or its
// identity was revoked since; anything else is ErrTokenRedeemed.
func redeemedAgain(ctx context.Context, tx *sql.Tx, key, redeemedKey, certPEM []byte, now time.Time) (*certs.Issued, error) {
	if len(key) == 0 || len(certPEM) == 0 || !bytes.Equal(key, redeemedKey) {
		return nil, certs.ErrTokenRedeemed
	}
	cert, err := certs.ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("redeem token: stored certificate: %w", err)
	}
	if !now.Before(cert.NotAfter) {
		return nil, fmt.Errorf("%w: the certificate it issued has expired", certs.ErrTokenRedeemed)
	}
	id, err := certs.IDFromCertificate(cert)
	if err != nil {
		return nil, fmt.Errorf("redeem token: stored certificate: %w", err)
	}
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM directory WHERE identity = ?`, id.String()).Scan(&state); err != nil {
		return nil, fmt.Errorf("redeem token: %w", err)
	}
	if state == StateRevoked {
		return nil, fmt.Errorf("%w: %s", certs.ErrRevoked, id)
	}
	return &certs.Issued{ID: id, Cert: cert, PEM: certPEM}, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Tokens lists every join token, newest first, each with whether its
// name is already in the directory.
func (db *DB) Tokens(ctx context.Context) ([]TokenInfo, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT t.name, t.role, t.created_at, t.expires_at, t.redeemed_at, t.cancelled_at,
		EXISTS (SELECT 1 FROM directory d WHERE d.role = t.role AND d.name = t.name)
		FROM join_tokens t ORDER BY t.created_at DESC, t.name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var t TokenInfo
		var role string
		var created, expires int64
		var redeemed, cancelled sql.NullInt64
		if err := rows.Scan(&t.Name, &role, &created, &expires, &redeemed, &cancelled, &t.NameEnrolled); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Role, t.CreatedAt, t.ExpiresAt = certs.Role(role), dbTime(created), dbTime(expires)
		t.RedeemedAt, t.CancelledAt = dbNullTime(redeemed), dbNullTime(cancelled)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// CancelTokens cancels every unredeemed, uncancelled token of name and
// returns how many it cancelled.
func (db *DB) CancelTokens(ctx context.Context, name string, now time.Time) (int, error) {
	res, err := db.db.ExecContext(ctx, `UPDATE join_tokens SET cancelled_at = ?
		WHERE name = ? AND redeemed_at IS NULL AND cancelled_at IS NULL`, dbMillis(now), name)
	if err != nil {
		return 0, fmt.Errorf("cancel tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cancel tokens: %w", err)
	}
	return int(n), nil
}
