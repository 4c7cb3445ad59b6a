package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/taonet/taonet/certs"
)

// insertIdentity adds iss's identity to the directory as enrolled.
func insertIdentity(ctx context.Context, tx *sql.Tx, iss *certs.Issued, now time.Time) error {
	ms := dbMillis(now)
	_, err := tx.ExecContext(ctx, `INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
		VALUES (?, ?, ?, 'enrolled', ?, ?)`, iss.ID.String(), iss.ID.Name, string(iss.ID.Role), ms, ms)
	if err != nil {
		return fmt.Errorf("enroll %s: %w", iss.ID, err)
	}
	return nil
}

// insertCertificate records an issued certificate.
func insertCertificate(ctx context.Context, tx *sql.Tx, iss *certs.Issued, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, identity, not_before, not_after, issued_at) VALUES (?, ?, ?, ?, ?)`,
		iss.Cert.SerialNumber.Text(16), iss.ID.String(), dbMillis(iss.Cert.NotBefore), dbMillis(iss.Cert.NotAfter), dbMillis(now))
	if err != nil {
		return fmt.Errorf("record certificate: %w", err)
	}
	return nil
}

// EnrollIssued enrolls a certificate the operator issued directly (a client
// identity from `coordinator client-cert`, or the coordinator's own). A peer
// or client name already in the directory is refused with
// certs.ErrNameTaken; the coordinator identity may be re-enrolled (its
// certificate is reissued on renewal).
func (db *DB) EnrollIssued(ctx context.Context, iss *certs.Issued, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("enroll %s: %w", iss.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if iss.ID.Role == certs.RoleCoordinator {
		ms := dbMillis(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, '', 'coordinator', 'enrolled', ?, ?) ON CONFLICT (identity) DO UPDATE SET updated_at = excluded.updated_at`,
			iss.ID.String(), ms, ms); err != nil {
			return fmt.Errorf("enroll %s: %w", iss.ID, err)
		}
	} else {
		if err := nameFree(ctx, tx, iss.ID.Role, iss.ID.Name); err != nil {
			return fmt.Errorf("enroll %s: %w", iss.ID, err)
		}
		if err := insertIdentity(ctx, tx, iss, now); err != nil {
			return err
		}
	}
	if err := insertCertificate(ctx, tx, iss, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("enroll %s: %w", iss.ID, err)
	}
	return nil
}

// RecordRenewal records a renewed certificate for an enrolled identity. It
// returns certs.ErrRevoked for a revoked identity and ErrNoIdentity for
// one never enrolled; then nothing is written.
func (db *DB) RecordRenewal(ctx context.Context, iss *certs.Issued, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("renew %s: %w", iss.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM directory WHERE identity = ?`, iss.ID.String()).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("renew %s: %w", iss.ID, ErrNoIdentity)
	}
	if err != nil {
		return fmt.Errorf("renew %s: %w", iss.ID, err)
	}
	var revoked int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM revocations WHERE identity = ?`, iss.ID.String()).Scan(&revoked); err != nil {
		return fmt.Errorf("renew %s: %w", iss.ID, err)
	}
	if state == StateRevoked || revoked > 0 {
		return fmt.Errorf("renew: %w: %s", certs.ErrRevoked, iss.ID)
	}
	if err := insertCertificate(ctx, tx, iss, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("renew %s: %w", iss.ID, err)
	}
	return nil
}

// CertificateCount returns how many certificates were issued to identity.
func (db *DB) CertificateCount(ctx context.Context, identity string) (int, error) {
	var n int
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates WHERE identity = ?`, identity).Scan(&n); err != nil {
		return 0, fmt.Errorf("count certificates: %w", err)
	}
	return n, nil
}
