// Command benchrounds measures the coordinator's round overhead (make
// bench-rounds): open, evaluate, score and settle, with real peers served
// over mutual-TLS gRPC on loopback that answer at once from a cheap fake
// model, all in this process. It times RunRound at several network sizes,
// interleaved, and reports time per peer against the smallest size in the
// same run (at most 1: the overhead grows no faster than linearly). Then,
// each in a fresh process, it runs Late rounds at the memory sizes and
// reports heap in use after Late rounds against after Early rounds (goal:
// at most 1.10). Every ledger is verified at the end and every round must
// have scored and paid every peer.
//
// Usage:
//
//	go run -tags libsqlite3 ./internal/benchrounds [-peers 10,100,500] [-reps 3] [-rounds 20]
//	    [-mem-peers 10,500] [-early 20] [-late 200] [-out results/bench-rounds.json]
//	go run -tags libsqlite3 ./internal/benchrounds -mode profile -n 500 -cpuprofile cpu.out -memprofile heap.out
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taonet/taonet/coordinator"
)

// Settings is one run of the benchmark.
type Settings struct {
	// Peers are the network sizes timed, smallest first: the first is the
	// baseline. Reps repetitions of Rounds measured rounds each, after
	// Warmup rounds when a network starts.
	Peers  []int
	Reps   int
	Rounds int
	Warmup int
	// MemPeers are the sizes whose memory is sampled after rounds Early
	// and Late, MemReps times each, each in its own process; Quiet is the
	// wait before a sample for the round's events to be delivered.
	MemPeers    []int
	MemReps     int
	Early, Late int
	Quiet       time.Duration
	// ValidationSamples and Batch are the coordinator's evaluation sample
	// and Forward batch size; Distill and EvalTimeout its phase lengths;
	// WatchBuffer the events a Watch stream may fall behind.
	ValidationSamples int
	Batch             int
	Distill           time.Duration
	EvalTimeout       time.Duration
	WatchBuffer       int
	// Out is where the JSON report goes ("" for none); Machine describes
	// the host in it.
	Out     string
	Machine string
}

// Validate names the value it refuses.
func (s Settings) Validate() error {
	var errs []error
	if len(s.Peers) < 2 || !slices.IsSorted(s.Peers) || s.Peers[0] < 1 {
		errs = append(errs, fmt.Errorf("peers %v must be at least two positive sizes, smallest first", s.Peers))
	}
	if s.Reps < 3 || s.Rounds < 1 || s.Warmup < 1 {
		errs = append(errs, fmt.Errorf("reps %d must be at least 3, rounds %d and warmup %d positive", s.Reps, s.Rounds, s.Warmup))
	}
	if s.MemReps < 0 || s.Early < 10 || s.Late < s.Early+10 {
		errs = append(errs, fmt.Errorf("mem reps %d must not be negative, early %d at least 10 and late %d at least early+10", s.MemReps, s.Early, s.Late))
	}
	if s.ValidationSamples < 1 || s.ValidationSamples > validationSize || s.Batch < 1 {
		errs = append(errs, fmt.Errorf("validation samples %d must be in [1, %d], batch %d positive", s.ValidationSamples, validationSize, s.Batch))
	}
	if s.Distill <= 0 || s.EvalTimeout <= 0 || s.Quiet < 0 || s.WatchBuffer < 1 {
		errs = append(errs, fmt.Errorf("distill %v, eval timeout %v and watch buffer %d must be positive, quiet %v not negative", s.Distill, s.EvalTimeout, s.WatchBuffer, s.Quiet))
	}
	return errors.Join(errs...)
}

func main() {
	var s Settings
	peers, memPeers := "10,100,500", "10,500"
	flag.Func("peers", "network sizes timed, smallest first (default "+peers+")", func(v string) error { peers = v; return nil })
	flag.Func("mem-peers", "network sizes whose memory is sampled (default "+memPeers+"; empty: none)", func(v string) error { memPeers = v; return nil })
	flag.IntVar(&s.Reps, "reps", 3, "repetitions (at least 3)")
	flag.IntVar(&s.Rounds, "rounds", 20, "measured rounds per repetition and size")
	flag.IntVar(&s.Warmup, "warmup", 2, "unmeasured rounds when a network starts")
	flag.IntVar(&s.MemReps, "mem-reps", 3, "memory runs per size, each in its own process")
	flag.IntVar(&s.Early, "early", 20, "round after which memory is first sampled")
	flag.IntVar(&s.Late, "late", 200, "round after which memory is sampled again")
	flag.DurationVar(&s.Quiet, "quiet", time.Second, "wait before a memory sample")
	flag.IntVar(&s.ValidationSamples, "samples", 256, "validation samples per round")
	flag.IntVar(&s.Batch, "batch", 256, "rows per Forward batch (TransferBatch)")
	flag.DurationVar(&s.Distill, "distill", 10*time.Millisecond, "distill phase (subtracted from every round)")
	flag.DurationVar(&s.EvalTimeout, "eval-timeout", 30*time.Second, "evaluation deadline (a bound only: a measured round in which any peer times out fails the run)")
	flag.IntVar(&s.WatchBuffer, "watch-buffer", coordinator.DefaultConfig().WatchBuffer, "coordinator's Watch buffer, in events")
	flag.StringVar(&s.Out, "out", "results/bench-rounds.json", "JSON report (empty: none)")
	flag.StringVar(&s.Machine, "machine", "", "host description for the report")
	mode := flag.String("mode", "bench", "bench, profile (one size under pprof) or memory (one memory run; used by bench)")
	n := flag.Int("n", 500, "network size of -mode profile and -mode memory")
	cpuprofile := flag.String("cpuprofile", "", "-mode profile: CPU profile of the measured rounds")
	memprofile := flag.String("memprofile", "", "-mode profile: heap profile after the measured rounds; -mode memory: heap profiles at both samples (FILE.early, FILE.late)")
	flag.Parse()
	var err error
	if s.Peers, err = parseSizes(peers); err == nil {
		s.MemPeers, err = parseSizes(memPeers)
	}
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-rounds:", err)
		os.Exit(2)
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 16 << 10 // fine enough to diff two samples of one run
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	switch *mode {
	case "bench":
		err = Run(ctx, s, os.Stdout)
	case "profile":
		err = runProfile(ctx, s, *n, *cpuprofile, *memprofile, os.Stdout)
	case "memory":
		var res *memResult
		if res, err = runMemory(ctx, s, *n, *memprofile, os.Stderr); err == nil {
			err = json.NewEncoder(os.Stdout).Encode(res)
		}
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-rounds:", err)
		cancel()
		os.Exit(1)
	}
}

// parseSizes reads "10,100,500".
func parseSizes(v string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("network size %q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Run times every size, runs the memory runs, prints the tables and writes
// the report.
func Run(ctx context.Context, s Settings, w io.Writer) error {
	fmt.Fprintf(w, "bench-rounds: %s, GOMAXPROCS=%d, %d CPUs; peers %v timed, interleaved (order rotated each rep), %d reps x %d rounds after %d warm-up rounds (+1 unmeasured per block)\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), s.Peers, s.Reps, s.Rounds, s.Warmup)
	fmt.Fprintf(w, "  validation samples %d, batch %d, distill phase %v (subtracted), eval timeout %v, watch buffer %d; peers' call rate limit raised\n",
		s.ValidationSamples, s.Batch, s.Distill, s.EvalTimeout, s.WatchBuffer)
	sc, err := runScaling(ctx, s, w)
	if err != nil {
		return err
	}
	var mem []*memResult
	if s.MemReps > 0 && len(s.MemPeers) > 0 {
		fmt.Fprintf(w, "memory: %v peers, %d runs each (interleaved), each in its own process, sampled after rounds %d and %d\n", s.MemPeers, s.MemReps, s.Early, s.Late)
	}
	for rep := 1; rep <= s.MemReps; rep++ {
		for _, n := range s.MemPeers {
			res, err := runMemoryChild(ctx, n, w)
			if err != nil {
				return err
			}
			mem = append(mem, res)
		}
	}
	r := &report{s: s, sc: sc, mem: mem}
	r.print(w)
	if s.Out == "" {
		return nil
	}
	if err := r.write(s.Out); err != nil {
		return err
	}
	fmt.Fprintln(w, "wrote", s.Out)
	return nil
}
