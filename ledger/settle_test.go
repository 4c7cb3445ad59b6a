package ledger_test

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/taonet/taonet/ledger"
)

// ledgerState dumps every accounting row, to prove that a refused
// settlement wrote nothing.
func ledgerState(tb testing.TB, db *ledger.DB) string {
	tb.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT number, state, COALESCE(closed_at, -1), emission, COALESCE(hex(revealed_seed), '') FROM rounds ORDER BY number`,
		`SELECT round, identity, loss, accuracy, weight, shares, status, payout FROM evaluations ORDER BY round, identity`,
		`SELECT round, account, amount FROM payouts ORDER BY round, account`,
		`SELECT identity, balance FROM accounts ORDER BY identity`,
		`SELECT minted, initial_emission FROM supply`,
	} {
		rows, err := db.SQL().Query(q)
		if err != nil {
			tb.Fatalf("dump: %v", err)
		}
		cols, err := rows.Columns()
		if err != nil {
			tb.Fatalf("dump: %v", err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatalf("dump: %v", err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

func mustInitialEmission(tb testing.TB, db *ledger.DB, rao uint64) {
	tb.Helper()
	if err := db.SetInitialEmission(context.Background(), rao); err != nil {
		tb.Fatalf("set initial emission: %v", err)
	}
}

func payoutMap(s *ledger.Settlement) map[string]uint64 {
	m := map[string]uint64{}
	for _, p := range s.Payouts {
		m[p.Account] = p.Rao
	}
	return m
}

func TestSettleSplit(t *testing.T) {
	tests := []struct {
		name   string
		e0     uint64
		names  []string
		shares []uint64
		want   []uint64
	}{
		{"OKEven", 9, []string{"a", "b", "c"}, []uint64{1, 1, 1}, []uint64{3, 3, 3}},
		{"OKLargestRemainder", 10, []string{"a", "b"}, []uint64{2, 1}, []uint64{7, 3}},
		{"OKTieGoesToSmallerAccount", 10, []string{"c", "b", "a"}, []uint64{1, 1, 1}, []uint64{3, 3, 4}},
		{"OKZeroSharesUnpaid", 10, []string{"a", "b", "c"}, []uint64{0, 5, 0}, []uint64{0, 10, 0}},
		{"OKMoreAccountsThanRao", 2, []string{"d", "c", "b", "a"}, []uint64{1, 1, 1, 1}, []uint64{0, 0, 1, 1}},
		{"OKHugeShares", ledger.DefaultEmission, []string{"a", "b"}, []uint64{math.MaxInt64, math.MaxInt64 / 3}, []uint64{750_000_000, 250_000_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustLedger(t)
			mustInitialEmission(t, db, tt.e0)
			ids := mustPeers(t, db, tt.names...)
			s := mustSettle(t, db, 1, scored(ids, tt.shares...))
			got := payoutMap(s)
			for i, id := range ids {
				if got[id] != tt.want[i] {
					t.Errorf("%s paid %d, want %d (all: %v)", tt.names[i], got[id], tt.want[i], got)
				}
			}
			if s.Emission != tt.e0 || s.AlreadySettled {
				t.Fatalf("settlement = %+v", s)
			}
			mustVerify(t, db)
		})
	}
}

// TestSettleSplitRandom checks random splits against exact rational
// arithmetic: payouts sum to the emission, each is the floor or the
// ceiling of its exact share, and a larger remainder is never paid less.
func TestSettleSplitRandom(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	db := mustLedger(t)
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	ids := mustPeers(t, db, names...)
	for round := uint64(1); round <= 25; round++ {
		shares := make([]uint64, len(ids))
		total := new(big.Int)
		for i := range shares {
			if rng.IntN(4) > 0 {
				shares[i] = rng.Uint64N(1 << (1 + rng.IntN(62)))
			}
			total.Add(total, new(big.Int).SetUint64(shares[i]))
		}
		before, err := db.GetSupply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := mustSettle(t, db, round, scored(ids, shares...))
		if total.Sign() == 0 {
			if s.Emission != 0 {
				t.Fatalf("round %d: no shares but emission %d", round, s.Emission)
			}
			continue
		}
		if s.Emission != before.Emission {
			t.Fatalf("round %d: emission %d, supply said %d", round, s.Emission, before.Emission)
		}
		got := payoutMap(s)
		var sum uint64
		for i, id := range ids {
			exact := new(big.Rat).SetFrac(new(big.Int).Mul(new(big.Int).SetUint64(s.Emission), new(big.Int).SetUint64(shares[i])), total)
			floor := new(big.Int).Quo(exact.Num(), exact.Denom()).Uint64()
			if p := got[id]; p != floor && !(p == floor+1 && !exact.IsInt()) {
				t.Fatalf("round %d: %s paid %d, exact share %s", round, id, p, exact.FloatString(3))
			}
			sum += got[id]
		}
		if sum != s.Emission {
			t.Fatalf("round %d: payouts sum to %d, emission %d", round, sum, s.Emission)
		}
	}
	mustVerify(t, db)
}

func TestSettleIdempotent(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob")
	evs := scored(ids, 2, 1)
	first := mustSettle(t, db, 1, evs)
	state := ledgerState(t, db)
	t.Run("OK", func(t *testing.T) {
		again, err := db.Settle(ctx, 1, roundSeed(1), evs)
		if err != nil {
			t.Fatal(err)
		}
		if !again.AlreadySettled || again.Emission != first.Emission || fmt.Sprint(again.Payouts) != fmt.Sprint(first.Payouts) {
			t.Fatalf("second settlement = %+v, first = %+v", again, first)
		}
		if got := ledgerState(t, db); got != state {
			t.Fatalf("second settlement changed the ledger:\n%s\nwant\n%s", got, state)
		}
	})
	t.Run("ErrOtherEvaluations", func(t *testing.T) {
		_, err := db.Settle(ctx, 1, roundSeed(1), scored(ids, 1, 1))
		wantCode(t, err, ledger.ECONFLICT)
		_, err = db.Settle(ctx, 1, roundSeed(1), scored(ids[:1], 2))
		wantCode(t, err, ledger.ECONFLICT)
		if got := ledgerState(t, db); got != state {
			t.Fatalf("conflicting settlement changed the ledger")
		}
	})
}

func TestSettleNoShares(t *testing.T) {
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob")
	evs := []ledger.Evaluation{
		{Identity: ids[0], Status: ledger.EvalTimeout},
		{Identity: ids[1], Loss: 3, Status: ledger.EvalScored},
	}
	s := mustSettle(t, db, 1, evs)
	if s.Emission != 0 || len(s.Payouts) != 0 {
		t.Fatalf("settlement = %+v, want nothing minted", s)
	}
	sup, err := db.GetSupply(context.Background())
	if err != nil || sup.Minted != 0 {
		t.Fatalf("minted = %d, %v", sup.Minted, err)
	}
	r, err := db.GetRound(context.Background(), 1)
	if err != nil || r.State != ledger.RoundSettled || len(r.Evaluations) != 2 {
		t.Fatalf("round = %+v, %v", r, err)
	}
	mustVerify(t, db)
}

// TestSettleDuplicate settles a round in which one answer was a duplicate:
// it is recorded with its scores, paid nothing, and replaying the same
// settlement changes nothing.
func TestSettleDuplicate(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob", "carol")
	evs := []ledger.Evaluation{
		{Identity: ids[0], Loss: 0.4, Accuracy: 0.9, Weight: 0.75, Shares: 3, Status: ledger.EvalScored},
		{Identity: ids[1], Loss: 0.4, Accuracy: 0.9, Status: ledger.EvalDuplicate},
		{Identity: ids[2], Loss: 0.8, Accuracy: 0.7, Weight: 0.25, Shares: 1, Status: ledger.EvalScored},
	}
	s := mustSettle(t, db, 1, evs)
	want := map[string]uint64{ids[0]: 750_000_000, ids[2]: 250_000_000}
	if got := payoutMap(s); fmt.Sprint(got) != fmt.Sprint(want) || s.Emission != ledger.DefaultEmission {
		t.Fatalf("payouts = %v of %d, want %v", got, s.Emission, want)
	}
	r, err := db.GetRound(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	dup := r.Evaluations[1]
	if dup.Identity != ids[1] || dup.Status != ledger.EvalDuplicate || dup.Loss != 0.4 || dup.Accuracy != 0.9 || dup.Payout != 0 {
		t.Fatalf("duplicate recorded as %+v", dup)
	}
	state := ledgerState(t, db)
	again, err := db.Settle(ctx, 1, roundSeed(1), evs)
	if err != nil || !again.AlreadySettled {
		t.Fatalf("replay = %+v, %v", again, err)
	}
	if got := ledgerState(t, db); got != state {
		t.Fatalf("replay changed the ledger:\n%s\nwant\n%s", got, state)
	}
	mustVerify(t, db)
}

func TestSettleRefused(t *testing.T) {
	ctx := context.Background()
	ev := func(id string, shares uint64) ledger.Evaluation {
		return ledger.Evaluation{Identity: id, Shares: shares, Status: ledger.EvalScored}
	}
	alice, bob, carol := peerID("alice"), peerID("bob"), peerID("carol")
	tests := []struct {
		name  string
		round uint64 // 0: the open round
		seed  []byte
		evs   []ledger.Evaluation
		code  ledger.ErrorCode
	}{
		{"ErrSharesOverflow", 0, nil, []ledger.Evaluation{ev(alice, math.MaxInt64), ev(bob, math.MaxInt64), ev(carol, 2)}, ledger.EINVALID},
		{"ErrSharesTooLarge", 0, nil, []ledger.Evaluation{ev(alice, math.MaxInt64+1)}, ledger.EINVALID},
		{"ErrUnknownRound", 9, nil, []ledger.Evaluation{ev(alice, 1)}, ledger.ENOTFOUND},
		{"ErrAbortedRound", 1, nil, []ledger.Evaluation{ev(alice, 1)}, ledger.ECONFLICT},
		{"ErrDuplicateIdentity", 0, nil, []ledger.Evaluation{ev(alice, 1), ev(bob, 1), ev(alice, 2)}, ledger.EINVALID},
		{"ErrNotInDirectory", 0, nil, []ledger.Evaluation{ev(alice, 1), ev(peerID("mallory"), 1)}, ledger.ENOTFOUND},
		{"ErrEmptyIdentity", 0, nil, []ledger.Evaluation{ev("", 1)}, ledger.EINVALID},
		{"ErrSeedMismatch", 0, []byte("guessed"), []ledger.Evaluation{ev(alice, 1)}, ledger.EINVALID},
		{"ErrSharesOnTimeout", 0, nil, []ledger.Evaluation{{Identity: alice, Shares: 1, Status: ledger.EvalTimeout}}, ledger.EINVALID},
		{"ErrSharesOnDuplicate", 0, nil, []ledger.Evaluation{ev(alice, 1), {Identity: bob, Shares: 1, Status: ledger.EvalDuplicate}}, ledger.EINVALID},
		{"ErrUnknownStatus", 0, nil, []ledger.Evaluation{{Identity: alice, Status: "great"}}, ledger.EINVALID},
		{"ErrNaNLoss", 0, nil, []ledger.Evaluation{{Identity: alice, Loss: math.NaN(), Status: ledger.EvalScored}}, ledger.EINVALID},
		{"ErrInfiniteLoss", 0, nil, []ledger.Evaluation{{Identity: alice, Loss: math.Inf(1), Status: ledger.EvalScored}}, ledger.EINVALID},
		{"ErrAccuracyAboveOne", 0, nil, []ledger.Evaluation{{Identity: alice, Accuracy: 1.5, Status: ledger.EvalScored}}, ledger.EINVALID},
		{"ErrPayoutGiven", 0, nil, []ledger.Evaluation{{Identity: alice, Shares: 1, Payout: 5, Status: ledger.EvalScored}}, ledger.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustLedger(t)
			mustPeers(t, db, "alice", "bob", "carol")
			mustOpenRound(t, db, 1)
			if _, err := db.AbortOpen(ctx); err != nil {
				t.Fatal(err)
			}
			mustOpenRound(t, db, 2)
			// Round 1 is aborted; the cases that want an open round use
			// round 2.
			round := tt.round
			if round == 0 {
				round = 2
			}
			seed := tt.seed
			if seed == nil {
				seed = roundSeed(round)
			}
			before := ledgerState(t, db)
			_, err := db.Settle(ctx, round, seed, tt.evs)
			wantCode(t, err, tt.code)
			if after := ledgerState(t, db); after != before {
				t.Fatalf("refused settlement wrote:\n%s\nwas\n%s", after, before)
			}
			mustVerify(t, db)
		})
	}
}

// TestSettleAtomic makes the database refuse one payout in the middle of a
// settlement and checks that nothing of the round was written.
func TestSettleAtomic(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ids := mustPeers(t, db, "alice", "bob", "carol")
	mustSettle(t, db, 1, scored(ids, 1, 1, 1))
	mustOpenRound(t, db, 2)
	if _, err := db.SQL().Exec(`CREATE TRIGGER refuse_bob BEFORE INSERT ON payouts WHEN NEW.account = '` + ids[1] + `'
		BEGIN SELECT RAISE(ABORT, 'injected fault'); END`); err != nil {
		t.Fatal(err)
	}
	before := ledgerState(t, db)
	_, err := db.Settle(ctx, 2, roundSeed(2), scored(ids, 1, 2, 3))
	if err == nil || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("settle with a failing payout: %v", err)
	}
	if after := ledgerState(t, db); after != before {
		t.Fatalf("failed settlement left a partial round:\n%s\nwas\n%s", after, before)
	}
	if _, err := db.SQL().Exec(`DROP TRIGGER refuse_bob`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settle(ctx, 2, roundSeed(2), scored(ids, 1, 2, 3)); err != nil {
		t.Fatalf("settle after the fault: %v", err)
	}
	mustVerify(t, db)
}

// TestSettleConcurrentReaders settles rounds while readers check, each in
// one read transaction, that balances, payouts and minted supply agree and
// that minted is a whole number of rounds: a reader sees the state before a
// settlement or after it, never a mix.
func TestSettleConcurrentReaders(t *testing.T) {
	const rounds, readers = 25, 3
	ctx := context.Background()
	db := mustLedger(t)
	ca := caOf(t, db)
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	ids := mustPeers(t, db, names...)
	shares := make([]uint64, len(ids))
	for i := range shares {
		shares[i] = uint64(i + 1)
	}
	done := make(chan struct{})
	type result struct {
		reads  int
		states map[int64]bool
		err    error
	}
	results := make(chan result, readers)
	for range readers {
		go func() {
			res := result{states: map[int64]bool{}}
			defer func() { results <- res }()
			for {
				select {
				case <-done:
					return
				default:
				}
				minted, err := readConsistent(ctx, db)
				if err != nil {
					res.err = err
					return
				}
				if _, err := db.Verify(ctx, ca); err != nil {
					res.err = err
					return
				}
				res.reads++
				res.states[minted] = true
			}
		}()
	}
	for n := uint64(1); n <= rounds; n++ {
		mustSettle(t, db, n, scored(ids, shares...))
	}
	close(done)
	seen := map[int64]bool{}
	for range readers {
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		for m := range res.states {
			seen[m] = true
		}
	}
	if len(seen) < 3 {
		t.Fatalf("readers saw only %d states; they did not run during settlement", len(seen))
	}
}

// readConsistent reads the totals in one read transaction on one connection
// and returns minted, or an error describing a mixed state.
func readConsistent(ctx context.Context, db *ledger.DB) (int64, error) {
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return 0, err
	}
	defer conn.ExecContext(ctx, `ROLLBACK`) //nolint:errcheck // read-only
	var minted, balances, payouts, settled int64
	for q, dst := range map[string]*int64{
		`SELECT minted FROM supply`:                           &minted,
		`SELECT COALESCE(SUM(balance), 0) FROM accounts`:      &balances,
		`SELECT COALESCE(SUM(amount), 0) FROM payouts`:        &payouts,
		`SELECT COUNT(*) FROM rounds WHERE state = 'settled'`: &settled,
	} {
		if err := conn.QueryRowContext(ctx, q).Scan(dst); err != nil {
			return 0, err
		}
	}
	if balances != minted || payouts != minted || minted != settled*int64(ledger.DefaultEmission) {
		return 0, fmt.Errorf("mixed state: minted %d, balances %d, payouts %d, %d rounds settled", minted, balances, payouts, settled)
	}
	return minted, nil
}
