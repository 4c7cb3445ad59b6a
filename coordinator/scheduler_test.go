package coordinator_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/receipt"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// fakeClock fires its timers only when the test says so.
type fakeClock struct {
	mu         sync.Mutex
	waiters    []chan time.Time
	registered chan struct{}
}

func newFakeClock() *fakeClock { return &fakeClock{registered: make(chan struct{}, 16)} }

func (c *fakeClock) Now() time.Time { return time.Unix(1_800_000_000, 0) }

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	c.registered <- struct{}{}
	return ch
}

// fire waits until a timer is set, then fires every timer set so far.
func (c *fakeClock) fire(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.registered:
	case <-time.After(5 * time.Second):
		tb.Fatal("no deadline was set")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.waiters {
		ch <- c.Now()
	}
	c.waiters = nil
}

// behaviour is how a scripted peer answers the evaluation.
type behaviour int

const (
	honest behaviour = iota
	honestScaled
	copier // copies alice's answer once alice has answered
	random
	slow
	broken
)

// fakePeers answers Forward for scripted peers: an honest peer reads the
// label band that testdata.TinyFashion lights up.
type fakePeers struct {
	script   map[string]behaviour
	answered atomic.Int32 // answers returned (not counting slow peers)
	alice    chan []float32
	calls    atomic.Int32
}

func (f *fakePeers) Forward(ctx context.Context, p ledger.Entry, call exchange.Call) (*exchange.Result, error) {
	f.calls.Add(1)
	b := f.script[p.Identity]
	if b == slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	defer f.answered.Add(1)
	rows := len(call.Inputs) / 784
	out := make([]float32, rows*10)
	switch b {
	case honest, honestScaled:
		for r := range rows {
			for c := range 10 {
				s := float32(0)
				for _, v := range call.Inputs[r*784+c*78 : r*784+(c+1)*78] {
					s += v
				}
				out[r*10+c] = s / 78 * 2
				if b == honestScaled {
					out[r*10+c] *= 1.5
				}
			}
		}
		if p.Identity == peerID("alice") {
			select {
			case f.alice <- out: // for a copier, if there is one
			default:
			}
		}
	case copier:
		out = <-f.alice
		// A real copier relays alice's answer over the network, so it
		// arrives after alice's; without the pause the scheduler could
		// take this goroutine's return first under load (seen in CI).
		time.Sleep(50 * time.Millisecond)
	case random:
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range out {
			out[i] = float32(rng.NormFloat64() * 5)
		}
	case broken:
		return nil, errors.New("logits: row 3 class 1: value is not finite")
	}
	return &exchange.Result{Logits: out}, nil
}

func peerID(name string) string { return "spiffe://test.local/peer/" + name }

// schedNet is a real ledger with enrolled, active peers and a scheduler
// over fakes.
type schedNet struct {
	db     *ledger.DB
	ca     *x509.Certificate // of the ledger's round signer
	clock  *fakeClock
	peers  *fakePeers
	sched  *coordinator.Scheduler
	mu     sync.Mutex
	events []*taonetv1.WatchResponse
}

// faultyStore fails Settle when failSettle is set.
type faultyStore struct {
	*ledger.DB
	failSettle atomic.Bool
}

func (f *faultyStore) Settle(ctx context.Context, n uint64, seed []byte, evals []ledger.Evaluation) (*ledger.Settlement, error) {
	if f.failSettle.Load() {
		return nil, errors.New("disk full")
	}
	return f.DB.Settle(ctx, n, seed, evals)
}

func mustSchedNet(t *testing.T, script map[string]behaviour) (*schedNet, *faultyStore) {
	t.Helper()
	db, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "taonet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ca := testdata.RoundSigner(t, db, testTD)
	for id := range script {
		name := id[len(peerID("")):]
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, address, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', '127.0.0.1:1', 0, 0)`, id, name); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO certificates (serial, identity, not_before, not_after, issued_at)
			VALUES (?, ?, 0, 1, 0)`, "cert-"+name, id); err != nil {
			t.Fatal(err)
		}
	}
	_, test, err := distill.LoadFashionMNIST(testdata.TinyFashion(t, 60, 400))
	if err != nil {
		t.Fatal(err)
	}
	pool := make([]int, test.Len())
	for i := range pool {
		pool[i] = i
	}
	n := &schedNet{db: db, ca: ca.Cert, clock: newFakeClock(), peers: &fakePeers{script: script, alice: make(chan []float32, 1)}}
	store := &faultyStore{DB: db}
	n.sched, err = coordinator.NewScheduler(coordinator.SchedulerConfig{
		Store: store, Evaluator: n.peers, Clock: n.clock, Logger: slog.New(slog.NewTextHandler(&syncBuffer{}, nil)),
		Publish: func(ev *taonetv1.WatchResponse) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.events = append(n.events, ev)
		},
		Validation: coordinator.Validation{Data: test, Pool: pool}, Shape: []int64{1, 28, 28}, Classes: 10,
		DistillTimeout: time.Minute, EvalTimeout: time.Minute, Transfer: 100, TransferBatch: 50, ValidationSamples: 200,
		Score: coordinator.DefaultScoreConfig(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, store
}

// round runs one round, firing the distillation deadline at once and the
// evaluation deadline once every peer but the slow ones has answered.
func (n *schedNet) round(t *testing.T, fast int32) (*coordinator.RoundReport, error) {
	t.Helper()
	type out struct {
		rep *coordinator.RoundReport
		err error
	}
	done := make(chan out, 1)
	n.peers.answered.Store(0)
	go func() {
		rep, err := n.sched.Tick(context.Background())
		done <- out{rep, err}
	}()
	n.clock.fire(t) // distillation ends
	deadline := time.Now().Add(5 * time.Second)
	for n.peers.answered.Load() < fast && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n.clock.fire(t) // evaluation ends: the slow peers time out
	select {
	case o := <-done:
		return o.rep, o.err
	case <-time.After(10 * time.Second):
		t.Fatal("round did not finish")
	}
	return nil, nil
}

// TestSchedulerRound plays a round against honest, copying, random, slow and
// broken peers and checks scores, payouts, events and the ledger.
func TestSchedulerRound(t *testing.T) {
	script := map[string]behaviour{
		peerID("alice"): honest, peerID("bob"): honestScaled, peerID("carol"): copier,
		peerID("dave"): random, peerID("eve"): slow, peerID("frank"): broken,
	}
	n, _ := mustSchedNet(t, script)
	rep, err := n.round(t, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ledger.EvaluationStatus{
		peerID("alice"): ledger.EvalScored, peerID("bob"): ledger.EvalScored, peerID("carol"): ledger.EvalDuplicate,
		peerID("dave"): ledger.EvalScored, peerID("eve"): ledger.EvalTimeout, peerID("frank"): ledger.EvalInvalid,
	}
	sum := 0.0
	for _, r := range rep.Results {
		if r.Status != want[r.Identity] {
			t.Errorf("%s: status %s, want %s", r.Identity, r.Status, want[r.Identity])
		}
		honestPeer := r.Identity == peerID("alice") || r.Identity == peerID("bob")
		if honestPeer != (r.Weight > 0) {
			t.Errorf("%s: weight %v (loss %v, accuracy %v)", r.Identity, r.Weight, r.Loss, r.Accuracy)
		}
		if honestPeer && r.Accuracy < 0.9 {
			t.Errorf("%s: accuracy %v of an honest peer", r.Identity, r.Accuracy)
		}
		sum += r.Weight
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Fatalf("weights sum to %v", sum)
	}
	paid := uint64(0)
	for _, p := range rep.Settlement.Payouts {
		paid += p.Rao
		if p.Account != peerID("alice") && p.Account != peerID("bob") {
			t.Errorf("%s was paid %d rao", p.Account, p.Rao)
		}
	}
	if paid != rep.Settlement.Emission || paid != 1_000_000_000 {
		t.Fatalf("paid %d of emission %d", paid, rep.Settlement.Emission)
	}
	if _, err := n.db.Verify(context.Background(), n.ca); err != nil {
		t.Fatalf("ledger verify: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.events) != 3 || n.events[0].GetRoundOpened() == nil || n.events[1].GetEvaluationStarted() == nil || n.events[2].GetRoundClosed() == nil {
		t.Fatalf("events %v, want RoundOpened, EvaluationStarted, RoundClosed", n.events)
	}
	closed := n.events[2].GetRoundClosed()
	if len(closed.GetValidationSeed()) != 32 || closed.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
		t.Fatalf("round closed %v", closed)
	}
	// RoundClosed is a receipt: it verifies against the CA and carries the
	// ledger's chain link, and any change to it is refused.
	if err := receipt.VerifyRoundClosed(n.ca, closed); err != nil {
		t.Fatalf("RoundClosed receipt: %v", err)
	}
	if r, err := n.db.GetRound(context.Background(), 1); err != nil || !bytes.Equal(r.Hash, closed.GetHash()) {
		t.Fatalf("round 1 in the ledger has hash %x, RoundClosed %x (%v)", r.Hash, closed.GetHash(), err)
	}
	mustRejectMutants(t, closed, func(m proto.Message) error { return receipt.VerifyRoundClosed(n.ca, m.(*taonetv1.RoundClosed)) })
	if len(n.sched.Current()) != 0 {
		t.Fatal("a closed round is still current")
	}
}

// TestSchedulerFaults: a failed settlement aborts the round and pays
// nothing; a tick during a round is skipped; the next round settles.
func TestSchedulerFaults(t *testing.T) {
	n, store := mustSchedNet(t, map[string]behaviour{peerID("alice"): honest, peerID("bob"): honestScaled})
	t.Run("ErrSettleFails", func(t *testing.T) {
		store.failSettle.Store(true)
		defer store.failSettle.Store(false)
		if _, err := n.round(t, 2); err == nil {
			t.Fatal("round settled although the store failed")
		}
		r, err := n.db.GetRound(context.Background(), 1)
		if err != nil || r.State != ledger.RoundAborted || len(r.Evaluations) != 0 {
			t.Fatalf("round 1 = %+v, %v; want aborted with nothing paid", r, err)
		}
	})
	t.Run("ErrTickDuringRound", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { _, err := n.sched.Tick(context.Background()); done <- err }()
		<-n.clock.registered // the round is distilling
		if got := n.sched.Current(); len(got) != 1 || got[0].GetRoundOpened().GetRound() != 2 {
			t.Fatalf("current = %v, want round 2 opened", got)
		}
		if _, err := n.sched.Tick(context.Background()); err == nil {
			t.Fatal("a second round started while one was running")
		}
		n.clock.registered <- struct{}{} // give fire its signal back
		n.peers.answered.Store(0)
		n.clock.fire(t)
		for n.peers.answered.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		n.clock.fire(t)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKNextRound", func(t *testing.T) {
		rep, err := n.round(t, 2)
		if err != nil || rep.Round != 3 {
			t.Fatalf("round = %v, %v", rep, err)
		}
		if _, err := n.db.Verify(context.Background(), n.ca); err != nil {
			t.Fatal(err)
		}
	})
}
