package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
)

// TestRunOneEachFlood runs every flood once, small but past every bound,
// against the real coordinator binary, and checks that the bench counts
// what the defaults let through: nothing anonymous, MaxHealthWatches and
// MaxWatches streams, MaxConnsPerHost connections per source, the Renew
// burst; and that the legitimate client kept working.
func TestRunOneEachFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coordinator and runs it six times")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	lim := coordinator.DefaultConfig()
	s := Settings{
		HealthWatches: 200, HealthWatchesCert: lim.MaxHealthWatches + 40, Watches: lim.MaxWatches + 40,
		Conns: 3 * (lim.MaxConnsPerHost + 12), Renews: lim.RenewBurst + 20, Enrolls: 60,
		StreamConns: 4, ConnSources: 3, EnrollSources: 2, Inflight: 16, Reps: 3,
		Hold: 200 * time.Millisecond, Settle: 200 * time.Millisecond, SampleEvery: 10 * time.Millisecond, ProbeEvery: 50 * time.Millisecond,
		Limits: lim,
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	bin, err := buildCoordinator(ctx, "../..", root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"health-watch-anon": 0, "health-watch-peer": lim.MaxHealthWatches, "coordinator-watch": lim.MaxWatches,
		"idle-conns": 3 * lim.MaxConnsPerHost, "renew": lim.RenewBurst, "enroll": 0,
	}
	var runs []*runResult
	for _, f := range floods(s) {
		t.Run(f.Name, func(t *testing.T) {
			r, err := runOne(ctx, s, bin, filepath.Join(root, f.Name), f, 1)
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r)
			o := r.Out
			refused := 0
			for _, n := range o.Refused {
				refused += n
			}
			if o.Attempts != f.Size || o.Accepted+refused != o.Attempts {
				t.Errorf("attempts %d (size %d), accepted %d + refused %v", o.Attempts, f.Size, o.Accepted, o.Refused)
			}
			if o.Accepted != want[f.Name] {
				t.Errorf("accepted %d, want %d (refused %v)", o.Accepted, want[f.Name], o.Refused)
			}
			ok, _, _ := probeStats(r.Probes)
			if len(r.Probes) == 0 || ok != len(r.Probes) {
				t.Errorf("legitimate calls: %d OK of %d: %+v", ok, len(r.Probes), r.Probes)
			}
			if r.Idle.FDs < 3 || r.Peak.FDs < r.Idle.FDs || r.Peak.RSS < r.Idle.Status.RSS || r.LogIdle == 0 || r.StopErr != "" {
				t.Errorf("idle %+v, peak %+v, idle log %d bytes, stop %q", r.Idle, r.Peak, r.LogIdle, r.StopErr)
			}
		})
	}
	if f := runs[len(runs)-1]; f.Flood == "enroll" && f.Out.Refused["ResourceExhausted"] == 0 {
		t.Errorf("enroll flood of %d calls from 2 sources: no ResourceExhausted (%v)", s.Enrolls, f.Out.Refused)
	}
	rep := &report{s: s, floods: floods(s), runs: runs}
	if err := rep.write(filepath.Join(root, "bench-flood.json")); err != nil {
		t.Fatal(err)
	}
}
