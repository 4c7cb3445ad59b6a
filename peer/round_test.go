package peer_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

const (
	carolID   = "spiffe://test.local/peer/carol"
	malloryID = "spiffe://test.local/peer/mallory"
)

// roundWindow is the distill window of the rounds that must run through.
const roundWindow = 20 * time.Second

// fastRounds keeps rounds short in tests.
func fastRounds(c *peer.Config) { c.LocalSteps = 10 }

// roundEvent is round r among dir: 40 transfer rows in batches of 16, and a
// distill deadline window from now. A round ends when its steps are done,
// so a wide window costs nothing on a quiet machine and keeps a loaded one
// from cutting training short.
func roundEvent(r uint64, dir []*taonetv1.PeerInfo, window time.Duration) *taonetv1.RoundOpened {
	return &taonetv1.RoundOpened{Round: r, Seed: 100 + r, Directory: dir,
		Transfer:        &taonetv1.TransferSpec{Pool: "fmnist-transfer", Samples: 40, BatchSize: 16},
		DistillDeadline: timestamppb.New(time.Now().Add(window))}
}

// openRounds opens round ev on every teacher first (as the coordinator's
// broadcast does, so each keeps the round's Forward records), then hands
// ev to each student.
func openRounds(ev *taonetv1.RoundOpened, teachers, students []*running) {
	for _, p := range teachers {
		peer.OpenRound(p.Peer, ev.GetRound())
	}
	for _, p := range students {
		peer.DeliverRound(p.Peer, ev)
	}
}

// waitRound waits for p's report of round r.
func waitRound(t *testing.T, p *running, r uint64) peer.RoundReport {
	t.Helper()
	var rep peer.RoundReport
	waitFor(t, roundWindow, "round report", func() bool {
		var ok bool
		rep, ok = p.LastRound()
		return ok && rep.Round == r
	})
	return rep
}

// engineParams is a copy of p's libtorch parameters.
func engineParams(t *testing.T, p *running) []float32 {
	t.Helper()
	w, err := p.Model().(*peer.TorchModel).Engine().Params()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustSeeAll waits until every peer's directory lists all of them.
func mustSeeAll(t *testing.T, peers ...*running) []*taonetv1.PeerInfo {
	t.Helper()
	waitFor(t, 5*time.Second, "peers see each other", func() bool {
		for _, p := range peers {
			if len(p.Directory()) != len(peers) {
				return false
			}
		}
		return true
	})
	return peers[0].Directory()
}

// TestRound runs a round among three real peers, each a student of the
// other two; carol has incoming gradients turned off.
func TestRound(t *testing.T) {
	n := mustCoordinator(t, 0)
	dir := t.TempDir()
	alice := n.mustPeerWith(t, filepath.Join(dir, "alice"), n.token(t, "alice"), fastRounds)
	bob := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), fastRounds)
	carol := n.mustPeerWith(t, filepath.Join(dir, "carol"), n.token(t, "carol"), func(c *peer.Config) {
		fastRounds(c)
		c.Gradients.Accept = false
	})
	all := []*running{alice, bob, carol}
	directory := mustSeeAll(t, all...)

	t.Run("OKEveryoneDistills", func(t *testing.T) {
		ckpt := map[*running][]byte{}
		params := map[*running][]float32{}
		for _, p := range all {
			// The warmup saved a first checkpoint.
			ckpt[p] = mustRead(t, peer.CheckpointPath(p.home, "mlp"))
			params[p] = engineParams(t, p)
		}
		openRounds(roundEvent(1, directory, roundWindow), all, all)
		want := map[*running]struct{ accepted, disabled int }{alice: {1, 1}, bob: {1, 1}, carol: {2, 0}}
		for _, p := range all {
			rep := waitRound(t, p, 1)
			if rep.Err != nil || len(rep.Teachers) != 2 || len(rep.Dropped)+len(rep.Unanswered)+len(rep.Unweighted) != 0 {
				t.Fatalf("%s: report %+v, want two teachers and no error", p.ID(), rep)
			}
			if rep.Steps != 10 || rep.TransferRows != 40 || rep.HiddenRows != 32 || rep.Alpha != 0.5 || !(rep.Loss > 0) {
				t.Fatalf("%s: report %+v, want 10 steps on 40+32 rows with alpha 0.5", p.ID(), rep)
			}
			if w := want[p]; rep.Accepted != w.accepted || rep.Disabled != w.disabled {
				t.Fatalf("%s: gradients accepted by %d and off at %d teachers, want %d and %d", p.ID(), rep.Accepted, rep.Disabled, w.accepted, w.disabled)
			}
			if rep.Checkpoint != peer.CheckpointPath(p.home, "mlp") || bytes.Equal(ckpt[p], mustRead(t, rep.Checkpoint)) {
				t.Fatalf("%s: checkpoint %q was not rewritten by the round", p.ID(), rep.Checkpoint)
			}
			if slices.Equal(params[p], engineParams(t, p)) {
				t.Fatalf("%s: parameters unchanged by the round", p.ID())
			}
			for id, loss := range rep.HiddenLoss {
				if !(loss < math.Log(10)) {
					t.Fatalf("%s: honest teacher %s scored %v on the hidden checks", p.ID(), id, loss)
				}
			}
		}
	})
	t.Run("OKTeachersApplyGradients", func(t *testing.T) {
		// Only alice is a student: whatever changes bob and carol comes
		// through Backward.
		bobBefore, carolBefore := engineParams(t, bob), engineParams(t, carol)
		openRounds(roundEvent(2, directory, roundWindow), []*running{bob, carol}, []*running{alice})
		rep := waitRound(t, alice, 2)
		if rep.Err != nil || rep.Accepted != 1 || rep.Disabled != 1 {
			t.Fatalf("report %+v, want bob to accept and carol to have gradients off", rep)
		}
		if slices.Equal(bobBefore, engineParams(t, bob)) {
			t.Fatal("bob accepted gradients but his parameters did not change")
		}
		if !slices.Equal(carolBefore, engineParams(t, carol)) {
			t.Fatal("carol has gradients off but her parameters changed")
		}
	})
}

// poisoner serves logits that favour a wrong class for every input: it
// reads TinyFashion's label band and names the next class.
type poisoner struct{ applied atomic.Int32 }

func (m *poisoner) Card() *taonetv1.ModelCard {
	return &taonetv1.ModelCard{Task: "fmnist", Architecture: "mlp", InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu"}
}

func (m *poisoner) Forward(x []float32) ([]float32, error) {
	rows := len(x) / 784
	out := make([]float32, rows*10)
	for r := range rows {
		best, bestSum := 0, math.Inf(-1)
		for y := range 10 {
			s := 0.0
			for _, v := range x[r*784+y*78 : r*784+(y+1)*78] {
				s += float64(v)
			}
			if s > bestSum {
				best, bestSum = y, s
			}
		}
		out[r*10+(best+1)%10] = 12
	}
	return out, nil
}

func (m *poisoner) Apply(x, grad []float32) error {
	m.applied.Add(1)
	return nil
}

// TestRoundDropsPoisoner: a teacher that answers every input with a wrong
// class fails the student's hidden checks and is left out of its training
// and of its gradients.
func TestRoundDropsPoisoner(t *testing.T) {
	n := mustCoordinator(t, 0)
	dir := t.TempDir()
	bad := &poisoner{}
	alice := n.mustPeerWith(t, filepath.Join(dir, "alice"), n.token(t, "alice"), fastRounds)
	bob := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), func(c *peer.Config) {
		fastRounds(c)
		c.WarmupEpochs = 3 // clearly better than guessing on alice's checks
	})
	mallory := n.mustPeerWith(t, filepath.Join(dir, "mallory"), n.token(t, "mallory"), func(c *peer.Config) { c.ServeModel = bad })
	directory := mustSeeAll(t, alice, bob, mallory)

	t.Run("OKHonestTeacherKept", func(t *testing.T) {
		openRounds(roundEvent(1, directory, roundWindow), []*running{bob, mallory}, []*running{alice})
		rep := waitRound(t, alice, 1)
		if rep.Err != nil || !slices.Equal(rep.Teachers, []string{bobID}) || !slices.Equal(rep.Dropped, []string{malloryID}) {
			t.Fatalf("report %+v, want bob kept and mallory dropped", rep)
		}
		if l := rep.HiddenLoss[malloryID]; !(l > 5) {
			t.Fatalf("mallory's hidden-check loss %v, want far above ln 10", l)
		}
		if rep.Alpha != 0.5 || rep.Steps != 10 || rep.Accepted != 1 {
			t.Fatalf("report %+v, want distillation from bob and his gradients", rep)
		}
	})
	t.Run("OKOnlyPoisonerTrainsAlone", func(t *testing.T) {
		// Round 2 is among alice and mallory only: no teacher is left, so
		// alice trains on her own data alone.
		var two []*taonetv1.PeerInfo
		for _, info := range directory {
			if info.GetIdentity() != bobID {
				two = append(two, info)
			}
		}
		openRounds(roundEvent(2, two, roundWindow), []*running{mallory}, []*running{alice})
		rep := waitRound(t, alice, 2)
		if rep.Err != nil || len(rep.Teachers) != 0 || !slices.Equal(rep.Dropped, []string{malloryID}) {
			t.Fatalf("report %+v, want no teacher and mallory dropped", rep)
		}
		if rep.Alpha != 1 || rep.Steps != 10 || rep.Accepted+rep.Disabled != 0 {
			t.Fatalf("report %+v, want 10 steps on the private data alone and no gradients sent", rep)
		}
	})
	if got := bad.applied.Load(); got != 0 {
		t.Fatalf("the dropped teacher was sent gradients %d times", got)
	}
}

// TestRoundLifecycle: a new RoundOpened cancels the round in progress, a
// round stops at its deadline, and shutdown ends a round promptly.
func TestRoundLifecycle(t *testing.T) {
	n := mustCoordinator(t, 0)
	logs := &lockedBuffer{}
	alice := n.mustPeerWith(t, filepath.Join(t.TempDir(), "alice"), n.token(t, "alice"), func(c *peer.Config) {
		c.LocalSteps = 1 << 30 // only the deadline or a cancel ends a round
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	directory := mustSeeAll(t, alice)

	peer.DeliverRound(alice.Peer, roundEvent(1, directory, time.Minute))
	time.Sleep(200 * time.Millisecond)
	peer.DeliverRound(alice.Peer, roundEvent(2, directory, time.Second))
	rep := waitRound(t, alice, 2)
	if rep.Err != nil || rep.Steps == 0 || rep.Alpha != 1 || rep.Duration > 3*time.Second {
		t.Fatalf("round 2: %+v, want training alone until its deadline", rep)
	}
	// roundLines are the logged ends of round r that contain part.
	roundLines := func(r int, part string) int {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		n := 0
		for _, l := range strings.Split(logs.b.String(), "\n") {
			if strings.Contains(l, `msg="round done" `) && strings.Contains(l, fmt.Sprintf(` round=%d `, r)) && strings.Contains(l, part) {
				n++
			}
		}
		return n
	}
	if roundLines(1, `err="context canceled"`) != 1 {
		t.Fatal("round 1 was not cancelled by round 2")
	}

	t.Run("OKIgnoresRepeatedRound", func(t *testing.T) {
		// A Watch stream that reconnects gets the open round again.
		peer.DeliverRound(alice.Peer, roundEvent(2, directory, time.Second))
		time.Sleep(300 * time.Millisecond)
		if n := roundLines(2, ""); n != 1 {
			t.Fatalf("round 2 ran %d times", n)
		}
	})

	t.Run("OKSkipsRoundWithoutDeadline", func(t *testing.T) {
		peer.OpenRound(alice.Peer, 3)
		time.Sleep(100 * time.Millisecond)
		if rep, _ := alice.LastRound(); rep.Round != 2 {
			t.Fatalf("a round without a deadline ran: %+v", rep)
		}
	})
	t.Run("OKShutdownEndsRound", func(t *testing.T) {
		peer.DeliverRound(alice.Peer, roundEvent(4, directory, time.Minute))
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := alice.stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("stopping took %v with a round in progress", d)
		}
		if rep, _ := alice.LastRound(); rep.Round != 4 || rep.Err == nil || rep.Checkpoint == "" {
			t.Fatalf("round 4 at shutdown: %+v, want cancelled with its steps saved", rep)
		}
	})
}

// TestBatchGradients: a student's gradient covers every row of every batch
// a teacher answered, zero on the hidden checks, with the Forward call's
// batch ids.
func TestBatchGradients(t *testing.T) {
	// 7 rows in batches of 3, hidden checks at rows 1 and 5; the five
	// transfer rows' gradients are (1,-1), (2,-2), ... (5,-5).
	g := []float32{1, -1, 2, -2, 3, -3, 4, -4, 5, -5}
	got := peer.BatchGradients(7, 3, 2, []int{1, 5}, g)
	want := []struct {
		batch  uint64
		values []float32
	}{
		{1, []float32{1, -1, 0, 0, 2, -2}},
		{2, []float32{3, -3, 4, -4, 0, 0}},
		{3, []float32{5, -5}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Batch != w.batch || got[i].Rows != len(w.values)/2 || !slices.Equal(got[i].Values, w.values) {
			t.Fatalf("batch %d: %+v, want id %d values %v", i, got[i], w.batch, w.values)
		}
	}
}

// TestConfigRounds names each bad round setting.
func TestConfigRounds(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*peer.Config)
		part string
	}{
		{"ErrLocalSteps", func(c *peer.Config) { c.LocalSteps = 0 }, "local steps 0"},
		{"ErrBatch", func(c *peer.Config) { c.Batch = -1 }, "batch -1"},
		{"ErrKDMix", func(c *peer.Config) { c.KDMix = 1.5 }, "kd mix 1.5"},
		{"ErrKDMixNaN", func(c *peer.Config) { c.KDMix = math.NaN() }, "kd mix NaN"},
		{"ErrKDTemperature", func(c *peer.Config) { c.KDTemperature = 0 }, "kd temperature 0"},
		{"ErrHiddenChecks", func(c *peer.Config) { c.HiddenChecks = -2 }, "hidden checks -2"},
		{"ErrWarmupEpochs", func(c *peer.Config) { c.WarmupEpochs = -1 }, "warmup epochs -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := peer.DefaultConfig()
			cfg.Coordinator = "127.0.0.1:7443"
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.part) {
				t.Fatalf("err = %v, want one naming %q", err, c.part)
			}
		})
	}
	t.Run("OKDefaults", func(t *testing.T) {
		cfg := peer.DefaultConfig()
		cfg.Coordinator = "127.0.0.1:7443"
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.LocalSteps != 50 || cfg.Batch != 64 || cfg.KDMix != 0.5 || cfg.KDTemperature != 2 || cfg.HiddenChecks != 32 || cfg.WarmupEpochs != 1 {
			t.Fatalf("defaults %+v", cfg)
		}
	})
}
