package e2e_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestFiveRounds is the README's network: a coordinator with scheduled
// rounds and three peers on non-IID shards (alpha 0.1, seed 7), one of
// them a cnn. Five rounds settle, each paying exactly its emission, and
// every peer's validation loss falls.
func TestFiveRounds(t *testing.T) {
	n := mustNet(t)
	n.join(t, "alice", "mlp", "0/3")
	n.join(t, "bob", "mlp", "1/3")
	n.join(t, "carol", "cnn", "2/3")
	all := func(r *taonetv1.Round) bool {
		for _, name := range []string{"alice", "bob", "carol"} {
			if e := evaluation(r, name); e == nil || e.GetStatus() != taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED {
				return false
			}
		}
		return true
	}
	var first *taonetv1.Round
	rs := n.waitRounds(t, 90*time.Second, "five settled rounds with every peer scored", func(rs []*taonetv1.Round) bool {
		k := 0
		for _, r := range rs {
			if r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED && all(r) {
				if k == 0 {
					first = r
				}
				k++
			}
		}
		return k >= 5
	})
	t.Logf("rounds:%s", summary(rs))
	for _, r := range rs {
		if r.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
			continue
		}
		paid := uint64(0)
		for _, e := range r.GetEvaluations() {
			paid += e.GetPayoutRao()
		}
		if paid != r.GetEmissionRao() || paid != 1_000_000_000 {
			t.Errorf("round %d paid %d rao of its emission %d", r.GetNumber(), paid, r.GetEmissionRao())
		}
	}
	// The losses fall: every peer's best later round beats its first, and
	// the mean over peers of the last round beats that of the first.
	var later []*taonetv1.Round
	for _, r := range rs {
		if r.GetNumber() > first.GetNumber() && r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED && all(r) {
			later = append(later, r)
		}
	}
	last := later[len(later)-1]
	meanFirst, meanLast := 0.0, 0.0
	for _, name := range []string{"alice", "bob", "carol"} {
		a, b := evaluation(first, name), evaluation(last, name)
		best := b
		for _, r := range later {
			if e := evaluation(r, name); e.GetLoss() < best.GetLoss() {
				best = e
			}
		}
		meanFirst, meanLast = meanFirst+a.GetLoss()/3, meanLast+b.GetLoss()/3
		t.Logf("%s: round %d loss %.3f accuracy %.3f -> round %d loss %.3f accuracy %.3f (best later loss %.3f)", name,
			first.GetNumber(), a.GetLoss(), a.GetAccuracy(), last.GetNumber(), b.GetLoss(), b.GetAccuracy(), best.GetLoss())
		if best.GetLoss() >= a.GetLoss() {
			t.Errorf("%s: validation loss never fell below round %d's %.3f", name, first.GetNumber(), a.GetLoss())
		}
	}
	if meanLast >= meanFirst {
		t.Errorf("mean validation loss rose from %.3f in round %d to %.3f in round %d", meanFirst, first.GetNumber(), meanLast, last.GetNumber())
	}
	t.Run("OKQuery", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		x, err := distill.EncodeFloat32([]int64{3, 784}, make([]float32, 3*784))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := n.client.Query(ctx, &taonetv1.QueryRequest{Inputs: x, MaxPeers: 2})
		if err != nil {
			t.Fatal(err)
		}
		probs, err := distill.DecodeFloat32(resp.GetProbabilities(), 1<<20)
		if err != nil || len(probs) != 30 || len(resp.GetPredictions()) != 3 || len(resp.GetPeers()) != 2 {
			t.Fatalf("query answered %v (%v)", resp, err)
		}
		for r := range 3 {
			sum := float32(0)
			for _, p := range probs[r*10 : (r+1)*10] {
				sum += p
			}
			if sum < 0.999 || sum > 1.001 {
				t.Fatalf("row %d of the ensemble sums to %v", r, sum)
			}
		}
		bad, _ := distill.EncodeFloat32([]int64{1, 783}, make([]float32, 783))
		if _, err := n.client.Query(ctx, &taonetv1.QueryRequest{Inputs: bad}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("query of the wrong shape: %v, want InvalidArgument", err)
		}
	})
	n.coord.stop(t)
	if out, err := exec.Command(filepath.Join(bin, "coordinator"), "ledger", "verify", "--home", n.home).CombinedOutput(); err != nil {
		t.Fatalf("ledger verify: %v\n%s", err, out)
	}
}
