package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

// mustLedgerHome makes a home folder whose ledger has one settled round
// paying alice 0.75 TAO and bob 0.25 TAO.
func mustLedgerHome(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := ledger.Open(ctx, filepath.Join(dir, coordinator.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var evs []ledger.Evaluation
	for i, n := range []string{"alice", "bob"} {
		id := "spiffe://taonet.local/peer/" + n
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, id, n); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ledger.Evaluation{Identity: id, Shares: uint64(3 - 2*i), Status: ledger.EvalScored})
	}
	hash := sha256.Sum256([]byte("seed"))
	if err := db.OpenRound(ctx, 1, 1, hash[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settle(ctx, 1, []byte("seed"), evs); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCoordinator(args ...string) (string, error) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestLedgerVerify(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		out, err := runCoordinator("ledger", "verify", "--home", mustLedgerHome(t))
		if err != nil || !strings.Contains(out, "ledger ok: 1 TAO minted of 21000000") {
			t.Fatalf("verify = %q, %v", out, err)
		}
	})
	t.Run("ErrBrokenInvariant", func(t *testing.T) {
		dir := mustLedgerHome(t)
		db, err := ledger.Open(context.Background(), filepath.Join(dir, coordinator.DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.SQL().Exec(`UPDATE accounts SET balance = balance + 1 WHERE identity LIKE '%/alice'`)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, err = runCoordinator("ledger", "verify", "--home", dir)
		if err == nil || !strings.Contains(err.Error(), ledger.InvBalancesMinted) {
			t.Fatalf("verify of a broken ledger = %v, want %q named", err, ledger.InvBalancesMinted)
		}
	})
	t.Run("ErrNoLedger", func(t *testing.T) {
		if _, err := runCoordinator("ledger", "verify", "--home", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ledger") {
			t.Fatalf("verify without a ledger = %v", err)
		}
	})
}

func TestLedgerExport(t *testing.T) {
	dir := mustLedgerHome(t)
	t.Run("OKCSV", func(t *testing.T) {
		out, err := runCoordinator("ledger", "export", "--home", dir, "--format", "csv")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 3 || lines[0] != "round,account,rao,tao,settled_at" ||
			!strings.HasPrefix(lines[1], "1,spiffe://taonet.local/peer/alice,750000000,0.75,") {
			t.Fatalf("csv export = %q, %v", out, err)
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		out, err := runCoordinator("ledger", "export", "--home", dir, "--format", "json")
		var rows []ledger.ExportedPayout
		if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[1].TAO != "0.25" {
			t.Fatalf("json export = %q, %v", out, err)
		}
	})
	t.Run("ErrFormat", func(t *testing.T) {
		out, err := runCoordinator("ledger", "export", "--home", dir, "--format", "xml")
		if err == nil || out != "" {
			t.Fatalf("xml export = %q, %v", out, err)
		}
	})
}
