package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/taonet/taonet/ledger/internal/pagetoken"
)

// Page sizes of the ledger's listings.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page asks for one page of a listing: Size rows (0 means
// DefaultPageSize) after the page that returned Token ("" for the first).
type Page struct {
	Size  uint32
	Token string
}

func (p Page) size() (int, error) {
	switch {
	case p.Size == 0:
		return DefaultPageSize, nil
	case p.Size > MaxPageSize:
		return 0, ledgerErrorf(EINVALID, "page size %d is over the limit of %d", p.Size, MaxPageSize)
	}
	return int(p.Size), nil
}

// Balance is one account's balance in rao.
type Balance struct {
	Account string
	Rao     uint64
}

// GetBalance returns the balance of account. An identity in the directory
// that was never paid has a balance of 0. Errors: ENOTFOUND for an identity
// the ledger does not know.
func (db *DB) GetBalance(ctx context.Context, account string) (Balance, error) {
	var bal int64
	err := db.db.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE identity = ?`, account).Scan(&bal)
	if errors.Is(err, sql.ErrNoRows) {
		// Never paid: known if the directory has it.
		err = db.db.QueryRowContext(ctx, `SELECT 0 FROM directory WHERE identity = ?`, account).Scan(&bal)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Balance{}, ledgerErrorf(ENOTFOUND, "account %q does not exist", account)
	}
	if err != nil {
		return Balance{}, fmt.Errorf("get balance of %q: %w", account, err)
	}
	return Balance{Account: account, Rao: uint64(bal)}, nil
}

// ListAccounts returns one page of accounts, largest balance first, then by
// account, and the token of the next page ("" on the last one). Only
// accounts that were ever paid are listed. Errors: EINVALID for a bad page.
func (db *DB) ListAccounts(ctx context.Context, page Page) ([]Balance, string, error) {
	size, err := page.size()
	if err != nil {
		return nil, "", err
	}
	query := `SELECT identity, balance FROM accounts ORDER BY balance DESC, identity LIMIT ?`
	args := []any{size + 1}
	if page.Token != "" {
		f, err := pagetoken.Decode(page.Token, "accounts", 2)
		if err != nil {
			return nil, "", ledgerErrorf(EINVALID, "%v", err)
		}
		bal, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || bal < 0 {
			return nil, "", ledgerErrorf(EINVALID, "page token is not one this server issued")
		}
		query = `SELECT identity, balance FROM accounts WHERE balance < ? OR (balance = ? AND identity > ?)
			ORDER BY balance DESC, identity LIMIT ?`
		args = []any{bal, bal, f[1], size + 1}
	}
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var b Balance
		var rao int64
		if err := rows.Scan(&b.Account, &rao); err != nil {
			return nil, "", fmt.Errorf("list accounts: %w", err)
		}
		b.Rao = uint64(rao)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list accounts: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = pagetoken.Encode("accounts", strconv.FormatUint(last.Rao, 10), last.Account)
	}
	return out, next, nil
}
