// Command benchflood measures what floods do to a real coordinator process
// (make bench-flood): for each flood and repetition it starts a fresh
// `coordinator serve` (the binary, on 127.0.0.1, default limits, no round
// schedule) in a temporary home, enrolls two peers with `coordinator token
// create` and peer.Enroll, measures the idle process (VmRSS, VmHWM, open
// descriptors, log bytes), floods it while sampling those and while a
// legitimate peer times ListPeers on fresh connections, and reports how
// many streams, connections or calls the coordinator accepted and refused
// (by gRPC code), and peak against idle of the same process.
//
// The floods: health Watch streams without a certificate and with a
// peer's; Coordinator/Watch streams from one peer; idle TCP connections
// from several loopback addresses; Renew calls from one peer; Enroll calls
// with garbage tokens from rotating loopback addresses.
//
// Usage:
//
//	go run -tags libsqlite3 ./internal/benchflood [-reps 3] [-health-watches 150000] [-health-watches-peer 5000]
//	    [-watches 59000] [-conns 21000] [-renews 4000] [-enrolls 5000] [-coordinator bin/coordinator] [-out results/bench-flood.json]
//
// The default sizes are those of the floods that took an unhardened
// coordinator to 2.1 GB (health Watch), 1.84 GB (Coordinator/Watch) and out
// of descriptors (idle connections); the whole run takes about four minutes
// on two cores.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/taonet/taonet/coordinator"
)

func main() {
	s := Settings{Limits: coordinator.DefaultConfig()}
	flag.IntVar(&s.HealthWatches, "health-watches", 150000, "health Watch streams without a certificate (0: skip)")
	flag.IntVar(&s.HealthWatchesCert, "health-watches-peer", 5000, "health Watch streams with a peer certificate (0: skip)")
	flag.IntVar(&s.Watches, "watches", 59000, "Coordinator/Watch streams from one peer (0: skip)")
	flag.IntVar(&s.Conns, "conns", 21000, "idle TCP connections (0: skip)")
	flag.IntVar(&s.Renews, "renews", 4000, "Renew calls from one peer (0: skip)")
	flag.IntVar(&s.Enrolls, "enrolls", 5000, "Enroll calls with garbage tokens (0: skip)")
	flag.IntVar(&s.StreamConns, "stream-conns", 16, "connections the stream floods spread over")
	flag.IntVar(&s.ConnSources, "conn-sources", 3, "loopback addresses of the connection flood, from 127.0.0.1")
	flag.IntVar(&s.EnrollSources, "enroll-sources", 200, "loopback addresses the Enroll flood rotates over, from 127.0.0.2")
	flag.IntVar(&s.Inflight, "inflight", 64, "dials, streams or calls under way at once in a flood")
	flag.IntVar(&s.Reps, "reps", 3, "repetitions of every flood (at least 3)")
	flag.DurationVar(&s.Hold, "hold", time.Second, "hold accepted streams and connections this long after the last is opened")
	flag.DurationVar(&s.Settle, "settle", time.Second, "wait before the idle and the after measurements")
	flag.DurationVar(&s.SampleEvery, "sample-every", 25*time.Millisecond, "interval of the RSS and descriptor sampler")
	flag.DurationVar(&s.ProbeEvery, "probe-every", 100*time.Millisecond, "interval of the legitimate client's ListPeers calls")
	flag.StringVar(&s.Coordinator, "coordinator", "", "coordinator binary built from this source, whose defaults the report states (default: build ./cmd/coordinator)")
	flag.StringVar(&s.Out, "out", "results/bench-flood.json", "JSON report (empty: none)")
	flag.StringVar(&s.Machine, "machine", "", "host description for the report")
	flag.StringVar(&s.Commit, "commit", "", "source revision for the report")
	flag.Parse()
	if err := s.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-flood:", err)
		os.Exit(2)
	}
	// SIGINT and SIGTERM end the run through ctx, so that the coordinator
	// is stopped and the temporary folder removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	err := Run(ctx, s, os.Stdout)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-flood:", err)
		os.Exit(1)
	}
}

// gomaxprocs is the GOMAXPROCS of the bench, given to the coordinator too.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
