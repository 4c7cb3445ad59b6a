package e2e_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// open returns the round that is open now, if any.
func open(rs []*taonetv1.Round) *taonetv1.Round {
	for _, r := range rs {
		if r.GetState() == taonetv1.RoundState_ROUND_STATE_OPEN {
			return r
		}
	}
	return nil
}

func statusOf(r *taonetv1.Round, name string) taonetv1.EvaluationStatus {
	if e := evaluation(r, name); e != nil {
		return e.GetStatus()
	}
	return taonetv1.EvaluationStatus_EVALUATION_STATUS_UNSPECIFIED
}

// TestPeerKilledMidRound kills a peer with SIGKILL while a round distills:
// the round still closes by its deadlines, the dead peer scores zero and
// the others are paid; restarted from its home without a token, the peer
// scores again in a later round.
func TestPeerKilledMidRound(t *testing.T) {
	n := mustNet(t)
	n.join(t, "alice", "mlp", "0/2")
	bob := n.join(t, "bob", "mlp", "1/2")
	scored := taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED
	n.waitRounds(t, 60*time.Second, "a round with both peers scored", func(rs []*taonetv1.Round) bool {
		for _, r := range rs {
			if statusOf(r, "alice") == scored && statusOf(r, "bob") == scored {
				return true
			}
		}
		return false
	})
	var killed uint64
	n.waitRounds(t, 20*time.Second, "a round opens", func(rs []*taonetv1.Round) bool {
		if r := open(rs); r != nil {
			killed = r.GetNumber()
			return true
		}
		return false
	})
	bob.kill(t)
	rs := n.waitRounds(t, 20*time.Second, "the round of the kill settles", func(rs []*taonetv1.Round) bool {
		for _, r := range rs {
			if r.GetNumber() == killed && r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED {
				return true
			}
		}
		return false
	})
	r := rs[killed-rs[0].GetNumber()]
	if b := evaluation(r, "bob"); b == nil || b.GetStatus() == scored || b.GetPayoutRao() != 0 {
		t.Fatalf("round %d: dead bob = %v, want no score and no pay", killed, b)
	}
	if a := evaluation(r, "alice"); a.GetPayoutRao() != r.GetEmissionRao() {
		t.Fatalf("round %d: alice paid %d of %d", killed, a.GetPayoutRao(), r.GetEmissionRao())
	}
	n.join(t, "bob", "mlp", "1/2") // no token: the stored certificate
	rs = n.waitRounds(t, 40*time.Second, "bob scores again", func(rs []*taonetv1.Round) bool {
		last := rs[len(rs)-1]
		return last.GetNumber() > killed && statusOf(last, "bob") == scored
	})
	t.Logf("rounds:%s", summary(rs))
}

// TestCoordinatorKilledMidRound kills the coordinator with SIGKILL while a
// round is open: on restart that round is aborted and pays nothing, the
// schedule resumes, the peers come back by themselves, and the ledger's
// invariants hold.
func TestCoordinatorKilledMidRound(t *testing.T) {
	n := mustNet(t)
	n.join(t, "alice", "mlp", "0/2")
	n.join(t, "bob", "cnn", "1/2")
	var killed uint64
	n.waitRounds(t, 60*time.Second, "a round opens after one settled", func(rs []*taonetv1.Round) bool {
		if r := open(rs); r != nil && settled(rs) >= 1 {
			killed = r.GetNumber()
			return true
		}
		return false
	})
	n.coord.kill(t)
	n.startCoordinator(t, n.addr)
	rs := n.waitRounds(t, 60*time.Second, "a round after the crash settles with both peers", func(rs []*taonetv1.Round) bool {
		last := rs[len(rs)-1]
		return last.GetNumber() > killed && last.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED &&
			evaluation(last, "alice") != nil && evaluation(last, "bob") != nil
	})
	t.Logf("rounds:%s", summary(rs))
	r := rs[killed-rs[0].GetNumber()]
	if r.GetState() != taonetv1.RoundState_ROUND_STATE_ABORTED || len(r.GetEvaluations()) != 0 || r.GetEmissionRao() != 0 {
		t.Fatalf("round %d of the crash: %v, want aborted with nothing paid", killed, r)
	}
	n.coord.stop(t)
	out, err := exec.Command(filepath.Join(bin, "coordinator"), "ledger", "verify", "--home", n.home).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("ledger verify: %v\n%s", err, out)
	}
}

// TestHomeMistakes: a second coordinator or peer on a home in use stops
// with a clear error (the first keeps running), and a token for another
// name on an enrolled home is refused instead of running as the home's
// identity.
func TestHomeMistakes(t *testing.T) {
	n := mustNet(t)
	alice := n.join(t, "alice", "mlp", "0/2")
	alice.grep(t, `serving on`, 30*time.Second)
	fails := func(t *testing.T, want string, name string, args ...string) {
		t.Helper()
		// A command that wrongly starts is killed after 20s, and fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(bin, name), args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("%s %v: %v\n%s\nwant a failure saying %q", name, args, err, out, want)
		}
	}
	t.Run("ErrSecondCoordinator", func(t *testing.T) {
		fails(t, "in use by another process", "coordinator", append(n.serveArgs, "--listen", "127.0.0.1:0")...)
	})
	t.Run("ErrSecondPeer", func(t *testing.T) {
		fails(t, "in use by another process", "peer", "join", "--coordinator", n.addr, "--home", filepath.Join(n.dir, "alice"),
			"--listen", "127.0.0.1:0", "--data", n.data, "--shard", "0/2")
	})
	t.Run("ErrTokenForEnrolledHome", func(t *testing.T) {
		m := tokenRE.FindStringSubmatch(run(t, "coordinator", "token", "create", "--home", n.home, "--name", "mia"))
		alice.stop(t)
		fails(t, "already holds a certificate", "peer", "join", "--coordinator", n.addr, "--home", filepath.Join(n.dir, "alice"),
			"--listen", "127.0.0.1:0", "--data", n.data, "--shard", "0/2", "--token", m[1], "--ca-pin", m[2])
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.client.ListPeers(ctx, &taonetv1.ListPeersRequest{}); err != nil {
		t.Fatalf("the first coordinator stopped answering: %v", err)
	}
}
