// Package runstate is the small file a running coordinator or peer keeps
// in its home folder, state.json, so that the read-only status commands
// can tell what the process is doing without talking to it or taking the
// home's lock: its pid, addresses, readiness, and the round and phase it
// last saw. The process rewrites it (atomically, by rename) at start, when
// its readiness changes, at every round event and when it stops.
package runstate

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/taonet/taonet/internal/homelock"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// File is the state file in a home folder.
const File = "state.json"

// Phases of State.Phase: the last round event the process saw.
const (
	PhaseDistill  = "distill"
	PhaseEvaluate = "evaluate"
	PhaseSettled  = "settled"
	PhaseAborted  = "aborted"
)

// State is what a running process says about itself.
type State struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Stopped is when the process stopped cleanly; zero while it runs (or
	// if it died).
	Stopped time.Time `json:"stopped,omitzero"`
	Ready   bool      `json:"ready"`
	// Listen is the gRPC address; Advertise what other peers dial (peers);
	// Coordinator the coordinator's address (peers); HTTP the operations
	// server's address, empty when off.
	Listen      string `json:"listen"`
	Advertise   string `json:"advertise,omitempty"`
	Coordinator string `json:"coordinator,omitempty"`
	HTTP        string `json:"http,omitempty"`
	// Round is the last round the process saw an event of, Phase where
	// that round stood (PhaseDistill ... PhaseAborted); 0 and "" before
	// any.
	Round uint64 `json:"round"`
	Phase string `json:"phase,omitempty"`
	// Student is a peer's last round as a student; nil on a coordinator.
	Student *Student `json:"student,omitempty"`
}

// Student summarises a peer's round as a student.
type Student struct {
	Round      uint64        `json:"round"`
	Teachers   int           `json:"teachers"`
	Dropped    int           `json:"dropped"`
	Unanswered int           `json:"unanswered"`
	Steps      int           `json:"steps"`
	Loss       float64       `json:"loss"`
	Duration   time.Duration `json:"duration_ns"`
	Error      string        `json:"error,omitempty"`
}

// Observe moves s to the round and phase of a Watch event and reports
// whether it changed; events that are not about a round's phase change
// nothing.
func (s *State) Observe(ev *taonetv1.WatchResponse) bool {
	round, phase := s.Round, s.Phase
	switch {
	case ev.GetRoundOpened() != nil:
		round, phase = ev.GetRoundOpened().GetRound(), PhaseDistill
	case ev.GetEvaluationStarted() != nil:
		round, phase = ev.GetEvaluationStarted().GetRound(), PhaseEvaluate
	case ev.GetRoundClosed() != nil:
		round, phase = ev.GetRoundClosed().GetRound(), PhaseSettled
		if ev.GetRoundClosed().GetState() == taonetv1.RoundState_ROUND_STATE_ABORTED {
			phase = PhaseAborted
		}
	}
	if round == s.Round && phase == s.Phase {
		return false
	}
	s.Round, s.Phase = round, phase
	return true
}

// Writer keeps a process's state file. It is safe for concurrent use.
type Writer struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	st     State
	failed bool // a write failed; logged once
}

// NewWriter writes st as home's state file, with this process's pid and
// the start time, and returns the Writer that keeps it.
func NewWriter(home string, st State, log *slog.Logger) *Writer {
	now := time.Now()
	st.PID, st.Started, st.Updated = os.Getpid(), now, now
	w := &Writer{path: filepath.Join(home, File), log: log, st: st}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.write()
	return w
}

// Update applies f to the state and rewrites the file. A failed write is
// logged (once) and otherwise ignored: the state file serves status
// commands and never stops the process. It does nothing on a nil Writer.
func (w *Writer) Update(f func(*State)) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.st)
	w.st.Updated = time.Now()
	w.write()
}

// Observe moves the state to the round and phase of a Watch event (see
// State.Observe), rewriting the file when they change. It does nothing on
// a nil Writer.
func (w *Writer) Observe(ev *taonetv1.WatchResponse) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st.Observe(ev) {
		w.st.Updated = time.Now()
		w.write()
	}
}

// Get returns the state as last written.
func (w *Writer) Get() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// write replaces the file through a temporary file and a rename, so that
// a reader sees the old state or the new one, never half of one. It is
// not synced: after a crash an older state is as good.
func (w *Writer) write() {
	data, err := json.MarshalIndent(w.st, "", "  ")
	if err == nil {
		tmp := w.path + ".tmp"
		if err = os.WriteFile(tmp, append(data, '\n'), 0o600); err == nil {
			err = os.Rename(tmp, w.path)
		}
	}
	if err != nil && !w.failed {
		w.failed = true
		w.log.Warn("write state file (status commands will not see this process's state)", "path", w.path, "err", err)
	}
}

// Read reads home's state file.
func Read(home string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(home, File))
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read state %s: %w", filepath.Join(home, File), err)
	}
	return st, nil
}

// Running reports whether the process that wrote st still runs: it has not
// stopped cleanly, and the home's lock names its pid as a live process.
func Running(home string, st State) bool {
	if !st.Stopped.IsZero() || st.PID == 0 {
		return false
	}
	pid, alive := homelock.Holder(home)
	return alive && pid == st.PID
}
