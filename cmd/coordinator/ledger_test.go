package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/receipt"
)

// mustLedgerHome makes a home folder (coordinator init) whose ledger has
// rounds settled rounds, signed with the coordinator's key, each paying
// alice 0.75 TAO and bob 0.25 TAO; carol is enrolled and dave revoked.
func mustLedgerHome(t *testing.T, rounds int) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "net")
	if err := coordinator.Init(ctx, coordinator.InitConfig{Home: dir, TrustDomain: "taonet.local", Hosts: []string{"localhost"}, Task: "fmnist"}); err != nil {
		t.Fatal(err)
	}
	db, err := ledger.Open(ctx, filepath.Join(dir, coordinator.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pair, err := certs.KeyPair(mustRead(t, dir, coordinator.CertFile), mustRead(t, dir, coordinator.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SignRoundsWith(ledger.RoundSigner{Key: pair.PrivateKey.(crypto.Signer), Cert: pair.Leaf}); err != nil {
		t.Fatal(err)
	}
	var evs []ledger.Evaluation
	for i, n := range []string{"alice", "bob", "carol", "dave"} {
		id := "spiffe://taonet.local/peer/" + n
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, id, n); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO certificates (serial, identity, not_before, not_after, issued_at)
			VALUES (?, ?, 0, 1, 0)`, "cert-"+n, id); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			evs = append(evs, ledger.Evaluation{Identity: id, Shares: uint64(3 - 2*i), Status: ledger.EvalScored})
		}
	}
	if _, err := db.Revoke(ctx, "spiffe://taonet.local/peer/dave", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= uint64(rounds); n++ {
		seed := []byte(fmt.Sprint("seed", n))
		hash := sha256.Sum256(seed)
		if err := db.OpenRound(ctx, n, n, hash[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Settle(ctx, n, seed, evs); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustTamper runs statements on the home's ledger as the sqlite3 shell
// would: with foreign keys off.
func mustTamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(dir, coordinator.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range append([]string{`PRAGMA foreign_keys = OFF`}, stmts...) {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
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
		out, err := runCoordinator("ledger", "verify", "--home", mustLedgerHome(t, 1))
		if err != nil || !strings.Contains(out, "ledger ok: 1 TAO minted of 21000000") || !strings.Contains(out, "chain: 1 settled rounds, tip round 1 hash ") {
			t.Fatalf("verify = %q, %v", out, err)
		}
	})
	t.Run("ErrBrokenInvariant", func(t *testing.T) {
		dir := mustLedgerHome(t, 1)
		mustTamper(t, dir, `UPDATE accounts SET balance = balance + 1 WHERE identity LIKE '%/alice'`)
		_, err := runCoordinator("ledger", "verify", "--home", dir)
		if err == nil || !strings.Contains(err.Error(), ledger.InvBalancesMinted) {
			t.Fatalf("verify of a broken ledger = %v, want %q named", err, ledger.InvBalancesMinted)
		}
	})
	// The consistent edits a tester made with the sqlite3 shell, each of
	// which an earlier verify passed.
	alice, bob, carol := "'spiffe://taonet.local/peer/alice'", "'spiffe://taonet.local/peer/bob'", "'spiffe://taonet.local/peer/carol'"
	for _, tt := range []struct {
		name  string
		stmts []string
		want  string
	}{
		{"ErrRaoMoved", []string{
			`UPDATE payouts SET amount = amount - 100 WHERE round = 2 AND account = ` + alice, `UPDATE payouts SET amount = amount + 100 WHERE round = 2 AND account = ` + bob,
			`UPDATE evaluations SET payout = payout - 100 WHERE round = 2 AND identity = ` + alice, `UPDATE evaluations SET payout = payout + 100 WHERE round = 2 AND identity = ` + bob,
			`UPDATE accounts SET balance = balance - 100 WHERE identity = ` + alice, `UPDATE accounts SET balance = balance + 100 WHERE identity = ` + bob,
		}, ledger.InvChain},
		{"ErrPayoutsRenamed", []string{
			`UPDATE payouts SET account = ` + carol + ` WHERE account = ` + bob, `UPDATE evaluations SET identity = ` + carol + ` WHERE identity = ` + bob,
			`UPDATE accounts SET identity = ` + carol + ` WHERE identity = ` + bob,
		}, ledger.InvChain},
		{"ErrHistoryWiped", []string{ // round 1 of 2 deleted with what it paid
			`UPDATE accounts SET balance = balance / 2`, `UPDATE supply SET minted = minted / 2`,
			`DELETE FROM payouts WHERE round = 1`, `DELETE FROM evaluations WHERE round = 1`, `DELETE FROM rounds WHERE number = 1`,
		}, ledger.InvRoundSequence},
		{"ErrRevocationDeleted", []string{`DELETE FROM revocations`}, ledger.InvRevocations},
		{"ErrNeverEnrolled", []string{`INSERT INTO directory (identity, name, role, state, address, enrolled_at, updated_at)
			VALUES ('spiffe://taonet.local/peer/mallory', 'mallory', 'peer', 'active', '10.0.0.1:7000', 0, 0)`}, ledger.InvDirectoryCerts},
		{"ErrAccountWithoutDirectory", []string{`DELETE FROM directory WHERE identity = ` + bob}, ledger.InvAccountDirectory},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := mustLedgerHome(t, 2)
			mustTamper(t, dir, tt.stmts...)
			out, err := runCoordinator("ledger", "verify", "--home", dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify = %q, %v; want %q named", out, err, tt.want)
			}
		})
	}
	t.Run("ErrNewestRoundWipedContradictsReceipts", func(t *testing.T) {
		dir := mustLedgerHome(t, 2)
		receipts := mustReceipts(t, dir, 2)
		// Round 2 deleted with everything it paid: the books still add up.
		mustTamper(t, dir,
			`UPDATE accounts SET balance = balance - (SELECT amount FROM payouts p WHERE p.round = 2 AND p.account = accounts.identity)
				WHERE identity IN (SELECT account FROM payouts WHERE round = 2)`,
			`UPDATE supply SET minted = minted - (SELECT emission FROM rounds WHERE number = 2)`,
			`DELETE FROM payouts WHERE round = 2`, `DELETE FROM evaluations WHERE round = 2`, `DELETE FROM rounds WHERE number = 2`)
		if out, err := runCoordinator("ledger", "verify", "--home", dir); err != nil {
			t.Fatalf("without receipts the cut is invisible, verify = %q, %v", out, err)
		}
		_, err := runCoordinator("ledger", "verify", "--home", dir, "--receipts", receipts)
		if !errors.Is(err, ledger.ErrReceiptContradicted) || !strings.Contains(err.Error(), "round 2 is not in the ledger") {
			t.Fatalf("verify --receipts = %v, want round 2 named as missing", err)
		}
	})
	t.Run("OKReceipts", func(t *testing.T) {
		dir := mustLedgerHome(t, 2)
		out, err := runCoordinator("ledger", "verify", "--home", dir, "--receipts", mustReceipts(t, dir, 2))
		if err != nil || !strings.Contains(out, "receipts ok: 2 rounds") {
			t.Fatalf("verify --receipts = %q, %v", out, err)
		}
	})
	t.Run("ErrNoLedger", func(t *testing.T) {
		if _, err := runCoordinator("ledger", "verify", "--home", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ledger") {
			t.Fatalf("verify without a ledger = %v", err)
		}
	})
}

func TestLedgerExport(t *testing.T) {
	dir := mustLedgerHome(t, 1)
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

// mustReceipts writes the receipts a peer would have kept of rounds 1..n
// of the home's ledger and returns the file.
func mustReceipts(t *testing.T, dir string, n uint64) string {
	t.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(dir, coordinator.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lines []string
	for r := uint64(1); r <= n; r++ {
		round, err := db.GetRound(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(receipt.Kept{Round: r, Hash: hex.EncodeToString(round.Hash), PreviousHash: hex.EncodeToString(round.PreviousHash),
			Signature: hex.EncodeToString(round.Signature), EmissionRao: round.Emission})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	path := filepath.Join(t.TempDir(), "receipts.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
