package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/taonet/taonet/ledger"
)

// BenchmarkSettle measures settling one round with n payouts beside a
// baseline measured in the same run: raw inserts of the same rows (the
// evaluations, the balance upserts, the payouts, the round and the supply)
// in one transaction with the same driver. scripts/bench-ledger.sh prints
// the ratio.
func BenchmarkSettle(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		b.Run(fmt.Sprintf("payouts=%d/settle", n), func(b *testing.B) {
			db, ids := benchLedger(b, n)
			evs := benchEvaluations(ids)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				round := uint64(i + 1)
				b.StopTimer()
				mustOpenRound(b, db, round)
				b.StartTimer()
				s, err := db.Settle(ctx, round, roundSeed(round), evs)
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Payouts) != n {
					b.Fatalf("%d payouts, want %d", len(s.Payouts), n)
				}
			}
		})
		b.Run(fmt.Sprintf("payouts=%d/baseline", n), func(b *testing.B) {
			db, ids := benchLedger(b, n)
			evs := benchEvaluations(ids)
			b.ResetTimer()
			for i := range b.N {
				round := int64(i + 1)
				b.StopTimer()
				mustOpenRound(b, db, uint64(round))
				b.StartTimer()
				if err := rawSettle(db, round, evs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchLedger(b *testing.B, n int) (*ledger.DB, []string) {
	b.Helper()
	db := mustLedger(b)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("peer-%05d", i)
	}
	tx, err := db.SQL().Begin()
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i, name := range names {
		ids[i] = peerID(name)
		if _, err := tx.Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, ids[i], name); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db, ids
}

func benchEvaluations(ids []string) []ledger.Evaluation {
	shares := make([]uint64, len(ids))
	for i := range shares {
		shares[i] = uint64(1000 + i%97)
	}
	return scored(ids, shares...)
}

// rawSettle writes what a settlement writes, with plain statements and
// amounts computed up front: the baseline.
func rawSettle(db *ledger.DB, round int64, evs []ledger.Evaluation) error {
	amount := int64(ledger.DefaultEmission) / int64(len(evs))
	tx, err := db.SQL().Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit
	evalStmt, err := tx.Prepare(`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	acctStmt, err := tx.Prepare(`INSERT INTO accounts (identity, balance, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (identity) DO UPDATE SET balance = balance + excluded.balance, updated_at = excluded.updated_at`)
	if err != nil {
		return err
	}
	payStmt, err := tx.Prepare(`INSERT INTO payouts (round, account, amount) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if _, err := evalStmt.Exec(round, e.Identity, e.Loss, e.Accuracy, e.Weight, int64(e.Shares), string(e.Status), amount); err != nil {
			return err
		}
		if _, err := acctStmt.Exec(e.Identity, amount, 0); err != nil {
			return err
		}
		if _, err := payStmt.Exec(round, e.Identity, amount); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`UPDATE rounds SET state = 'settled', revealed_seed = ?, closed_at = 0, emission = ? WHERE number = ?`,
		roundSeed(uint64(round)), amount*int64(len(evs)), round); err != nil {
		return err
	}
	if _, err := tx.Exec(`UPDATE supply SET minted = minted + ? WHERE id = 1`, amount*int64(len(evs))); err != nil {
		return err
	}
	return tx.Commit()
}
