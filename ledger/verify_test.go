package ledger_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/taonet/taonet/ledger"
)

// mustBooks returns a ledger with two settled rounds and an aborted one.
func mustBooks(tb testing.TB) (*ledger.DB, []string) {
	tb.Helper()
	db := mustLedger(tb)
	ids := mustPeers(tb, db, "alice", "bob")
	mustSettle(tb, db, 1, scored(ids, 1, 1))
	mustSettle(tb, db, 2, scored(ids, 3, 1))
	mustOpenRound(tb, db, 3)
	if _, err := db.AbortOpen(context.Background()); err != nil {
		tb.Fatal(err)
	}
	mustVerify(tb, db)
	return db, ids
}

// mustBreak runs statements on one connection with CHECK constraints off,
// so a test can write what the schema would refuse.
func mustBreak(tb testing.TB, db *ledger.DB, stmts ...string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	for _, s := range append(append([]string{`PRAGMA ignore_check_constraints = ON`}, stmts...), `PRAGMA ignore_check_constraints = OFF`) {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

func TestVerify(t *testing.T) {
	alice, bob := peerID("alice"), peerID("bob")
	tests := []struct {
		name  string
		stmts []string
		want  string
	}{
		{"ErrNegativeBalance", []string{`UPDATE accounts SET balance = -1 WHERE identity = '` + alice + `'`}, ledger.InvNonNegative},
		{"ErrNegativePayout", []string{`UPDATE payouts SET amount = -5 WHERE round = 1 AND account = '` + bob + `'`}, ledger.InvNonNegative},
		{"ErrMintedAboveCap", []string{fmt.Sprintf(`UPDATE supply SET minted = %d`, ledger.Cap+1)}, ledger.InvMintedWithinCap},
		{"ErrPaidTwice", []string{`DROP INDEX payouts_round_account`,
			`INSERT INTO payouts (round, account, amount) VALUES (1, '` + alice + `', 0)`}, ledger.InvUniquePayouts},
		{"ErrAbortedRoundPaid", []string{`INSERT INTO payouts (round, account, amount) VALUES (3, '` + alice + `', 0)`}, ledger.InvUnsettledUnpaid},
		{"ErrAbortedRoundEvaluated", []string{`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
			VALUES (3, '` + alice + `', 0, 0, 0, 0, 'timeout', 0)`}, ledger.InvUnsettledUnpaid},
		{"ErrRoundSum", []string{`UPDATE payouts SET amount = amount + 1 WHERE round = 1 AND account = '` + alice + `'`}, ledger.InvRoundSum},
		{"ErrEvaluationPayout", []string{`UPDATE evaluations SET payout = payout + 1 WHERE round = 2 AND identity = '` + bob + `'`}, ledger.InvEvaluationPayouts},
		{"ErrSchedule", []string{ // consistent books, but round 2 minted 2 rao too many
			`UPDATE rounds SET emission = emission + 2 WHERE number = 2`,
			`UPDATE payouts SET amount = amount + 2 WHERE round = 2 AND account = '` + alice + `'`,
			`UPDATE evaluations SET payout = payout + 2 WHERE round = 2 AND identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 2 WHERE identity = '` + alice + `'`,
			`UPDATE supply SET minted = minted + 2`}, ledger.InvSchedule},
		{"ErrPayoutsMinted", []string{`UPDATE supply SET minted = minted - 1`}, ledger.InvPayoutsMinted},
		{"ErrBalancesMinted", []string{`UPDATE accounts SET balance = balance + 1 WHERE identity = '` + bob + `'`}, ledger.InvBalancesMinted},
		{"ErrAccountBalance", []string{ // sums agree, but 1 rao moved between accounts
			`UPDATE accounts SET balance = balance - 1 WHERE identity = '` + alice + `'`,
			`UPDATE accounts SET balance = balance + 1 WHERE identity = '` + bob + `'`}, ledger.InvAccountBalances},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustBooks(t)
			mustBreak(t, db, tt.stmts...)
			err := db.Verify(context.Background())
			var inv *ledger.InvariantError
			if !errors.As(err, &inv) {
				t.Fatalf("verify = %v, want an invariant error", err)
			}
			if inv.Invariant != tt.want {
				t.Fatalf("verify found %q (%s), want %q", inv.Invariant, inv.Detail, tt.want)
			}
		})
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
	db.Close()

	rng := rand.New(rand.NewPCG(42, 42))
	settled := map[uint64]uint64{} // round -> emission, once settled
	var minted uint64
	killed := 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TAONET_LEDGER_CRASH_DB="+path)
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
		minted = checkAfterCrash(t, path, settled, minted)
	}
	if killed < 50 || len(settled) == 0 {
		t.Fatalf("%d kills, %d rounds settled; the test did not exercise settlement", killed, len(settled))
	}
	t.Logf("%d kills, %d rounds settled, %d rao minted", killed, len(settled), minted)
}

// checkAfterCrash reopens the database after a kill and checks it against
// what earlier checks saw. It returns the minted supply.
func checkAfterCrash(t *testing.T, path string, settled map[uint64]uint64, minted uint64) uint64 {
	t.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	if err := db.Verify(ctx); err != nil {
		t.Fatalf("verify after kill: %v", err)
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
