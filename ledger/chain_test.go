package ledger_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/roundchain"
)

// mustLegacySettle settles round n with plain SQL, as a binary from before
// the chain of rounds (migration 0004) did: evals carry their payouts,
// whose sum is the emission.
func mustLegacySettle(tb testing.TB, db *ledger.DB, n uint64, evals []ledger.Evaluation) {
	tb.Helper()
	mustOpenRound(tb, db, n)
	var emission uint64
	stmts := []string{}
	for _, e := range evals {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO evaluations (round, identity, loss, accuracy, weight, shares, status, payout)
			VALUES (%d, '%s', %v, %v, %v, %d, '%s', %d)`, n, e.Identity, e.Loss, e.Accuracy, e.Weight, e.Shares, e.Status, e.Payout))
		if e.Payout == 0 {
			continue
		}
		emission += e.Payout
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO accounts (identity, balance, updated_at) VALUES ('%s', %d, 0)
				ON CONFLICT (identity) DO UPDATE SET balance = balance + excluded.balance`, e.Identity, e.Payout),
			fmt.Sprintf(`INSERT INTO payouts (round, account, amount) VALUES (%d, '%s', %d)`, n, e.Identity, e.Payout))
	}
	stmts = append(stmts,
		fmt.Sprintf(`UPDATE rounds SET state = 'settled', revealed_seed = x'%x', closed_at = 1, emission = %d WHERE number = %d`, roundSeed(n), emission, n),
		fmt.Sprintf(`UPDATE supply SET minted = minted + %d`, emission))
	for _, s := range stmts {
		if _, err := db.SQL().Exec(s); err != nil {
			tb.Fatalf("legacy settle round %d: %s: %v", n, s, err)
		}
	}
}

// TestSettleChain: each settled round is linked to the settled round
// before it (aborted rounds are skipped) with a signature that checks
// against the CA, and settling again returns the same link.
func TestSettleChain(t *testing.T) {
	ctx := context.Background()
	db := mustLedger(t)
	ca := caOf(t, db)
	ids := mustPeers(t, db, "alice", "bob")
	s1 := mustSettle(t, db, 1, scored(ids, 3, 1))
	mustOpenRound(t, db, 2)
	if _, err := db.AbortOpen(ctx); err != nil {
		t.Fatal(err)
	}
	s3 := mustSettle(t, db, 3, scored(ids, 1, 1))
	t.Run("OKLinked", func(t *testing.T) {
		if !bytes.Equal(s1.PreviousHash, roundchain.Genesis()) || !bytes.Equal(s3.PreviousHash, s1.Hash) {
			t.Fatalf("round 1 follows %x, round 3 follows %x; want genesis and round 1's hash %x", s1.PreviousHash, s3.PreviousHash, s1.Hash)
		}
		for _, s := range []*ledger.Settlement{s1, s3} {
			if err := roundchain.Verify(ca, s.Signer, s.Hash, s.Signature); err != nil {
				t.Fatalf("round %d: %v", s.Round, err)
			}
			r, err := db.GetRound(ctx, s.Round)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Hash, s.Hash) || !bytes.Equal(r.PreviousHash, s.PreviousHash) ||
				!bytes.Equal(r.Signature, s.Signature) || !bytes.Equal(r.Signer, s.Signer) {
				t.Fatalf("round %d as read differs from its settlement", s.Round)
			}
		}
		r2, err := db.GetRound(ctx, 2)
		if err != nil || r2.Hash != nil || r2.Signature != nil {
			t.Fatalf("aborted round 2 = %+v, %v; want no chain link", r2, err)
		}
		chain, err := db.Verify(ctx, ca)
		if err != nil || chain.Settled != 2 || chain.TipRound != 3 || !bytes.Equal(chain.Tip, s3.Hash) {
			t.Fatalf("verify = %+v, %v", chain, err)
		}
	})
	t.Run("OKSettledAgainSameHash", func(t *testing.T) {
		again, err := db.Settle(ctx, 3, roundSeed(3), scored(ids, 1, 1))
		if err != nil || !again.AlreadySettled {
			t.Fatalf("settle again = %+v, %v", again, err)
		}
		if !bytes.Equal(again.Hash, s3.Hash) || !bytes.Equal(again.PreviousHash, s3.PreviousHash) ||
			!bytes.Equal(again.Signature, s3.Signature) || !bytes.Equal(again.Signer, s3.Signer) || again.Seed != s3.Seed {
			t.Fatalf("settled again with link %x after %x, first %x after %x", again.Hash, again.PreviousHash, s3.Hash, s3.PreviousHash)
		}
		mustVerify(t, db)
	})
	t.Run("OKRenewedSigner", func(t *testing.T) {
		other, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "renewed.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		ca := mustSigner(t, other)
		ids := mustPeers(t, other, "alice")
		first := mustSettle(t, other, 1, scored(ids, 1))
		key, iss := mustIssue(t, ca, certs.CoordinatorID(testTrustDomain))
		if err := other.EnrollIssued(ctx, iss, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := other.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: iss.Cert}); err != nil {
			t.Fatal(err)
		}
		second := mustSettle(t, other, 2, scored(ids, 1))
		if bytes.Equal(first.Signer, second.Signer) || !bytes.Equal(second.Signer, iss.Cert.Raw) {
			t.Fatal("round 2 was not signed under the renewed certificate")
		}
		chain, err := other.Verify(ctx, ca.Cert)
		if err != nil || chain.Settled != 2 {
			t.Fatalf("verify across a renewal = %+v, %v", chain, err)
		}
	})
	t.Run("OKEd25519", func(t *testing.T) {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		caCert, leaf := mustEd25519Coordinator(t, pub)
		other := mustLedger(t)
		ids := mustPeers(t, other, "alice")
		if err := other.EnrollIssued(ctx, &certs.Issued{ID: certs.CoordinatorID(testTrustDomain), Cert: leaf}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := other.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: leaf}); err != nil {
			t.Fatal(err)
		}
		s := mustSettle(t, other, 1, scored(ids, 1))
		if err := roundchain.Verify(caCert, s.Signer, s.Hash, s.Signature); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Verify(ctx, caCert); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrNoSigner", func(t *testing.T) {
		raw, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "unsigned.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		ids := mustPeers(t, raw, "alice")
		mustOpenRound(t, raw, 1)
		before := ledgerState(t, raw)
		if _, err := raw.Settle(ctx, 1, roundSeed(1), scored(ids, 1)); !errors.Is(err, ledger.ErrNoRoundSigner) {
			t.Fatalf("settle without a signer: %v, want ErrNoRoundSigner", err)
		}
		if after := ledgerState(t, raw); after != before {
			t.Fatalf("settlement without a signer wrote:\n%s\nwas\n%s", after, before)
		}
	})
	t.Run("ErrSignerNotCoordinator", func(t *testing.T) {
		key, iss := mustIssue(t, mustCA(t), certs.PeerID(testTrustDomain, "alice"))
		if err := db.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: iss.Cert}); err == nil {
			t.Fatal("a peer's certificate was accepted as the round signer")
		}
		other, err := certs.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SignRoundsWith(ledger.RoundSigner{Key: other, Cert: s1Cert(t, s1)}); err == nil {
			t.Fatal("a key that is not the certificate's was accepted")
		}
	})
}

// s1Cert parses the signer certificate of a settlement.
func s1Cert(tb testing.TB, s *ledger.Settlement) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(s.Signer)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// mustEd25519Coordinator issues a coordinator certificate for an Ed25519
// key from a new ECDSA CA (certs.CA.Issue takes only P-256 CSRs) and
// returns the CA certificate and the leaf.
func mustEd25519Coordinator(tb testing.TB, pub ed25519.PublicKey) (*x509.Certificate, *x509.Certificate) {
	tb.Helper()
	ca := mustCA(tb)
	id := certs.CoordinatorID(testTrustDomain)
	nb, na := certs.Validity(time.Now(), time.Hour)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, URIs: []*url.URL{id.URL()}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return ca.Cert, leaf
}

// TestMigrateRoundChain opens a database whose rounds were settled before
// the chain existed: they stay unsigned, the first round settled after the
// migration commits to them, so a rewrite of one of them is caught, and a
// settled round stripped of its link is never chained onto.
func TestMigrateRoundChain(t *testing.T) {
	ctx := context.Background()
	all, err := ledger.LoadMigrations(ledger.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	for _, m := range all {
		if m.Name != "round_chain" && m.Version < 4 {
			older[fmt.Sprintf("%04d_%s.sql", m.Version, m.Name)] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	if len(older) != 3 {
		t.Fatalf("%d migrations before round_chain, want 3", len(older))
	}
	path := filepath.Join(t.TempDir(), "old.db")
	raw := mustOpenRaw(t, path)
	if err := ledger.Migrate(ctx, raw.SQL(), older); err != nil {
		t.Fatal(err)
	}
	ids := mustPeers(t, raw, "alice", "bob")
	alice, bob := ids[0], ids[1]
	half := ledger.DefaultEmission / 2
	for n := uint64(1); n <= 2; n++ {
		mustLegacySettle(t, raw, n, []ledger.Evaluation{
			{Identity: alice, Loss: 0.5, Accuracy: 0.75, Weight: 0.5, Shares: 1, Status: ledger.EvalScored, Payout: half},
			{Identity: bob, Loss: 0.5, Accuracy: 0.75, Weight: 0.5, Shares: 1, Status: ledger.EvalScored, Payout: half},
		})
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustSigner(t, db)
	ca := caOf(t, db)

	chain, err := db.Verify(ctx, ca)
	if err != nil || chain.Settled != 2 || chain.Unsigned != 2 || chain.TipRound != 2 {
		t.Fatalf("verify of the unsigned history = %+v, %v", chain, err)
	}
	s3 := mustSettle(t, db, 3, scored(ids, 1, 1))
	if !bytes.Equal(s3.PreviousHash, chain.Tip) {
		t.Fatalf("round 3 follows %x, want the recomputed hash of rounds 1-2, %x", s3.PreviousHash, chain.Tip)
	}
	chain, err = db.Verify(ctx, ca)
	if err != nil || chain.Settled != 3 || chain.Unsigned != 2 || !bytes.Equal(chain.Tip, s3.Hash) {
		t.Fatalf("verify after round 3 = %+v, %v", chain, err)
	}

	t.Run("ErrUnsignedRoundRewritten", func(t *testing.T) {
		mustBreak(t, db, // 100 rao of round 1 moved from alice to bob
			`UPDATE payouts SET amount = amount - 100 WHERE round = 1 AND account = '`+alice+`'`,
			`UPDATE payouts SET amount = amount + 100 WHERE round = 1 AND account = '`+bob+`'`,
			`UPDATE evaluations SET payout = payout - 100 WHERE round = 1 AND identity = '`+alice+`'`,
			`UPDATE evaluations SET payout = payout + 100 WHERE round = 1 AND identity = '`+bob+`'`,
			`UPDATE accounts SET balance = balance - 100 WHERE identity = '`+alice+`'`,
			`UPDATE accounts SET balance = balance + 100 WHERE identity = '`+bob+`'`)
		defer mustBreak(t, db,
			`UPDATE payouts SET amount = amount + 100 WHERE round = 1 AND account = '`+alice+`'`,
			`UPDATE payouts SET amount = amount - 100 WHERE round = 1 AND account = '`+bob+`'`,
			`UPDATE evaluations SET payout = payout + 100 WHERE round = 1 AND identity = '`+alice+`'`,
			`UPDATE evaluations SET payout = payout - 100 WHERE round = 1 AND identity = '`+bob+`'`,
			`UPDATE accounts SET balance = balance + 100 WHERE identity = '`+alice+`'`,
			`UPDATE accounts SET balance = balance - 100 WHERE identity = '`+bob+`'`)
		_, err := db.Verify(ctx, ca)
		var inv *ledger.InvariantError
		if !errors.As(err, &inv) || inv.Invariant != ledger.InvChain {
			t.Fatalf("verify = %v, want %q", err, ledger.InvChain)
		}
	})
	t.Run("ErrSettleAfterUnlinkedRound", func(t *testing.T) {
		mustSettle(t, db, 4, scored(ids, 1, 1))
		mustBreak(t, db, `UPDATE rounds SET previous_hash = NULL, hash = NULL, signature = NULL, signer = NULL WHERE number = 4`)
		mustOpenRound(t, db, 5)
		before := ledgerState(t, db)
		if _, err := db.Settle(ctx, 5, roundSeed(5), scored(ids, 1, 1)); err == nil {
			t.Fatal("round 5 was chained onto round 4, whose link was removed")
		}
		if after := ledgerState(t, db); after != before {
			t.Fatalf("refused settlement wrote:\n%s\nwas\n%s", after, before)
		}
	})
}

// mustCA makes a CA for the test trust domain.
func mustCA(tb testing.TB) *certs.CA {
	tb.Helper()
	ca, err := certs.NewCA(testTrustDomain, time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// mustIssue makes a key and a certificate for id issued by ca.
func mustIssue(tb testing.TB, ca *certs.CA, id certs.ID) (*ecdsa.PrivateKey, *certs.Issued) {
	tb.Helper()
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	nb, na := certs.Validity(time.Now(), time.Hour)
	iss, err := ca.Issue(csr, id, nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	return key, iss
}
