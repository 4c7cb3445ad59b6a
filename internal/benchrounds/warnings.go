package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// keptWarnings is how many warning messages a countingHandler keeps for
// the report.
const keptWarnings = 5

// countingHandler is a slog.Handler that drops info and debug records and
// counts warnings and errors, keeping the first few: a benchmark whose
// rounds cut Watch streams or refuse calls is not measuring what it says.
type countingHandler struct {
	mu    sync.Mutex
	count int
	first []string
}

var _ slog.Handler = (*countingHandler)(nil)

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	if len(h.first) < keptWarnings {
		msg := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += fmt.Sprintf(" %s=%v", a.Key, a.Value)
			return true
		})
		h.first = append(h.first, msg)
	}
	return nil
}

// WithAttrs and WithGroup share the counter: the attributes of a derived
// logger are not needed to count its records.
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// take returns the count and the first messages since the last take,
// and starts counting afresh.
func (h *countingHandler) take() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, first := h.count, h.first
	h.count, h.first = 0, nil
	return n, first
}
