package ledger_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestExportPayouts(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	mustInitialEmission(t, db, 3_000_000_001)
	ids := mustPeers(t, db, "a", "b")
	mustSettle(t, db, 1, scored(ids, 1, 1))
	mustSettle(t, db, 2, scored(ids, 0, 1))
	t.Run("OKCSV", func(t *testing.T) {
		var buf bytes.Buffer
		if err := db.ExportPayouts(ctx, &buf, ledger.ExportCSV); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"round", "account", "rao", "tao"},
			{"1", ids[0], "1500000001", "1.500000001"},
			{"1", ids[1], "1500000000", "1.5"},
			{"2", ids[1], "3000000001", "3.000000001"},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows = %q", rows)
		}
		for i := range want {
			if len(rows[i]) != 5 || rows[i][0] != want[i][0] || rows[i][1] != want[i][1] || rows[i][2] != want[i][2] || rows[i][3] != want[i][3] {
				t.Fatalf("row %d = %q, want %q", i, rows[i], want[i])
			}
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		var buf bytes.Buffer
		if err := db.ExportPayouts(ctx, &buf, ledger.ExportJSON); err != nil {
			t.Fatal(err)
		}
		var got []ledger.ExportedPayout
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%v in %s", err, buf.String())
		}
		if len(got) != 3 || got[2].Round != 2 || got[2].Rao != 3_000_000_001 || got[2].TAO != "3.000000001" || got[0].SettledAt.IsZero() {
			t.Fatalf("payouts = %+v", got)
		}
	})
	t.Run("OKJSONEmpty", func(t *testing.T) {
		var buf bytes.Buffer
		if err := mustLedger(t).ExportPayouts(ctx, &buf, ledger.ExportJSON); err != nil || buf.String() != "[]\n" {
			t.Fatalf("empty export = %q, %v", buf.String(), err)
		}
	})
	t.Run("ErrFormat", func(t *testing.T) {
		wantCode(t, db.ExportPayouts(ctx, &bytes.Buffer{}, "xml"), ledger.EINVALID)
	})
	t.Run("ErrWrite", func(t *testing.T) {
		if err := db.ExportPayouts(ctx, failingWriter{}, ledger.ExportCSV); err == nil {
			t.Fatal("export to a failing writer succeeded")
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
