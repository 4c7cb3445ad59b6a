// Command benchtransport measures the Forward exchange on loopback with
// mutual TLS 1.3 (make bench-transport): for each answer size, streaming
// Forward (Teachers.Forward against a real Peer server of a fake model),
// the same bytes over a plain TLS 1.3 socket (the physical limit here), and
// the same exchange as one RPC per batch, interleaved within every
// repetition; then top-k answer bytes beside full float32 logits. It prints
// a table of min/median/max with the ratios and writes a JSON report.
//
// Usage:
//
//	go run ./internal/benchtransport [-reps 5] [-mib 64] [-inflight 8] [-out results/bench-transport.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Config is one run of the benchmark.
type Config struct {
	// Reps is how many times every side of every size is measured.
	Reps int
	// MiB is the logits volume of one exchange of a large answer size; the
	// small size sends MiB*64 batches.
	MiB int
	// Inflight is how many single-batch RPCs the unary side keeps in flight.
	Inflight int
	// Out is where the JSON report goes ("" for none); Machine describes
	// the host in it.
	Out     string
	Machine string
}

// Validate names the value it refuses.
func (c Config) Validate() error {
	if c.Reps < 3 || c.MiB < 1 || c.Inflight < 1 {
		return fmt.Errorf("reps %d must be at least 3, mib %d and inflight %d positive", c.Reps, c.MiB, c.Inflight)
	}
	return nil
}

// sizes are the answer sizes: a small classifier's batch, and one to 64
// rows of a 16,384-class output (64 KiB to 4 MiB; 4 MiB travels as 1 MiB
// chunks under the peer's default limits).
func (c Config) sizes() []sizeCase {
	large := func(name string, rows int) sizeCase {
		return sizeCase{name: name, classes: 16384, rows: rows, batches: max(1, c.MiB<<20/(rows*16384*4))}
	}
	return []sizeCase{
		{name: "small-1280B", classes: 10, rows: 32, batches: 64 * c.MiB},
		large("64KiB", 1), large("256KiB", 4), large("1MiB", 16), large("4MiB", 64),
	}
}

var topkCases = []topkCase{
	{k: 16, dtype: taonetv1.DataType_DATA_TYPE_FLOAT32},
	{k: 16, dtype: taonetv1.DataType_DATA_TYPE_FLOAT16},
	{k: 64, dtype: taonetv1.DataType_DATA_TYPE_FLOAT32},
}

func main() {
	var cfg Config
	flag.IntVar(&cfg.Reps, "reps", 5, "repetitions of every side (at least 3)")
	flag.IntVar(&cfg.MiB, "mib", 64, "MiB of logits per exchange of a large answer size")
	flag.IntVar(&cfg.Inflight, "inflight", 8, "single-batch RPCs in flight on the unary side")
	flag.StringVar(&cfg.Out, "out", "results/bench-transport.json", "JSON report (empty: none)")
	flag.StringVar(&cfg.Machine, "machine", "", "host description for the report")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-transport:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-transport:", err)
		cancel()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// Run measures every size and side, prints the table to w and writes the
// report.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := newBench(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	sizes := cfg.sizes()
	fmt.Fprintf(w, "bench-transport: GOMAXPROCS=%d, %s, loopback, mutual TLS 1.3, %d reps, sides interleaved (order rotated each rep)\n",
		runtime.GOMAXPROCS(0), runtime.Version(), cfg.Reps)
	for _, c := range sizes {
		fmt.Fprintf(w, "  %-12s %5d batches of %2d rows x %5d classes = %7d bytes each, %6.1f MiB per exchange\n",
			c.name, c.batches, c.rows, c.classes, c.answerBytes(), float64(c.totalBytes())/(1<<20))
	}
	fmt.Fprintf(w, "  unary side: one RPC per batch, %d in flight; chunks of %d bytes\n", cfg.Inflight, benchLimits().ChunkBytes)
	res := &results{}
	for _, c := range sizes { // warm every path once, untimed
		if _, err := b.measure(ctx, c, 0, cfg.Inflight, 0); err != nil {
			return fmt.Errorf("warm-up %s: %w", c.name, err)
		}
	}
	for rep := 1; rep <= cfg.Reps; rep++ {
		for _, c := range sizes {
			r, err := b.measure(ctx, c, uint64(rep), cfg.Inflight, rep)
			if err != nil {
				return fmt.Errorf("rep %d, %s: %w", rep, c.name, err)
			}
			res.add(c, r)
		}
		fmt.Fprintf(w, "  rep %d/%d done\n", rep, cfg.Reps)
	}
	for _, tk := range topkCases {
		full, err := answerBytes(ctx, b.net, b.large, 16, 4, nil)
		if err != nil {
			return fmt.Errorf("full logits bytes: %w", err)
		}
		got, err := answerBytes(ctx, b.net, b.large, 16, 4, &tk)
		if err != nil {
			return fmt.Errorf("%s: %w", tk.name(), err)
		}
		res.addTopK(tk, 16384, 16*4, got, full)
	}
	res.print(w, cfg)
	if cfg.Out == "" {
		return nil
	}
	return res.write(cfg)
}
