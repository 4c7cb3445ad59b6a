package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/taonet/taonet/coordinator"
)

// Settings is one run of the benchmark.
type Settings struct {
	// Sizes of the floods: streams, connections or calls each tries; 0
	// leaves a flood out.
	HealthWatches     int
	HealthWatchesCert int
	Watches           int
	Conns             int
	Renews            int
	Enrolls           int
	// StreamConns is how many connections the stream floods spread their
	// streams over; ConnSources and EnrollSources how many loopback
	// addresses the connection and Enroll floods rotate over; Inflight how
	// many dials, streams or calls a flood has under way at once.
	StreamConns   int
	ConnSources   int
	EnrollSources int
	Inflight      int
	// Reps is how many times every flood runs, each time against a fresh
	// coordinator.
	Reps int
	// Hold is how long accepted streams and connections are held after the
	// last one is opened; Settle the wait before the idle and the after
	// measurements; SampleEvery the sampler's interval; ProbeEvery the
	// legitimate client's.
	Hold, Settle, SampleEvery, ProbeEvery time.Duration
	// Coordinator is a built coordinator binary; "" builds cmd/coordinator
	// (run from the repository root).
	Coordinator string
	// Out is where the JSON report goes ("" for none); Machine and Commit
	// describe the host and the source in it.
	Out, Machine, Commit string
	// Limits are the coordinator's limits in force: the defaults, since
	// serve is given no limit flags.
	Limits coordinator.Config
}

// Validate names the value it refuses.
func (s Settings) Validate() error {
	var errs []error
	sizes := []int{s.HealthWatches, s.HealthWatchesCert, s.Watches, s.Conns, s.Renews, s.Enrolls}
	if slices.Min(sizes) < 0 || slices.Max(sizes) == 0 {
		errs = append(errs, fmt.Errorf("flood sizes %v must not be negative, and one must be positive", sizes))
	}
	if s.Reps < 3 {
		errs = append(errs, fmt.Errorf("reps %d must be at least 3", s.Reps))
	}
	if s.StreamConns < 1 || s.StreamConns > s.Limits.MaxConnsPerHost {
		errs = append(errs, fmt.Errorf("stream conns %d must be in [1, %d] (the per-address limit)", s.StreamConns, s.Limits.MaxConnsPerHost))
	}
	// Accepted streams keep their slots: the rest must leave room for the
	// streams in flight, or the flood would wait on its own client.
	if room := s.StreamConns*int(s.Limits.MaxStreams) - max(s.Limits.MaxHealthWatches, s.Limits.MaxWatches); room < s.Inflight {
		errs = append(errs, fmt.Errorf("stream conns %d x %d streams leave %d free beside the accepted streams, fewer than inflight %d", s.StreamConns, s.Limits.MaxStreams, room, s.Inflight))
	}
	if s.ConnSources < 1 || s.ConnSources > 253 || s.EnrollSources < 1 || s.EnrollSources > 252 {
		errs = append(errs, fmt.Errorf("conn sources %d must be in [1, 253] and enroll sources %d in [1, 252]", s.ConnSources, s.EnrollSources))
	}
	if s.Inflight < 1 {
		errs = append(errs, fmt.Errorf("inflight %d must be positive", s.Inflight))
	}
	if s.Hold < 0 || s.Settle < 0 || s.SampleEvery <= 0 || s.ProbeEvery <= 0 {
		errs = append(errs, fmt.Errorf("hold %v and settle %v must not be negative, sample every %v and probe every %v positive", s.Hold, s.Settle, s.SampleEvery, s.ProbeEvery))
	}
	return errors.Join(errs...)
}

// limitsLine states the coordinator's limits in force.
func (s Settings) limitsLine() string {
	l := s.Limits
	return fmt.Sprintf("MaxConns %d, MaxConnsPerHost %d, MaxStreams %d per connection, MaxWatches %d per identity, MaxHealthWatches %d, HandshakeTimeout %v, IdleTimeout %v; Renew %s burst %d per identity; Enroll %s burst %d per address, %s burst %d in all",
		l.MaxConns, l.MaxConnsPerHost, l.MaxStreams, l.MaxWatches, l.MaxHealthWatches, l.HandshakeTimeout, l.IdleTimeout,
		rateString(float64(l.RenewRate)), l.RenewBurst, rateString(float64(l.EnrollRate)), l.EnrollBurst, rateString(float64(l.EnrollGlobalRate)), l.EnrollGlobalBurst)
}

// rateString writes a rate per second as "10/s", or "1/min" when under 1/s.
func rateString(perSecond float64) string {
	if perSecond >= 1 {
		return fmt.Sprintf("%g/s", perSecond)
	}
	return fmt.Sprintf("%.3g/min", perSecond*60)
}

// printSettings states what the run does before it starts; bin says
// which coordinator binary runs.
func printSettings(w io.Writer, s Settings, fs []flood, bin string) {
	fmt.Fprintf(w, "bench-flood: %s, GOMAXPROCS=%d for the bench and the coordinator, %d CPUs; %d reps, each flood against a fresh `coordinator serve` (127.0.0.1, no rounds), floods rotated each rep\n",
		runtime.Version(), gomaxprocs(), runtime.NumCPU(), s.Reps)
	if s.Commit != "" {
		fmt.Fprintf(w, "  source: %s\n", s.Commit)
	}
	fmt.Fprintf(w, "  coordinator: %s; no limit flags, so the defaults: %s\n", bin, s.limitsLine())
	fmt.Fprintf(w, "  floods: %d at a time; accepted streams and connections held %v after the last is opened; idle and after measurements after %v\n", s.Inflight, s.Hold, s.Settle)
	for _, f := range fs {
		fmt.Fprintf(w, "    %-18s %6d %s\n", f.Name, f.Size, f.What)
	}
}
