// Command demo is the part of `make demo` (scripts/demo.sh) that talks to
// the network and measures it; the script starts and stops the processes.
//
//	demo joined -coordinator ADDR -client DIR -peers FILE
//	    waits until every peer of FILE is in the directory (each has
//	    finished its warm-up), printing each as it joins.
//	demo rounds -coordinator ADDR -client DIR -peers FILE -rounds N -out FILE
//	    shows each round's phase and, once settled, every peer's validation
//	    loss and accuracy; after N settled rounds it writes the rounds, the
//	    balances and the supply to -out as JSON and exits.
//	demo table -peers FILE -summary FILE
//	    evaluates every peer's two saved checkpoints (local only, after the
//	    last round) on the report pool and prints the final table, the
//	    supply and the grpcurl commands that explore the ledger.
//
// The client identity is a folder from `coordinator client-cert` (cert.pem,
// key.pem, ca.pem). The peers file has one peer a line: name, model, shard
// i/n, Dirichlet alpha, seed and home folder, separated by spaces.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/taonet/taonet/distill"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demo joined|rounds|table [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1], os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run parses the flags of one subcommand and runs it.
func run(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	coord := fs.String("coordinator", "", "coordinator HOST:PORT")
	client := fs.String("client", "", "client identity folder (cert.pem, key.pem, ca.pem)")
	peersFile := fs.String("peers", "", "peers file: name model shard alpha seed home, one peer a line")
	since := fs.Float64("since", float64(time.Now().UnixNano())/1e9, "Unix time the demo started; progress lines show the time since")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	rounds := fs.Int("rounds", 5, "settled rounds to wait for")
	every := fs.Duration("every", 0, "the coordinator's --round-every (to say when the next round opens)")
	distillT := fs.Duration("distill", 0, "the coordinator's --distill-timeout (to name the phase of an open round)")
	out := fs.String("out", "", "JSON summary to write (rounds) or read (table: -summary)")
	summaryFile := fs.String("summary", "", "JSON summary written by rounds")
	data := fs.String("data", dataDefault(), "folder of the Fashion-MNIST IDX files")
	home := fs.String("home", "", "the coordinator's home folder (for the commands printed at the end)")
	grpcurl := fs.String("grpcurl", ".tools/bin/grpcurl", "grpcurl binary (for the commands printed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	peers, err := readPeers(*peersFile)
	if err != nil {
		return err
	}
	clock := newClock(*since)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	switch cmd {
	case "joined", "rounds":
		cc, err := dial(*coord, *client)
		if err != nil {
			return err
		}
		defer func() { _ = cc.Close() }()
		if cmd == "joined" {
			return waitJoined(ctx, cc, peers, clock, os.Stdout)
		}
		w := roundWatch{peers: peers, rounds: *rounds, every: *every, distill: *distillT, clock: clock, out: newProgress(os.Stdout, clock)}
		s, err := w.run(ctx, cc)
		if err != nil {
			return err
		}
		return s.write(*out)
	case "table":
		s, err := readSummary(*summaryFile)
		if err != nil {
			return err
		}
		r := report{peers: peers, summary: s, data: *data, home: *home, client: *client, grpcurl: *grpcurl}
		return r.print(ctx, os.Stdout)
	}
	return fmt.Errorf("unknown command %q: want joined, rounds or table", cmd)
}

// dataDefault is $TAONET_DATA, else Debian's Fashion-MNIST folder, as for
// `peer join --data`.
func dataDefault() string {
	if v := os.Getenv("TAONET_DATA"); v != "" {
		return v
	}
	return distill.FashionMNISTDir
}

// clock gives progress lines the time since the demo started.
type clock struct{ start time.Time }

func newClock(unix float64) clock {
	return clock{start: time.Unix(0, int64(unix*1e9))}
}

// stamp is the time since the start as m:ss.
func (c clock) stamp() string {
	d := time.Since(c.start).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
