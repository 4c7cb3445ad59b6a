package peer_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// The adversaries of TestAdversaries, each a real peer scripted against
// the real protocol.
const (
	randomID   = "spiffe://test.local/peer/random"   // random logits
	copierID   = "spiffe://test.local/peer/copier"   // relays alice's answers
	twoFacedID = "spiffe://test.local/peer/twofaced" // good to the coordinator, poison to peers
	flipperID  = "spiffe://test.local/peer/flipper"  // uniform logits, huge sign-flipped gradients
)

// Settings of the adversary networks: short scheduled rounds on tiny data.
const (
	advRounds     = 5 // rounds measured, with both honest peers scored
	advRoundEvery = 3500 * time.Millisecond
	// advDistill is the distillation phase: teachers have half of it to
	// answer, which must hold for six peers on two cores under the race
	// detector beside other test packages (1.2s did not).
	advDistill = 2000 * time.Millisecond
	advLR      = 1e-3 // the honest peers' Adam learning rate (peer default)
	// advTolerance is how much worse the honest peers' mean validation
	// loss may be with the adversaries than without. Rounds draw random
	// seeds and validation samples, so runs spread: without adversaries
	// 0.29-0.66 in nine runs, with them serving 0.15-0.56 (and under the
	// gradient attack 1.64-1.73).
	advTolerance = 0.35
)

// TestAdversaries runs the same network of two honest peers three times
// under a real coordinator with scheduled rounds: alone; with four
// adversaries that only serve (random logits, a copier, a two-faced peer,
// uniform logits); and with the last of them also sending huge
// sign-flipped gradients. Each adversary earns (close to) nothing it does
// not deserve, and the honest peers' validation loss is not materially
// worse.
func TestAdversaries(t *testing.T) {
	data := testdata.TinyFashion(t, 1200, 600)
	janus := mustTwoFacedModel(t, data)
	start := time.Now()
	base := runAdversaryNet(t, data, advSetup{})
	served := runAdversaryNet(t, data, advSetup{janus: janus})
	attacked := runAdversaryNet(t, data, advSetup{janus: janus, attack: true})
	t.Logf("three networks ran in %v", time.Since(start).Round(time.Millisecond))
	t.Logf("honest mean validation loss over %d rounds (alice/bob per round):", advRounds)
	for _, r := range []struct {
		name string
		run  *advRun
	}{{"without adversaries", base}, {"with adversaries serving", served}, {"with the gradient attack too", attacked}} {
		t.Logf("  %-29s %.4f %v", r.name, r.run.honestLoss, r.run.perRound)
	}
	for _, run := range []*advRun{base, served, attacked} {
		mustPayEmission(t, run.all)
	}
	for _, run := range []*advRun{served, attacked} {
		t.Logf("paid over the %d measured rounds of %d rao each: %v", len(run.rounds), run.rounds[0].GetEmissionRao(), run.payouts())
	}
	if !(base.honestLoss < math.Log(10)/2) {
		t.Fatalf("honest loss %.4f without adversaries: the honest peers learned too little for the comparison to mean anything", base.honestLoss)
	}
	t.Run("OKHonestNotDraggedDown", func(t *testing.T) {
		if served.honestLoss > base.honestLoss+advTolerance {
			logReports(t, served)
			t.Fatalf("honest mean loss %.4f with the adversaries, %.4f without: worse by more than %.2f", served.honestLoss, base.honestLoss, advTolerance)
		}
	})
	t.Run("OKHonestNotDraggedDownByGradients", func(t *testing.T) {
		if attacked.honestLoss > base.honestLoss+advTolerance {
			logReports(t, attacked)
			t.Fatalf("honest mean loss %.4f under clipped sign-flipped gradients, %.4f without adversaries: worse by more than %.2f", attacked.honestLoss, base.honestLoss, advTolerance)
		}
	})
	t.Run("Served", func(t *testing.T) { mustEarnNothing(t, served) })
	t.Run("Attacked", func(t *testing.T) { mustEarnNothing(t, attacked) })
	t.Run("OKFlippedGradientsClipped", func(t *testing.T) {
		applied := map[string]int{}
		for _, a := range attacked.attacks {
			t.Logf("round %d: flipper -> %s: %v, max parameter change %.2e (L2 %.2e), err %v", a.round, filepath.Base(a.target), a.sum, a.maxDelta, a.normDelta, a.err)
			if a.err != nil {
				continue
			}
			if a.sum.GetAccepted() != uint32(a.batches) || a.sum.GetClipped() != a.sum.GetAccepted() || !(a.sum.GetMeanGradNorm() > 1) {
				t.Fatalf("round %d: %s summarised the attack as %v, want all %d batches accepted and clipped", a.round, a.target, a.sum, a.batches)
			}
			// One Adam step moves each parameter by at most about
			// lr*(1-beta1)/sqrt((1-beta2)(1-beta1^2/beta2)) ~ 7.3 lr,
			// whatever the gradient's size, once it is finite: unclipped,
			// 1e30 would overflow float32 and leave NaN.
			if !(a.maxDelta > 0) || a.maxDelta > 10*advLR || !a.finite {
				t.Fatalf("round %d: the attack moved %s's parameters by up to %v (finite %v), want a bounded step", a.round, a.target, a.maxDelta, a.finite)
			}
			applied[a.target]++
		}
		for _, id := range []string{aliceID, bobID} {
			if applied[id] < advRounds-1 {
				t.Fatalf("%s took %d attacking Backward streams, want at least %d", id, applied[id], advRounds-1)
			}
		}
	})
}

// mustEarnNothing checks what each adversary of run earned and what the
// honest students made of it.
func mustEarnNothing(t *testing.T, run *advRun) {
	t.Helper()
	t.Run("OKRandomLogitsEarnNothing", func(t *testing.T) {
		for _, r := range run.rounds {
			// A loaded machine may time its answer out: that earns nothing
			// too. Scored, its loss must be no better than guessing.
			e := evaluationOf(r, randomID)
			timedOut := e.GetStatus() == taonetv1.EvaluationStatus_EVALUATION_STATUS_TIMEOUT
			if e == nil || !(timedOut || e.GetStatus() == taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED && e.GetLoss() >= math.Log(10)) ||
				e.GetWeight() != 0 || e.GetPayoutRao() != 0 {
				t.Fatalf("round %d: random logits evaluated %v, want scored at a loss >= ln 10 (or timed out), weight 0, nothing paid", r.GetNumber(), e)
			}
		}
	})
	t.Run("OKCopierScoresNothing", func(t *testing.T) {
		for _, r := range run.rounds {
			e := evaluationOf(r, copierID)
			if e == nil || e.GetPayoutRao() != 0 || e.GetWeight() != 0 ||
				(e.GetStatus() != taonetv1.EvaluationStatus_EVALUATION_STATUS_INVALID && e.GetStatus() != taonetv1.EvaluationStatus_EVALUATION_STATUS_TIMEOUT) {
				t.Fatalf("round %d: copier evaluated %v, want invalid or timeout and nothing paid", r.GetNumber(), e)
			}
		}
	})
	t.Run("OKUniformEarnsNothing", func(t *testing.T) {
		// Zero logits score ln 10 up to rounding, which may leave a weight
		// of about 1e-29 and so one share: a few rao at most.
		for _, r := range run.rounds {
			if e := evaluationOf(r, flipperID); e == nil || e.GetPayoutRao() > r.GetEmissionRao()/1_000_000 {
				t.Fatalf("round %d: uniform logits evaluated %v, want (close to) nothing paid", r.GetNumber(), e)
			}
		}
	})
	t.Run("OKTwoFacedDroppedByStudents", func(t *testing.T) {
		// To the coordinator the two-faced peer serves a model trained on
		// the whole private pool, and it is paid for it: what it earns is
		// logged, not bounded. Its students must not learn its poison.
		checked, dropped := 0, 0
		for _, r := range run.rounds {
			e := evaluationOf(r, twoFacedID)
			if e.GetStatus() != taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED || !(e.GetLoss() < math.Log(10)) {
				t.Fatalf("round %d: two-faced peer evaluated %v, want its good model scored", r.GetNumber(), e)
			}
			t.Logf("round %d: two-faced peer loss %.3f accuracy %.3f weight %.3f paid %d rao", r.GetNumber(), e.GetLoss(), e.GetAccuracy(), e.GetWeight(), e.GetPayoutRao())
			for _, id := range []string{aliceID, bobID} {
				rep, ok := run.reports[id][r.GetNumber()]
				if !ok {
					continue
				}
				checked++
				if slices.Contains(rep.Teachers, twoFacedID) {
					t.Fatalf("round %d: %s distilled from the two-faced peer: teachers %v, dropped %v, hidden losses %v",
						r.GetNumber(), id, rep.Teachers, rep.Dropped, rep.HiddenLoss)
				}
				if slices.Contains(rep.Unanswered, twoFacedID) {
					continue // its answer missed the student's deadline: nothing to drop
				}
				if !slices.Contains(rep.Dropped, twoFacedID) {
					t.Fatalf("round %d: %s got the two-faced peer's answer and neither used nor dropped it: %+v", r.GetNumber(), id, rep)
				}
				dropped++
				if l := rep.HiddenLoss[twoFacedID]; !(l > 5) {
					t.Fatalf("round %d: %s measured the two-faced peer's poison at %v on its hidden checks, want far above ln 10", r.GetNumber(), id, l)
				}
			}
		}
		if checked < advRounds {
			t.Fatalf("only %d student reports of the %d measured rounds were seen", checked, len(run.rounds))
		}
		// On a loaded machine some answers miss the deadline; the check
		// must still have caught the poison in a good share of rounds.
		if dropped < advRounds/2 {
			t.Fatalf("the two-faced peer's answer reached a student and was dropped in only %d of %d student rounds", dropped, checked)
		}
		t.Logf("two-faced peer dropped in %d of %d student rounds (the rest: its answer came too late)", dropped, checked)
	})
}

// logReports logs what the students did and how everyone scored in each
// measured round of run.
func logReports(t *testing.T, run *advRun) {
	t.Helper()
	short := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = filepath.Base(id)
		}
		return out
	}
	for _, r := range run.rounds {
		line := fmt.Sprintf("round %d:", r.GetNumber())
		for _, e := range r.GetEvaluations() {
			line += fmt.Sprintf(" %s %s %.3f w %.3g;", filepath.Base(e.GetIdentity()), e.GetStatus().String()[len("EVALUATION_STATUS_"):], e.GetLoss(), e.GetWeight())
		}
		t.Log(line)
		for _, id := range []string{aliceID, bobID} {
			rep := run.reports[id][r.GetNumber()]
			t.Logf("  %s: teachers %v dropped %v unweighted %v unanswered %v", filepath.Base(id), short(rep.Teachers), short(rep.Dropped), short(rep.Unweighted), short(rep.Unanswered))
		}
	}
}

// advRun is what one network did.
type advRun struct {
	all      []*taonetv1.Round // every round, oldest first
	rounds   []*taonetv1.Round // the first advRounds settled ones with both honest peers scored
	perRound []string
	// honestLoss is the mean validation loss of alice and bob over rounds.
	honestLoss float64
	reports    map[string]map[uint64]peer.RoundReport // by student, then round
	attacks    []attack
}

// payouts sums each identity's payouts over the measured rounds.
func (r *advRun) payouts() map[string]uint64 {
	out := map[string]uint64{}
	for _, round := range r.rounds {
		for _, e := range round.GetEvaluations() {
			out[filepath.Base(e.GetIdentity())] += e.GetPayoutRao()
		}
	}
	return out
}

// honest is the configuration of alice and bob.
func honest(shard string) func(*peer.Config) {
	return func(c *peer.Config) {
		c.Model, c.Shard, c.Alpha, c.Seed = "mlp", shard, 0.1, 7
		c.LocalSteps, c.Batch, c.WarmupEpochs, c.Threads, c.LR = 15, 32, 1, 1, advLR
		c.Gradients.Accept = true // so that the gradient attack can land
	}
}

// advSetup says who joins alice and bob.
type advSetup struct {
	// janus, when set, is the two-faced peer's coordinator-facing model,
	// and the four adversaries join.
	janus *peer.TorchModel
	// attack has the flipper send its gradients.
	attack bool
}

// runAdversaryNet runs a coordinator with scheduled rounds, alice and bob,
// and the adversaries of setup, until advRounds rounds have scored both
// honest peers. Everything is stopped before it returns.
func runAdversaryNet(t *testing.T, data string, setup advSetup) *advRun {
	t.Helper()
	n := mustCoordinatorWith(t, 0, data, func(c *coordinator.Config) {
		c.RoundEvery, c.DistillTimeout, c.EvalTimeout = advRoundEvery, advDistill, 1200*time.Millisecond
		c.Transfer, c.TransferBatch = 200, 100
		c.Validation, c.ValidationSamples = data, 250
	})
	dir := t.TempDir()
	alice := n.mustPeerWith(t, filepath.Join(dir, "alice"), n.token(t, "alice"), honest("0/2"))
	bob := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), honest("1/2"))
	peers := []*running{alice, bob}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopAttack := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stopAttack() // also when the test fails on the way
	run := &advRun{reports: map[string]map[uint64]peer.RoundReport{}}
	var attacksMu sync.Mutex
	if setup.janus != nil {
		adversary := func(name string, m peer.Model) *running {
			return n.mustPeerWith(t, filepath.Join(dir, name), n.token(t, name), func(c *peer.Config) {
				c.ServeModel = m
				c.Gradients.Accept = false
			})
		}
		relay := &copierModel{}
		copier := adversary("copier", relay)
		flipper := adversary("flipper", uniformModel{})
		peers = append(peers, copier, flipper,
			adversary("random", &randomModel{rng: rand.New(rand.NewPCG(3, 4))}),
			adversary("twofaced", &twoFacedModel{TorchModel: setup.janus}))
		mustSeeAll(t, peers...)
		info, _ := copier.find(aliceID)
		relay.target(peerClient(t, copier.Dialer(), aliceID, info.GetAddress()))
		if setup.attack {
			f := mustFlipper(t, n, data, flipper, alice, bob)
			wg.Go(func() {
				f.run(ctx, func(a attack) {
					attacksMu.Lock()
					defer attacksMu.Unlock()
					run.attacks = append(run.attacks, a)
				})
			})
		}
	} else {
		mustSeeAll(t, peers...)
	}
	// Keep every round report of the students (a round distills for 2s, one
	// opens every 3.5s: polling every 10ms sees each).
	var repMu sync.Mutex
	wg.Go(func() {
		for ctx.Err() == nil {
			for _, p := range []*running{alice, bob} {
				if rep, ok := p.LastRound(); ok {
					repMu.Lock()
					if run.reports[p.ID().String()] == nil {
						run.reports[p.ID().String()] = map[uint64]peer.RoundReport{}
					}
					run.reports[p.ID().String()][rep.Round] = rep
					repMu.Unlock()
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	client := coordinatorClient(t, n, alice)
	waitFor(t, time.Duration(advRounds+6)*advRoundEvery, fmt.Sprintf("%d rounds scoring both honest peers", advRounds), func() bool {
		run.all = listRounds(t, client)
		run.rounds = run.rounds[:0]
		for _, r := range run.all {
			if r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED && scored(r, aliceID) && scored(r, bobID) && len(run.rounds) < advRounds {
				run.rounds = append(run.rounds, r)
			}
		}
		return len(run.rounds) == advRounds
	})
	stopAttack()
	for _, p := range slices.Backward(peers) {
		if err := p.stop(); err != nil {
			t.Errorf("%s: %v", p.ID(), err)
		}
	}
	n.stop()
	sum := 0.0
	for _, r := range run.rounds {
		a, b := evaluationOf(r, aliceID).GetLoss(), evaluationOf(r, bobID).GetLoss()
		sum += a + b
		run.perRound = append(run.perRound, fmt.Sprintf("r%d:%.3f/%.3f", r.GetNumber(), a, b))
	}
	run.honestLoss = sum / float64(2*len(run.rounds))
	return run
}

// mustPayEmission checks that every settled round paid exactly its
// emission.
func mustPayEmission(t *testing.T, rounds []*taonetv1.Round) {
	t.Helper()
	for _, r := range rounds {
		if r.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
			continue
		}
		paid := uint64(0)
		for _, e := range r.GetEvaluations() {
			paid += e.GetPayoutRao()
		}
		if paid != r.GetEmissionRao() || paid == 0 {
			t.Errorf("round %d paid %d rao of its emission of %d", r.GetNumber(), paid, r.GetEmissionRao())
		}
	}
}

func evaluationOf(r *taonetv1.Round, id string) *taonetv1.Evaluation {
	for _, e := range r.GetEvaluations() {
		if e.GetIdentity() == id {
			return e
		}
	}
	return nil
}

func scored(r *taonetv1.Round, id string) bool {
	return evaluationOf(r, id).GetStatus() == taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED
}

// coordinatorClient is a Coordinator client with p's own certificate.
func coordinatorClient(t *testing.T, n *network, p *running) taonetv1.CoordinatorClient {
	t.Helper()
	ca, err := certs.ParseCert(mustRead(t, filepath.Join(p.home, peer.CAFile)))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	conf := certs.MTLSClientConfig(p.Certificate(), pool, certs.AuthorizeID(certs.CoordinatorID(testTD)))
	conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return taonetv1.NewCoordinatorClient(conn)
}

// listRounds is every round, oldest first.
func listRounds(t *testing.T, c taonetv1.CoordinatorClient) []*taonetv1.Round {
	t.Helper()
	var all []*taonetv1.Round
	token := ""
	for {
		resp, err := c.ListRounds(tctx(t), &taonetv1.ListRoundsRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, resp.GetRounds()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	slices.Reverse(all)
	return all
}

// card is the model card of the adversaries' scripted models: they claim
// an architecture the task knows, as the coordinator refuses any other.
func card() *taonetv1.ModelCard {
	return &taonetv1.ModelCard{Task: "fmnist", Architecture: "mlp", InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu"}
}

// randomModel answers random logits (normal, standard deviation 2).
type randomModel struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (m *randomModel) Card() *taonetv1.ModelCard     { return card() }
func (m *randomModel) Apply(x, grad []float32) error { return nil }

func (m *randomModel) Forward(x []float32) ([]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]float32, len(x)/784*10)
	for i := range out {
		out[i] = float32(2 * m.rng.NormFloat64())
	}
	return out, nil
}

// uniformModel answers zero logits: uniform guessing.
type uniformModel struct{}

func (uniformModel) Card() *taonetv1.ModelCard     { return card() }
func (uniformModel) Apply(x, grad []float32) error { return nil }
func (uniformModel) Forward(x []float32) ([]float32, error) {
	return make([]float32, len(x)/784*10), nil
}

// copierModel relays every input to alice's Forward with the copier's own
// identity and answers what alice answered.
type copierModel struct {
	mu     sync.Mutex
	client taonetv1.PeerClient
}

func (m *copierModel) target(c taonetv1.PeerClient) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.client = c
}

func (m *copierModel) Card() *taonetv1.ModelCard     { return card() }
func (m *copierModel) Apply(x, grad []float32) error { return nil }

func (m *copierModel) Forward(x []float32) ([]float32, error) {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("copier: nobody to copy yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows := len(x) / 784
	res, err := exchange.Forward(ctx, c, exchange.Call{Inputs: x, Shape: []int64{1, 28, 28}, Classes: 10, Batch: rows,
		FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 64 << 20})
	if err != nil {
		return nil, fmt.Errorf("copier: %w", err)
	}
	return res.Logits, nil
}

// twoFacedModel answers the coordinator from a good model and every peer
// with poison (a confident wrong class).
type twoFacedModel struct {
	*peer.TorchModel
	poison poisoner
}

var _ peer.CallerModel = (*twoFacedModel)(nil)

func (m *twoFacedModel) ForwardFor(caller certs.ID, x []float32) ([]float32, error) {
	if caller.Role == certs.RoleCoordinator {
		return m.TorchModel.Forward(x)
	}
	return m.poison.Forward(x)
}

// Apply keeps the coordinator-facing model as trained.
func (m *twoFacedModel) Apply(x, grad []float32) error { return nil }

// mustTwoFacedModel trains an mlp on the whole private pool of data.
func mustTwoFacedModel(t *testing.T, data string) *peer.TorchModel {
	t.Helper()
	pools := mustPools(t, data)
	if err := torch.Open(); err != nil {
		t.Fatal(err)
	}
	if err := torch.SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	m, err := torch.NewModel(torch.ArchMLP, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.SetOptimizer(torch.Optimizer{Kind: torch.OptAdam, LR: 1e-3}); err != nil {
		t.Fatal(err)
	}
	if _, err := torch.Fit(context.Background(), m, pools.Train, pools.Private, torch.FitConfig{Epochs: 2, Batch: 64, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	tm, err := peer.NewTorchModel(m, "fmnist", []int64{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mustPools(t *testing.T, data string) *distill.Pools {
	t.Helper()
	train, test, err := distill.LoadFashionMNIST(data)
	if err != nil {
		t.Fatal(err)
	}
	pools, err := distill.SplitPools(train, test)
	if err != nil {
		t.Fatal(err)
	}
	return pools
}

// attack is one Backward stream of the gradient attacker.
type attack struct {
	round   uint64
	target  string
	batches int
	sum     *taonetv1.BackwardSummary
	err     error
	// maxDelta and normDelta are the largest and the L2 change of the
	// target's parameters across the stream; finite that none is NaN or
	// infinite afterwards.
	maxDelta, normDelta float64
	finite              bool
}

// flipper is the gradient attacker: each round it asks the honest peers'
// Forward about labelled rows of its own, then sends Backward gradients of
// 1e30 times the negative of the cross-entropy gradient (so that a step
// on them raises the honest model's loss on true labels).
type flipper struct {
	coord   taonetv1.CoordinatorClient
	victims []*running
	clients []taonetv1.PeerClient
	x       []float32
	labels  []int64
}

func mustFlipper(t *testing.T, n *network, data string, self *running, victims ...*running) *flipper {
	t.Helper()
	pools := mustPools(t, data)
	rows := pools.Private[:200]
	f := &flipper{coord: coordinatorClient(t, n, self), victims: victims,
		x: make([]float32, len(rows)*784), labels: make([]int64, len(rows))}
	pools.Train.Fill(rows, f.x, f.labels)
	for _, v := range victims {
		info, ok := self.find(v.ID().String())
		if !ok {
			t.Fatalf("the attacker does not see %s", v.ID())
		}
		f.clients = append(f.clients, peerClient(t, self.Dialer(), info.GetIdentity(), info.GetAddress()))
	}
	return f
}

// run attacks every round it sees open until ctx ends and reports each
// Backward stream.
func (f *flipper) run(ctx context.Context, report func(attack)) {
	var last uint64
	for ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		resp, err := f.coord.GetRound(ctx, &taonetv1.GetRoundRequest{})
		r := resp.GetRound()
		if err != nil || r.GetState() != taonetv1.RoundState_ROUND_STATE_OPEN || r.GetNumber() <= last {
			continue
		}
		last = r.GetNumber()
		f.attack(ctx, last, report)
	}
}

// attack is one round's attack on every victim.
func (f *flipper) attack(ctx context.Context, round uint64, report func(attack)) {
	opened := time.Now()
	const batch = 100
	grads := make([][]exchange.Gradient, len(f.victims))
	for i, c := range f.clients {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := exchange.Forward(fctx, c, exchange.Call{Round: round, Inputs: f.x, Shape: []int64{1, 28, 28}, Classes: 10,
			Batch: batch, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 64 << 20})
		cancel()
		if err != nil {
			report(attack{round: round, target: f.victims[i].ID().String(), err: fmt.Errorf("forward: %w", err)})
			continue
		}
		grads[i] = flippedGradients(res.Logits, f.labels, batch)
	}
	// The attack itself needs no waiting; the test waits until both
	// students are done with the round (their own training and mutual
	// gradients), so that nothing but the attack moves the parameters it
	// measures. The round's records last until the next round opens.
	for ctx.Err() == nil && time.Since(opened) < advDistill+600*time.Millisecond {
		done := true
		for _, v := range f.victims {
			if rep, ok := v.LastRound(); !ok || rep.Round < round {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, v := range f.victims {
		if grads[i] == nil {
			continue
		}
		a := attack{round: round, target: v.ID().String(), batches: len(grads[i])}
		if rep, ok := v.LastRound(); !ok || rep.Round < round || time.Since(opened) > advDistill+800*time.Millisecond {
			a.err = fmt.Errorf("the victim had not finished round %d in time", round)
			report(a)
			continue
		}
		before, err := v.Model().(*peer.TorchModel).Engine().Params()
		if err != nil {
			a.err = err
			report(a)
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, time.Second)
		a.sum, a.err = exchange.Backward(bctx, f.clients[i], round, 10, 1<<20, grads[i])
		cancel()
		after, err := v.Model().(*peer.TorchModel).Engine().Params()
		if err != nil && a.err == nil {
			a.err = err
		}
		a.finite = len(after) == len(before)
		ss := 0.0
		for j := range min(len(before), len(after)) {
			d := math.Abs(float64(after[j] - before[j]))
			if math.IsNaN(d) || math.IsInf(d, 0) {
				a.finite = false
			}
			a.maxDelta = max(a.maxDelta, d)
			ss += d * d
		}
		a.normDelta = math.Sqrt(ss)
		report(a)
	}
}

// flippedGradients is -1e30 * (softmax(logits) - onehot(labels)) per
// batch of batch rows: the cross-entropy gradient with its sign flipped,
// as large as float32 comfortably holds.
func flippedGradients(logits []float32, labels []int64, batch int) []exchange.Gradient {
	p, _ := distill.Softmax(distill.Logits{Classes: 10, Values: logits}, 1)
	g := make([]float32, len(p))
	for r, y := range labels {
		for c := range 10 {
			v := p[r*10+c]
			if int64(c) == y {
				v--
			}
			g[r*10+c] = float32(-1e30 * v)
		}
	}
	var out []exchange.Gradient
	for lo, id := 0, uint64(1); lo < len(labels); lo, id = lo+batch, id+1 {
		hi := min(lo+batch, len(labels))
		out = append(out, exchange.Gradient{Batch: id, Rows: hi - lo, Values: g[lo*10 : hi*10]})
	}
	return out
}
