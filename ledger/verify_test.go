package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/roundchain"
)

// mustBooks returns a ledger with two settled rounds paying alice and bob,
// an aborted round 3, carol enrolled but never evaluated and dave revoked.
func mustBooks(tb testing.TB) (*ledger.DB, []string) {
	tb.Helper()
	ctx := context.Background()
	db := mustLedger(tb)
	ids := mustPeers(tb, db, "alice", "bob", "carol", "dave")
	mustSettle(tb, db, 1, scored(ids[:2], 1, 1))
	mustSettle(tb, db, 2, scored(ids[:2], 3, 1))
	mustOpenRound(tb, db, 3)
	if _, err := db.AbortOpen(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Revoke(ctx, ids[3], "test", time.Now()); err != nil {
		tb.Fatal(err)
	}
	mustVerify(tb, db)
	return db, ids
}

// mustBreak runs statements on one connection as the sqlite3 shell would
// by default, with foreign keys off, and with CHECK constraints off too, so
// a test can write what the schema would refuse.
func mustBreak(tb testing.TB, db *ledger.DB, stmts ...string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	all := append([]string{`PRAGMA foreign_keys = OFF`, `PRAGMA ignore_check_constraints = ON`}, stmts...)
	all = append(all, `PRAGMA ignore_check_constraints = OFF`, `PRAGMA foreign_keys = ON`)
	for _, s := range all {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// mustForge rewrites round n's chain link as a forger would who knows the
// encoding but not the coordinator's key: the chain hash recomputed over
// the round as it now stands, signed by a coordinator certificate of a CA
// of the forger's own.
func mustForge(tb testing.TB, db *ledger.DB, n uint64) {
	tb.Helper()
	ctx := context.Background()
	r, err := db.GetRound(ctx, n)
	if err != nil {
		tb.Fatal(err)
	}
	rec := &roundchain.Record{Number: r.Number, Seed: r.Seed, SeedHash: r.SeedHash, ValidationSeed: r.RevealedSeed, Emission: r.Emission}
	for _, e := range r.Evaluations {
		rec.Evaluations = append(rec.Evaluations, roundchain.Evaluation{Identity: e.Identity, Loss: e.Loss, Accuracy: e.Accuracy,
			Weight: e.Weight, Shares: e.Shares, Status: string(e.Status), Payout: e.Payout})
		if e.Payout > 0 {
			rec.Payouts = append(rec.Payouts, roundchain.Payout{Account: e.Identity, Amount: e.Payout})
		}
	}
	hash, err := roundchain.Hash(r.PreviousHash, rec)
	if err != nil {
		tb.Fatal(err)
	}
	key, cert := rogueSigner(tb)
	sig, err := roundchain.Sign(key, hash)
	if err != nil {
		tb.Fatal(err)
	}
	serial := cert.SerialNumber.Text(16)
	if _, err := db.SQL().Exec(`INSERT INTO round_signers (serial, certificate) VALUES (?, ?)`, serial, cert.Raw); err != nil {
		tb.Fatal(err)
	}
	mustBreak(tb, db, fmt.Sprintf(`UPDATE rounds SET hash = x'%x', signature = x'%x', signer = '%s' WHERE number = %d`, hash, sig, serial, n))
}

// rogueSigner returns a key and a coordinator certificate for it, issued
// by a new CA: not the network's.
func rogueSigner(tb testing.TB) (crypto.Signer, *x509.Certificate) {
	tb.Helper()
	key, iss := mustIssue(tb, mustCA(tb), certs.CoordinatorID(testTrustDomain))
	return key, iss.Cert
}

func TestVerify(t *testing.T) {
	alice, bob, carol, dave := peerID("alice"), peerID("bob"), peerID("carol"), peerID("dave")
	tests := []struct {
		name  string
		stmts []string
		forge uint64 // re-sign this round with a forger's key after stmts
		want  string
	}{
		{name: "ErrNegativeBalance", stmts: []string{`UPDATE accounts SET balance = -1 WHERE identity = '` + alice + `'`}, want: ledger.InvNonNegative},
		{name: "ErrNegativePayout", stmts: []string{`UPDATE payouts SET amount = -5 WHERE round = 1 AND account = '` + bob + `'`}, want: ledger.InvNonNegative},
		{name: "ErrMintedAboveCap", stmts: []string{fmt.Sprintf(`UPDATE supply SET minted = %d`, ledger.Cap+1)}, want: ledger.InvMintedWithinCap},
		{name: "ErrPaidTwice", stmts: []string{`DROP INDEX payouts_round_account`,
			`INSERT INTO payouts (round, account, amount) VALUES (1, '` + alice + `', 0)`}, want: ledger.InvUniquePayouts},
		{name: "ErrAbortedRoundPaid", stmts: []string{`INSERT INTO payouts (round, account, amount) VALUES (3, '` + alice + `', 0)`}, want: ledger.InvUnsettledUnpaid},
		{name: "ErrAbortedRoundEvaluated", stmts: []string{`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
			VALUES (3, '` + alice + `', 0, 0, 0, 0, 'timeout', 0)`}, want: ledger.InvUnsettledUnpaid},
		{name: "ErrRoundSum", stmts: []string{`UPDATE payouts SET amount = amount + 1 WHERE round = 1 AND account = '` + alice + `'`}, want: ledger.InvRoundSum},
		{name: "ErrEvaluationPayout", stmts: []string{`UPDATE evaluations SET payout = payout + 1 WHERE round = 2 AND identity = '` + bob + `'`}, want: ledger.InvEvaluationPayouts},
		{name: "ErrSchedule", stmts: []string{ // consistent books, but round 2 minted 2 rao too many
			`UPDATE rounds SET emission = emission + 2 WHERE number = 2`,
			`UPDATE payouts SET amount = amount + 2 WHERE round = 2 AND account = '` + alice + `'`,
			`UPDATE evaluations SET payout = payout + 2 WHERE round = 2 AND identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 2 WHERE identity = '` + alice + `'`,
			`UPDATE supply SET minted = minted + 2`}, want: ledger.InvSchedule},
		{name: "ErrPayoutsMinted", stmts: []string{`UPDATE supply SET minted = minted - 1`}, want: ledger.InvPayoutsMinted},
		{name: "ErrBalancesMinted", stmts: []string{`UPDATE accounts SET balance = balance + 1 WHERE identity = '` + bob + `'`}, want: ledger.InvBalancesMinted},
		{name: "ErrAccountBalance", stmts: []string{ // sums agree, but 1 rao moved between accounts
			`UPDATE accounts SET balance = balance - 1 WHERE identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 1 WHERE identity = '` + bob + `'`}, want: ledger.InvAccountBalances},

		// Consistent rewrites, which only the chain of settled rounds catches.
		{name: "ErrRaoMoved", stmts: []string{ // 100 rao from alice to bob in payouts, evaluations and accounts
			`UPDATE payouts SET amount = amount - 100 WHERE round = 2 AND account = '` + alice + `'`,
			`UPDATE payouts SET amount = amount + 100 WHERE round = 2 AND account = '` + bob + `'`,
			`UPDATE evaluations SET payout = payout - 100 WHERE round = 2 AND identity = '` + alice + `'`,
			`UPDATE evaluations SET payout = payout + 100 WHERE round = 2 AND identity = '` + bob + `'`,
			`UPDATE accounts SET balance = balance - 100 WHERE identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 100 WHERE identity = '` + bob + `'`}, want: ledger.InvChain},
		{name: "ErrPayoutsRenamed", stmts: []string{ // bob's earnings are carol's now
			`UPDATE payouts SET account = '` + carol + `' WHERE account = '` + bob + `'`,
			`UPDATE evaluations SET identity = '` + carol + `' WHERE identity = '` + bob + `'`,
			`UPDATE accounts SET identity = '` + carol + `' WHERE identity = '` + bob + `'`}, want: ledger.InvChain},
		{name: "ErrSeedChanged", stmts: []string{`UPDATE rounds SET seed = seed + 1 WHERE number = 1`}, want: ledger.InvChain},
		{name: "ErrPreviousHashChanged", stmts: []string{`UPDATE rounds SET previous_hash = zeroblob(32) WHERE number = 2`}, want: ledger.InvChain},
		{name: "ErrLinkRemoved", stmts: []string{
			`UPDATE rounds SET previous_hash = NULL, hash = NULL, signature = NULL, signer = NULL WHERE number = 2`}, want: ledger.InvChain},
		{name: "ErrAbortedRoundLinked", stmts: []string{`UPDATE rounds SET (previous_hash, hash, signature, signer) =
			(SELECT previous_hash, hash, signature, signer FROM rounds WHERE number = 2) WHERE number = 3`}, want: ledger.InvChain},
		{name: "ErrForgedSignature", stmts: []string{ // rao moved, then re-hashed and signed by a key of another CA
			`UPDATE payouts SET amount = amount - 100 WHERE round = 2 AND account = '` + alice + `'`,
			`UPDATE payouts SET amount = amount + 100 WHERE round = 2 AND account = '` + bob + `'`,
			`UPDATE evaluations SET payout = payout - 100 WHERE round = 2 AND identity = '` + alice + `'`,
			`UPDATE evaluations SET payout = payout + 100 WHERE round = 2 AND identity = '` + bob + `'`,
			`UPDATE accounts SET balance = balance - 100 WHERE identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 100 WHERE identity = '` + bob + `'`}, forge: 2, want: ledger.InvChainSignature},
		{name: "ErrLinkIncomplete", stmts: []string{`UPDATE rounds SET signature = NULL WHERE number = 2`}, want: ledger.InvChain},
		{name: "ErrSignerCertificateDeleted", stmts: []string{`DELETE FROM round_signers`}, want: ledger.InvChainSignature},
		{name: "ErrSignatureSwapped", stmts: []string{
			`UPDATE rounds SET signature = (SELECT signature FROM rounds WHERE number = 1) WHERE number = 2`}, want: ledger.InvChainSignature},
		{name: "ErrSignerNotRecorded", stmts: []string{
			`DELETE FROM certificates WHERE identity = 'spiffe://` + testTrustDomain + `/coordinator'`}, want: ledger.InvChainSignature},

		// History wiped: round 1 deleted with everything it paid.
		{name: "ErrHistoryWiped", stmts: wipeRound1(true), want: ledger.InvRoundSequence},
		{name: "ErrHistoryWipedSupplyKept", stmts: wipeRound1(false), want: ledger.InvPayoutsMinted},

		// The directory.
		{name: "ErrNeverEnrolled", stmts: []string{`INSERT INTO directory (identity, name, role, state, address, enrolled_at, updated_at)
			VALUES ('` + peerID("mallory") + `', 'mallory', 'peer', 'active', '127.0.0.1:1', 0, 0)`}, want: ledger.InvDirectoryCerts},
		{name: "ErrAccountWithoutDirectory", stmts: []string{`DELETE FROM directory WHERE identity = '` + bob + `'`}, want: ledger.InvAccountDirectory},
		{name: "ErrGhostAccount", stmts: []string{`INSERT INTO accounts (identity, balance, updated_at) VALUES ('` + peerID("ghost") + `', 0, 0)`}, want: ledger.InvAccountDirectory},
		{name: "ErrRevocationDeleted", stmts: []string{`DELETE FROM revocations WHERE identity = '` + dave + `'`}, want: ledger.InvRevocations},
		{name: "ErrRevokedReactivated", stmts: []string{`UPDATE directory SET state = 'active' WHERE identity = '` + dave + `'`}, want: ledger.InvRevocations},
		{name: "ErrDanglingCertificate", stmts: []string{`DELETE FROM directory WHERE identity = '` + carol + `'`}, want: ledger.InvForeignKeys},
		{name: "ErrIntegrity", stmts: []string{`UPDATE rounds SET seed_hash = x'00' WHERE number = 3`}, want: ledger.InvIntegrity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustBooks(t)
			mustBreak(t, db, tt.stmts...)
			if tt.forge != 0 {
				mustForge(t, db, tt.forge)
			}
			_, err := db.Verify(context.Background(), caOf(t, db))
			var inv *ledger.InvariantError
			if !errors.As(err, &inv) {
				t.Fatalf("verify = %v, want an invariant error", err)
			}
			if inv.Invariant != tt.want {
				t.Fatalf("verify found %q (%s), want %q", inv.Invariant, inv.Detail, tt.want)
			}
			t.Log(inv)
		})
	}
}

// wipeRound1 deletes round 1 with its evaluations and payouts and takes
// what it paid back from the balances and, when supply, from minted too.
func wipeRound1(supply bool) []string {
	stmts := []string{
		`UPDATE accounts SET balance = balance - (SELECT amount FROM payouts p WHERE p.round = 1 AND p.account = accounts.identity)
			WHERE identity IN (SELECT account FROM payouts WHERE round = 1)`,
		`DELETE FROM payouts WHERE round = 1`,
		`DELETE FROM evaluations WHERE round = 1`,
		`DELETE FROM rounds WHERE number = 1`,
	}
	if supply {
		stmts = append([]string{`UPDATE supply SET minted = minted - (SELECT emission FROM rounds WHERE number = 1)`}, stmts...)
	}
	return stmts
}

// TestVerifyChain: Verify reports the chain it recomputed, and deleting the
// newest rounds wholesale leaves books it cannot tell from the real ones
// (a receipt of the deleted round is what shows it).
func TestVerifyChain(t *testing.T) {
	ctx := context.Background()
	db, _ := mustBooks(t)
	chain, err := db.Verify(ctx, caOf(t, db))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := db.GetRound(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if chain.Settled != 2 || chain.Unsigned != 0 || chain.TipRound != 2 || !bytes.Equal(chain.Tip, r2.Hash) {
		t.Fatalf("chain = %+v, want 2 signed rounds with tip %x", chain, r2.Hash)
	}
	mustBreak(t, db, // rounds 2 and 3 deleted with everything they paid
		`UPDATE supply SET minted = minted - (SELECT emission FROM rounds WHERE number = 2)`,
		`UPDATE accounts SET balance = balance - (SELECT amount FROM payouts p WHERE p.round = 2 AND p.account = accounts.identity)`,
		`DELETE FROM payouts WHERE round = 2`, `DELETE FROM evaluations WHERE round = 2`, `DELETE FROM rounds WHERE number >= 2`)
	chain, err = db.Verify(ctx, caOf(t, db))
	if err != nil {
		t.Fatalf("verify after the newest rounds were deleted = %v; the database alone cannot show it", err)
	}
	if chain.TipRound != 1 || bytes.Equal(chain.Tip, r2.Hash) {
		t.Fatalf("chain = %+v; a receipt of round 2 (%x) must not match it", chain, r2.Hash)
	}
}

// crashPeers is how many peers the crash child pays each round.
const crashPeers = 50

// TestCrashChild is the child process of TestSettleCrash: it settles rounds
// in a loop until it is killed. Run on its own it does nothing.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("TAONET_LEDGER_CRASH_DB")
	if path == "" {
		return
	}
	ctx := context.Background()
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	signer := os.Getenv("TAONET_LEDGER_CRASH_SIGNER")
	keyPEM, err := os.ReadFile(filepath.Join(signer, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(signer, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certs.ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: cert}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AbortOpen(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	ids := make([]string, crashPeers)
	for i := range ids {
		ids[i] = peerID(fmt.Sprintf("p%02d", i))
	}
	for {
		last, err := db.LastRound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := last + 1
		rng := rand.New(rand.NewPCG(n, 3))
		shares := make([]uint64, len(ids))
		for i := range shares {
			shares[i] = rng.Uint64N(1000)
		}
		mustOpenRound(t, db, n)
		if _, err := db.Settle(ctx, n, roundSeed(n), scored(ids, shares...)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSettleCrash kills a child that settles rounds with SIGKILL at random
// moments and checks the books after every kill: verify passes, every
// round is whole or unpaid, settled rounds never change and minted grows
// only by whole rounds.
func TestSettleCrash(t *testing.T) {
	const kills = 60
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "taonet.db")
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, crashPeers)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	mustPeers(t, db, names...)
	signer := t.TempDir()
	ca := mustSignerFiles(t, db, signer)
	db.Close()

	rng := rand.New(rand.NewPCG(42, 42))
	settled := map[uint64]uint64{} // round -> emission, once settled
	var minted uint64
	killed := 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TAONET_LEDGER_CRASH_DB="+path, "TAONET_LEDGER_CRASH_SIGNER="+signer)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%4 != 0 { // mostly after start-up, sometimes during it
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("child %d said %q", i, line)
			}
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
			killed++
		} else {
			t.Fatalf("child %d ended on its own: %v", i, err)
		}
		minted = checkAfterCrash(t, path, ca, settled, minted)
	}
	if killed < 50 || len(settled) == 0 {
		t.Fatalf("%d kills, %d rounds settled; the test did not exercise settlement", killed, len(settled))
	}
	t.Logf("%d kills, %d rounds settled, %d rao minted", killed, len(settled), minted)
}

// checkAfterCrash reopens the database after a kill and checks it against
// what earlier checks saw. It returns the minted supply.
func checkAfterCrash(t *testing.T, path string, ca *x509.Certificate, settled map[uint64]uint64, minted uint64) uint64 {
	t.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	chain, err := db.Verify(ctx, ca)
	if err != nil {
		t.Fatalf("verify after kill: %v", err)
	}
	if chain.Unsigned != 0 {
		t.Fatalf("after kill, %d settled rounds have no chain link", chain.Unsigned)
	}
	rounds, _, err := db.ListRounds(ctx, ledger.Page{Size: ledger.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var newly uint64
	for _, r := range rounds {
		full, err := db.GetRound(ctx, r.Number)
		if err != nil {
			t.Fatal(err)
		}
		emission, was := settled[r.Number]
		switch {
		case r.State == ledger.RoundSettled && len(full.Evaluations) != crashPeers:
			t.Fatalf("round %d is settled with %d of %d evaluations", r.Number, len(full.Evaluations), crashPeers)
		case r.State != ledger.RoundSettled && len(full.Evaluations) != 0:
			t.Fatalf("round %d is %s but has evaluations", r.Number, r.State)
		case was && (r.State != ledger.RoundSettled || r.Emission != emission):
			t.Fatalf("settled round %d changed: now %s with emission %d, was %d", r.Number, r.State, r.Emission, emission)
		case !was && r.State == ledger.RoundSettled:
			settled[r.Number] = r.Emission
			newly += r.Emission
		}
	}
	sup, err := db.GetSupply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sup.Minted != minted+newly {
		t.Fatalf("minted went from %d to %d, but newly settled rounds minted %d", minted, sup.Minted, newly)
	}
	return sup.Minted
}

// mustSignerFiles makes a test CA and a coordinator certificate, records
// the certificate in db and writes the key and certificate to dir
// (key.pem, cert.pem) for a child process. It returns the CA certificate.
func mustSignerFiles(tb testing.TB, db *ledger.DB, dir string) *x509.Certificate {
	tb.Helper()
	ca := mustCA(tb)
	key, iss := mustIssue(tb, ca, certs.CoordinatorID(testTrustDomain))
	if err := db.EnrollIssued(context.Background(), iss, time.Now()); err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), iss.PEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return ca.Cert
}
