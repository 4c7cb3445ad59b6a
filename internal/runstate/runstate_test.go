package runstate_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/taonet/taonet/internal/homelock"
	"github.com/taonet/taonet/internal/runstate"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestWriter writes a state file as a process does and reads it back as a
// status command does, beside the lock the process holds.
func TestWriter(t *testing.T) {
	home := t.TempDir()
	lock, err := homelock.Acquire(home)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	w := runstate.NewWriter(home, runstate.State{Listen: "127.0.0.1:7443", HTTP: "127.0.0.1:9090"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mustRead := func(t *testing.T) runstate.State {
		t.Helper()
		st, err := runstate.Read(home)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("OKStarted", func(t *testing.T) {
		st := mustRead(t)
		if st.PID != os.Getpid() || st.Listen != "127.0.0.1:7443" || st.HTTP != "127.0.0.1:9090" || st.Ready || st.Started.IsZero() {
			t.Fatalf("state = %+v", st)
		}
		if !runstate.Running(home, st) {
			t.Fatal("not running while this process holds the lock")
		}
		if p, _ := runstate.ReadProcess(home); !p.Running || p.Ready {
			t.Fatalf("process = %+v, want running, not ready", p)
		}
	})
	t.Run("OKPhases", func(t *testing.T) {
		for _, c := range []struct {
			ev    *taonetv1.WatchResponse
			round uint64
			phase string
		}{
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: &taonetv1.RoundOpened{Round: 4}}}, 4, runstate.PhaseDistill},
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_DirectoryChanged{DirectoryChanged: &taonetv1.DirectoryChanged{}}}, 4, runstate.PhaseDistill},
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_EvaluationStarted{EvaluationStarted: &taonetv1.EvaluationStarted{Round: 4}}}, 4, runstate.PhaseEvaluate},
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundClosed{RoundClosed: &taonetv1.RoundClosed{Round: 4, State: taonetv1.RoundState_ROUND_STATE_SETTLED}}}, 4, runstate.PhaseSettled},
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: &taonetv1.RoundOpened{Round: 5}}}, 5, runstate.PhaseDistill},
			{&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundClosed{RoundClosed: &taonetv1.RoundClosed{Round: 5, State: taonetv1.RoundState_ROUND_STATE_ABORTED}}}, 5, runstate.PhaseAborted},
		} {
			w.Observe(c.ev)
			if st := mustRead(t); st.Round != c.round || st.Phase != c.phase {
				t.Fatalf("after %v: round %d phase %q, want %d %q", c.ev, st.Round, st.Phase, c.round, c.phase)
			}
		}
	})
	t.Run("OKStopped", func(t *testing.T) {
		w.Update(func(st *runstate.State) { st.Ready, st.Stopped = true, time.Now() })
		st := mustRead(t)
		if runstate.Running(home, st) {
			t.Fatal("running after a clean stop")
		}
		if p, _ := runstate.ReadProcess(home); p.Running || p.Ready || p.Stopped.IsZero() {
			t.Fatalf("process = %+v, want stopped", p)
		}
	})
	t.Run("ErrNoFile", func(t *testing.T) {
		p, st := runstate.ReadProcess(t.TempDir())
		if p.Running || p.Note == "" || st.PID != 0 {
			t.Fatalf("process of an empty home = %+v", p)
		}
	})
	t.Run("ErrDeadHolder", func(t *testing.T) {
		other := t.TempDir()
		// A lock file naming a pid that cannot be alive, as a crash leaves.
		if err := os.WriteFile(filepath.Join(other, homelock.File), []byte("2147483646\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if runstate.Running(other, runstate.State{PID: 2147483646}) {
			t.Fatal("a dead pid reads as running")
		}
	})
}
