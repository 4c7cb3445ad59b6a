package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is what a flood aims at: one coordinator, the CA pin every
// token prints, and an enrolled peer identity for the floods that need one.
type target struct {
	addr    string
	pin     string
	flooder *identity
}

// outcome is how the coordinator answered one flood.
type outcome struct {
	// Attempts is how many streams, connections or calls were tried;
	// Accepted how many the coordinator took (a stream or connection held
	// open, a call answered OK). Refused counts the rest by gRPC code or,
	// for connections, by what happened.
	Attempts int
	Accepted int
	Refused  map[string]int
	// Notes are further counts, such as accepted connections the
	// handshake deadline closed.
	Notes map[string]int
	// Elapsed is the time from the first attempt to the end of the last,
	// without the holding time.
	Elapsed time.Duration
}

// tally collects an outcome from many goroutines.
type tally struct {
	attempts, accepted atomic.Int64
	mu                 sync.Mutex
	refused, notes     map[string]int
	start, end         time.Time
}

// begin and finish mark the first attempt and the end of the last.
func (t *tally) begin()  { t.start = time.Now() }
func (t *tally) finish() { t.end = time.Now() }

func (t *tally) accept() { t.attempts.Add(1); t.accepted.Add(1) }

func (t *tally) refuse(why string) {
	t.attempts.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refused == nil {
		t.refused = map[string]int{}
	}
	t.refused[why]++
}

func (t *tally) note(what string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.notes == nil {
		t.notes = map[string]int{}
	}
	t.notes[what] += n
}

func (t *tally) outcome() *outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &outcome{Attempts: int(t.attempts.Load()), Accepted: int(t.accepted.Load()), Refused: maps.Clone(t.refused), Notes: maps.Clone(t.notes), Elapsed: t.end.Sub(t.start)}
}

// formatCounts writes counts as "A 3, B 12", largest first, then by name.
func formatCounts(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// flood is one kind of flood at the size the settings give it.
type flood struct {
	// Name is the flood's key in the report; What says what it sends.
	Name, What string
	// Size is how many streams, connections or calls it tries.
	Size int
	// Run floods t, holds what the coordinator accepted for the settings'
	// hold time (the sampler and the legitimate client run meanwhile),
	// then lets it all go.
	Run func(ctx context.Context, t *target, s Settings) (*outcome, error)
}

// floods are the floods of a run, in the settings' sizes; a size of 0
// leaves a flood out.
func floods(s Settings) []flood {
	all := []flood{
		{Name: "health-watch-anon", Size: s.HealthWatches,
			What: fmt.Sprintf("grpc.health.v1.Health/Watch streams without a client certificate, over %d connections from 127.0.0.2", s.StreamConns),
			Run: func(ctx context.Context, t *target, s Settings) (*outcome, error) {
				return healthWatchFlood(ctx, t, s, s.HealthWatches, false)
			}},
		{Name: "health-watch-peer", Size: s.HealthWatchesCert,
			What: fmt.Sprintf("grpc.health.v1.Health/Watch streams with one peer's certificate, over %d connections from 127.0.0.2", s.StreamConns),
			Run: func(ctx context.Context, t *target, s Settings) (*outcome, error) {
				return healthWatchFlood(ctx, t, s, s.HealthWatchesCert, true)
			}},
		{Name: "coordinator-watch", Size: s.Watches,
			What: fmt.Sprintf("Coordinator/Watch streams from one enrolled peer, over %d connections from 127.0.0.2", s.StreamConns),
			Run:  watchFlood},
		{Name: "idle-conns", Size: s.Conns,
			What: fmt.Sprintf("idle TCP connections that never start TLS, from %d loopback addresses (127.0.0.1 up)", s.ConnSources),
			Run:  connFlood},
		{Name: "renew", Size: s.Renews,
			What: "Renew calls from one enrolled peer on one connection from 127.0.0.2",
			Run:  renewFlood},
		{Name: "enroll", Size: s.Enrolls,
			What: fmt.Sprintf("Enroll calls with garbage tokens, rotating over %d source addresses (127.0.0.2 up), one connection each", s.EnrollSources),
			Run:  enrollFlood},
	}
	out := all[:0]
	for _, f := range all {
		if f.Size > 0 {
			out = append(out, f)
		}
	}
	return out
}

// rotate is fs rotated left by k: the order of the floods in repetition
// k, so no flood always runs first on a cold machine.
func rotate[T any](fs []T, k int) []T {
	if len(fs) == 0 {
		return nil
	}
	k %= len(fs)
	return append(slices.Clone(fs[k:]), fs[:k]...)
}
