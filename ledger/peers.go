package ledger

import (
	"context"
	"fmt"
	"strings"
)

// MaxListedPeers bounds ListPeers.
const MaxListedPeers = 1000

// ListedPeer is a peer of the directory, in any state, with its balance.
type ListedPeer struct {
	Entry
	Balance uint64 // rao; 0 for a peer never paid
}

// ListPeers returns up to limit peers of the directory (MaxListedPeers at
// most), in every state: active ones first, then enrolled, left and
// revoked, each by name and identity; and how many peers the directory
// holds in all, read from one snapshot. Clients are not listed. Errors:
// EINVALID for a limit out of range.
func (db *DB) ListPeers(ctx context.Context, limit int) ([]ListedPeer, int, error) {
	if limit < 1 || limit > MaxListedPeers {
		return nil, 0, ledgerErrorf(EINVALID, "list of %d peers: want 1 to %d", limit, MaxListedPeers)
	}
	out := []ListedPeer{}
	var total int
	err := db.viewSnapshot(ctx, func(q sqlQuerier) error {
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM directory WHERE role = 'peer'`).Scan(&total); err != nil {
			return fmt.Errorf("list peers: %w", err)
		}
		rows, err := q.QueryContext(ctx, `SELECT `+prefixed("d.", entryColumns)+`, COALESCE(a.balance, 0)
			FROM directory d LEFT JOIN accounts a ON a.identity = d.identity
			WHERE d.role = 'peer'
			ORDER BY CASE d.state WHEN 'active' THEN 0 WHEN 'enrolled' THEN 1 WHEN 'left' THEN 2 ELSE 3 END, d.name, d.identity
			LIMIT ?`, limit)
		if err != nil {
			return fmt.Errorf("list peers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p ListedPeer
			var bal int64
			e, err := scanEntry(scanTail{rows, &bal})
			if err != nil {
				return fmt.Errorf("list peers: %w", err)
			}
			p.Entry, p.Balance = e, uint64(bal)
			out = append(out, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list peers: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// scanTail scans a row with more columns than scanEntry reads: the extra
// destinations follow the entry's.
type scanTail struct {
	row  interface{ Scan(...any) error }
	more *int64
}

func (s scanTail) Scan(dest ...any) error { return s.row.Scan(append(dest, s.more)...) }

// prefixed qualifies each column of a comma-separated list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// CountPeers returns how many peers the directory holds in each state
// (StateEnrolled, StateActive, StateLeft, StateRevoked; a state with none
// is absent). Clients are not counted.
func (db *DB) CountPeers(ctx context.Context) (map[string]int, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM directory WHERE role = 'peer' GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count peers: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count peers: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count peers: %w", err)
	}
	return out, nil
}
