package ledger

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/taonet/taonet/ledger/internal/pagetoken"
)

// Payout is what one account was paid in one round, in rao.
type Payout struct {
	Round   uint64
	Account string
	Rao     uint64
}

// PayoutFilter narrows ListPayouts: Account "" and Round 0 mean all.
type PayoutFilter struct {
	Account string
	Round   uint64
}

// ListPayouts returns one page of the payouts that match f, newest round
// first, then by account, and the token of the next page ("" on the last
// one). Errors: EINVALID for a bad page or a token made for another filter.
func (db *DB) ListPayouts(ctx context.Context, f PayoutFilter, page Page) ([]Payout, string, error) {
	size, err := page.size()
	if err != nil {
		return nil, "", err
	}
	if f.Round > math.MaxInt64 {
		return nil, "", nil // no such round can exist
	}
	// The token records the filter too, so it cannot be replayed on another.
	kind := "payouts/" + strconv.Quote(f.Account) + "/" + strconv.FormatUint(f.Round, 10)
	var where []string
	var args []any
	if f.Account != "" {
		where = append(where, "account = ?")
		args = append(args, f.Account)
	}
	if f.Round != 0 {
		where = append(where, "round = ?")
		args = append(args, int64(f.Round))
	}
	if page.Token != "" {
		fields, err := pagetoken.Decode(page.Token, kind, 2)
		if err != nil {
			return nil, "", ledgerErrorf(EINVALID, "payouts: %v", err)
		}
		round, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return nil, "", ledgerErrorf(EINVALID, "page token is not one this server issued")
		}
		where = append(where, "(round < ? OR (round = ? AND account > ?))")
		args = append(args, round, round, fields[1])
	}
	query := `SELECT round, account, amount FROM payouts`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += ` ORDER BY round DESC, account LIMIT ?`
	args = append(args, size+1)
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list payouts: %w", err)
	}
	defer rows.Close()
	var out []Payout
	for rows.Next() {
		var p Payout
		var round, rao int64
		if err := rows.Scan(&round, &p.Account, &rao); err != nil {
			return nil, "", fmt.Errorf("list payouts: %w", err)
		}
		p.Round, p.Rao = uint64(round), uint64(rao)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list payouts: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = pagetoken.Encode(kind, strconv.FormatUint(last.Round, 10), last.Account)
	}
	return out, next, nil
}
