package ledger

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Export formats.
const (
	ExportCSV  = "csv"
	ExportJSON = "json"
)

// ExportedPayout is one row of an export: a payout with its exact TAO
// amount and when its round settled.
type ExportedPayout struct {
	Round     uint64    `json:"round"`
	Account   string    `json:"account"`
	Rao       uint64    `json:"rao"`
	TAO       string    `json:"tao"`
	SettledAt time.Time `json:"settled_at"`
}

// exportHeader is the CSV header, in the order of ExportedPayout's fields.
var exportHeader = []string{"round", "account", "rao", "tao", "settled_at"}

// ExportPayouts writes every payout, oldest round first and then by account,
// to w as CSV (with a header row) or as a JSON array, from one consistent
// snapshot. Rows are streamed, so the ledger's size does not bound memory.
// Errors: EINVALID for an unknown format; write errors from w.
func (db *DB) ExportPayouts(ctx context.Context, w io.Writer, format string) error {
	var emit func(ExportedPayout) error
	var finish func() error
	bw := bufio.NewWriter(w)
	switch format {
	case ExportCSV:
		cw := csv.NewWriter(bw)
		if err := cw.Write(exportHeader); err != nil {
			return fmt.Errorf("export payouts: %w", err)
		}
		emit = func(p ExportedPayout) error {
			return cw.Write([]string{strconv.FormatUint(p.Round, 10), p.Account,
				strconv.FormatUint(p.Rao, 10), p.TAO, p.SettledAt.Format(time.RFC3339Nano)})
		}
		finish = func() error { cw.Flush(); return cw.Error() }
	case ExportJSON:
		first := true
		emit = func(p ExportedPayout) error {
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			sep := ",\n  "
			if first {
				sep, first = "[\n  ", false
			}
			_, err = bw.WriteString(sep + string(b))
			return err
		}
		finish = func() error {
			end := "\n]\n"
			if first {
				end = "[]\n"
			}
			_, err := bw.WriteString(end)
			return err
		}
	default:
		return ledgerErrorf(EINVALID, "export format %q is not %s or %s", format, ExportCSV, ExportJSON)
	}
	err := db.viewSnapshot(ctx, func(q sqlQuerier) error {
		rows, err := q.QueryContext(ctx, `SELECT p.round, p.account, p.amount, r.closed_at
			FROM payouts p JOIN rounds r ON r.number = p.round ORDER BY p.round, p.account`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var round, rao, closed int64
			var p ExportedPayout
			if err := rows.Scan(&round, &p.Account, &rao, &closed); err != nil {
				return err
			}
			p.Round, p.Rao = uint64(round), uint64(rao)
			p.TAO = FormatTAO(p.Rao)
			p.SettledAt = dbTime(closed)
			if err := emit(p); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err == nil {
		err = finish()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("export payouts: %w", err)
	}
	return nil
}
