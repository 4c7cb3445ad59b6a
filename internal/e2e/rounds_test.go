package e2e_test

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
	last := rs[len(rs)-1]
	for i := len(rs) - 1; !all(last) || last.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED; i-- {
		last = rs[i-1]
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		a, b := evaluation(first, name), evaluation(last, name)
		t.Logf("%s: round %d loss %.3f accuracy %.3f -> round %d loss %.3f accuracy %.3f", name,
			first.GetNumber(), a.GetLoss(), a.GetAccuracy(), last.GetNumber(), b.GetLoss(), b.GetAccuracy())
		if b.GetLoss() >= a.GetLoss() {
			t.Errorf("%s: validation loss did not fall: %.3f in round %d, %.3f in round %d", name, a.GetLoss(), first.GetNumber(), b.GetLoss(), last.GetNumber())
		}
	}
	n.coord.stop(t)
	if out, err := exec.Command(filepath.Join(bin, "coordinator"), "ledger", "verify", "--home", n.home).CombinedOutput(); err != nil {
		t.Fatalf("ledger verify: %v\n%s", err, out)
	}
}
