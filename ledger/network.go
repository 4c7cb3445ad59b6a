package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Network is the one row of network-wide settings fixed at init.
type Network struct {
	TrustDomain string
	Task        string
	CreatedAt   time.Time
}

var (
	// ErrNetworkExists is returned by InitNetwork when the database already
	// belongs to a network.
	ErrNetworkExists = errors.New("network already initialised")
	// ErrNoNetwork is returned when the database has no network row (init
	// never ran).
	ErrNoNetwork = errors.New("network not initialised; run coordinator init")
	// ErrNoIdentity is returned (wrapped) for an identity or name the
	// directory does not hold.
	ErrNoIdentity = &Error{Code: ENOTFOUND, Msg: "identity not in the directory"}
)

// InitNetwork records the network's trust domain and task. It refuses a
// database that already has them (ErrNetworkExists).
func (db *DB) InitNetwork(ctx context.Context, n Network) error {
	if n.TrustDomain == "" || n.Task == "" {
		return errors.New("init network: trust domain and task must be set")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("init network: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM network WHERE id = 1`).Scan(&one)
	if err == nil {
		return fmt.Errorf("init network: %w", ErrNetworkExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("init network: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO network (id, trust_domain, task, created_at) VALUES (1, ?, ?, ?)`,
		n.TrustDomain, n.Task, dbMillis(n.CreatedAt)); err != nil {
		return fmt.Errorf("init network: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("init network: %w", err)
	}
	return nil
}

// Network returns the network's settings, or ErrNoNetwork.
func (db *DB) Network(ctx context.Context) (Network, error) {
	var n Network
	var created int64
	err := db.db.QueryRowContext(ctx, `SELECT trust_domain, task, created_at FROM network WHERE id = 1`).
		Scan(&n.TrustDomain, &n.Task, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Network{}, ErrNoNetwork
	}
	if err != nil {
		return Network{}, fmt.Errorf("read network: %w", err)
	}
	n.CreatedAt = dbTime(created)
	return n, nil
}
