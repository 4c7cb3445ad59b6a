package peer_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestReceipts: a peer keeps a verified receipt of every settled round,
// chained in order and equal to what GetRound serves; a RoundClosed whose
// signed history does not hold together is refused and not kept; a
// receipts file torn by a crash is read up to its last whole line.
func TestReceipts(t *testing.T) {
	n := mustCoordinatorWith(t, 0, "", func(c *coordinator.Config) {
		c.RoundEvery, c.DistillTimeout, c.EvalTimeout = 1500*time.Millisecond, 600*time.Millisecond, 600*time.Millisecond
		c.Transfer, c.TransferBatch, c.ValidationSamples = 40, 20, 30
	})
	dir := t.TempDir()
	alice := n.mustPeerWith(t, filepath.Join(dir, "alice"), n.token(t, "alice"), fastRounds)
	path := filepath.Join(alice.home, peer.ReceiptsFile)
	var kept []peer.Receipt
	waitFor(t, 20*time.Second, "two receipts", func() bool {
		kept, _ = peer.ReadReceipts(path)
		return len(kept) >= 2
	})
	client := coordinatorClient(t, n, alice)
	for i, rec := range kept {
		resp, err := client.GetRound(tctx(t), &taonetv1.GetRoundRequest{Number: rec.Round})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Hash != hex.EncodeToString(resp.GetRound().GetHash()) || rec.Signature != hex.EncodeToString(resp.GetRound().GetSignature()) {
			t.Fatalf("receipt of round %d differs from GetRound", rec.Round)
		}
		if i > 0 && (rec.PreviousHash != kept[i-1].Hash && rec.Round == kept[i-1].Round+1) {
			t.Fatalf("round %d chains onto %s, the receipt before is %s", rec.Round, rec.PreviousHash, kept[i-1].Hash)
		}
	}
	_ = alice.stop()

	// A forged next round: every field of the last settled round, with one
	// evaluation's payout changed, is refused by the signature check.
	last := kept[len(kept)-1]
	resp, err := client.GetRound(tctx(t), &taonetv1.GetRoundRequest{Number: last.Round})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetRound()
	closed := &taonetv1.RoundClosed{Round: r.GetNumber(), State: r.GetState(), ValidationSeed: r.GetValidationSeed(),
		EmissionRao: r.GetEmissionRao(), Evaluations: r.GetEvaluations(), Seed: r.GetSeed(), PreviousHash: r.GetPreviousHash(),
		Hash: r.GetHash(), Signature: r.GetSignature(), SignerCertificate: r.GetSignerCertificate()}
	bob := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), fastRounds)
	_ = bob.stop()
	if err := peer.KeepReceipt(bob.Peer, closed); err != nil {
		t.Fatalf("a genuine receipt: %v", err)
	}
	forged := proto.Clone(closed).(*taonetv1.RoundClosed)
	forged.Evaluations[0].PayoutRao++
	if err := peer.KeepReceipt(bob.Peer, forged); err == nil {
		t.Fatal("a RoundClosed with a changed payout was kept")
	}
	// The same round with another hash does not verify either.
	rewritten := proto.Clone(closed).(*taonetv1.RoundClosed)
	rewritten.Hash = bytes.Repeat([]byte{1}, 32)
	if err := peer.KeepReceipt(bob.Peer, rewritten); err == nil {
		t.Fatal("a round with a changed hash was kept")
	}
	bobPath := filepath.Join(bob.home, peer.ReceiptsFile)
	if got, _ := peer.ReadReceipts(bobPath); len(got) != 1 || got[0].Hash != last.Hash {
		t.Fatalf("bob kept %v, want the one genuine receipt", got)
	}
	f, err := os.OpenFile(bobPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"round": 99, "ha`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, err := peer.ReadReceipts(bobPath); err != nil || len(got) != 1 {
		t.Fatalf("a torn last line: %v, %v", got, err)
	}
}
