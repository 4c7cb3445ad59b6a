// Command benchquality measures how well peers with skewed private data
// learn (make bench-quality): on Fashion-MNIST shards drawn with Dirichlet
// label skew, it runs every method on the same splits and reports the
// mean and worst peer accuracy on the report pool after each round:
//
//   - local: each peer trains on its own shard only;
//   - taonet: federated distillation with the network's code paths (the
//     libtorch engine and its mixed loss, the hidden checks, teacher
//     weights from coordinator.Score, distill.Ensemble), the peers in one
//     process; taonet-grads also applies the students' gradients at their
//     teachers (peer.Gradients, off in the network by default);
//     taonet-adv makes two peers adversaries (random logits, a copier) and
//     reports the honest peers' accuracy and share of the emission;
//   - fedavg: parameter averaging of same-architecture peers with the same
//     local steps and rounds;
//   - central: one model on the union of the shards, the ceiling.
//
// Every method starts from the same warm-up (one epoch on the peer's
// shard) and takes the same local steps per round. A "mixed" architecture
// alternates mlp and cnn peers, which FedAvg cannot average.
//
// Each finished cell (method, architecture, alpha, seed) is saved under
// -cells, and a run started again skips the cells already there, so an
// interrupted run resumes where it stopped. At the end it writes the JSON
// of every cell and the summary (-out), a markdown table (-md) and an SVG
// plot of mean accuracy per round (-svg). The summary takes in every
// finished cell under -cells run with the same parameters, so that a run
// of one architecture with three seeds and another of a second
// architecture with one seed make one table.
//
// Usage:
//
//	go run -tags libsqlite3 ./internal/benchquality [-quick] [-rounds 30] [-peers 10]
//	    [-seeds 1,2,3] [-alphas 0.1,0.5] [-archs mlp,cnn,mixed] [-methods ...]
//	    [-device cpu|cuda|auto] [-threads 1] [-workers 2] [-cells DIR]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-quality:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	p                     Params
	seeds                 []uint64
	alphas                []float64
	archs, methods        []string
	threads, workers      int
	data, cells           string
	out, md, svg          string
	machine, commit, mode string
	fresh                 bool
}

func parse(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench-quality", flag.ContinueOnError)
	o := &options{p: defaultParams()}
	quick := fs.Bool("quick", false, "a smoke run: 5 peers, 5 rounds, one seed, alpha 0.1, mlp")
	fs.IntVar(&o.p.Peers, "peers", o.p.Peers, "peers per network")
	fs.IntVar(&o.p.Rounds, "rounds", o.p.Rounds, "rounds per run")
	fs.IntVar(&o.p.LocalSteps, "local-steps", o.p.LocalSteps, "training steps per peer per round")
	fs.IntVar(&o.p.WarmupEpochs, "warmup-epochs", o.p.WarmupEpochs, "epochs each peer trains on its shard before round 1")
	fs.IntVar(&o.p.Transfer, "transfer", o.p.Transfer, "transfer rows per round")
	fs.IntVar(&o.p.Report, "report", o.p.Report, "report-pool rows measured after each round (after the last: the whole pool)")
	fs.Float64Var(&o.p.KDMix, "kd-mix", o.p.KDMix, "share of the distillation term in a round's loss")
	fs.Float64Var(&o.p.KDTemp, "kd-temperature", o.p.KDTemp, "distillation temperature")
	fs.StringVar(&o.p.Device, "device", o.p.Device, "cpu, cuda, cuda:N or auto")
	seeds := fs.String("seeds", "1,2,3", "seeds: each is a different split and initialisation, the same for every method")
	alphas := fs.String("alphas", "0.1,0.5", "Dirichlet alphas of the label skew")
	archs := fs.String("archs", "mlp,cnn,mixed", "architectures: mlp, cnn, mixed (half each; distillation and local only)")
	methods := fs.String("methods", "local,taonet,taonet-grads,taonet-adv,fedavg,central", "methods to run")
	fs.IntVar(&o.threads, "threads", 1, "torch CPU threads (and BLAS threads) of the process")
	fs.IntVar(&o.workers, "workers", 2, "cells run at once")
	fs.StringVar(&o.data, "data", distill.FashionMNISTDir, "Fashion-MNIST IDX folder")
	fs.StringVar(&o.cells, "cells", "build/bench-quality", "folder of finished cells (resume)")
	fs.BoolVar(&o.fresh, "fresh", false, "ignore finished cells and run everything again")
	fs.StringVar(&o.out, "out", "results/bench-quality.json", "JSON of every cell and the summary")
	fs.StringVar(&o.md, "md", "results/bench-quality.md", "markdown table")
	fs.StringVar(&o.svg, "svg", "results/bench-quality.svg", "SVG plot of mean accuracy per round")
	fs.StringVar(&o.machine, "machine", "", "the machine, for the record")
	fs.StringVar(&o.commit, "commit", "", "the commit, for the record")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.mode = "full"
	if *quick {
		o.mode = "quick"
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		defaults := map[string]func(){
			"peers":  func() { o.p.Peers = 5 },
			"rounds": func() { o.p.Rounds = 5 },
			"seeds":  func() { *seeds = "1" },
			"alphas": func() { *alphas = "0.1" },
			"archs":  func() { *archs = "mlp" },
		}
		for name, f := range defaults {
			if !set[name] {
				f()
			}
		}
		if !set["out"] {
			o.out, o.md, o.svg = "build/bench-quality-quick.json", "build/bench-quality-quick.md", "build/bench-quality-quick.svg"
		}
		if !set["cells"] {
			o.cells = "build/bench-quality-quick"
		}
	}
	var err error
	if o.seeds, err = parseList(*seeds, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }); err != nil {
		return nil, fmt.Errorf("-seeds: %w", err)
	}
	if o.alphas, err = parseList(*alphas, func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && !(v > 0) {
			err = fmt.Errorf("alpha %v is not positive", v)
		}
		return v, err
	}); err != nil {
		return nil, fmt.Errorf("-alphas: %w", err)
	}
	known := func(allowed ...string) func(string) (string, error) {
		return func(s string) (string, error) {
			if !slices.Contains(allowed, s) {
				return "", fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
			}
			return s, nil
		}
	}
	if o.archs, err = parseList(*archs, known(torch.ArchMLP, torch.ArchCNN, "mixed")); err != nil {
		return nil, fmt.Errorf("-archs: %w", err)
	}
	if o.methods, err = parseList(*methods, known(mLocal, mTaonet, mTaoGrad, mAdv, mFedAvg, mCentral)); err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	switch {
	case o.p.WarmupEpochs < 0:
		return nil, fmt.Errorf("warmup epochs %d must not be negative", o.p.WarmupEpochs)
	case slices.Contains(o.methods, mAdv) && o.p.Peers < 4:
		return nil, fmt.Errorf("taonet-adv needs at least 4 peers (2 of them adversaries), not %d", o.p.Peers)
	case o.p.Peers < 2 || o.p.Rounds < 1 || o.p.LocalSteps < 1 || o.p.Transfer < 1 || o.p.Report < 1:
		return nil, fmt.Errorf("peers %d (at least 2), rounds %d, local steps %d, transfer %d and report %d must be positive",
			o.p.Peers, o.p.Rounds, o.p.LocalSteps, o.p.Transfer, o.p.Report)
	case o.threads < 1 || o.workers < 1:
		return nil, fmt.Errorf("threads %d and workers %d must be positive", o.threads, o.workers)
	case !(o.p.KDMix >= 0 && o.p.KDMix <= 1) || !(o.p.KDTemp > 0):
		return nil, fmt.Errorf("kd mix %v must be in [0, 1] and temperature %v positive", o.p.KDMix, o.p.KDTemp)
	}
	return o, nil
}

func parseList[T any](s string, conv func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := conv(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// cellsOf lists the cells of o in the order they run: seed by seed, so
// that an interrupted run has whole seeds rather than a scatter.
// Centralized training does not depend on alpha (alpha 0); FedAvg and
// mixed architectures do not go together.
func cellsOf(o *options) []Cell {
	var out []Cell
	for _, seed := range o.seeds {
		for _, arch := range o.archs {
			for _, m := range o.methods {
				switch {
				case m == mFedAvg && arch == "mixed", m == mCentral && arch == "mixed", m == mAdv && arch == "mixed":
					continue
				case m == mCentral:
					out = append(out, Cell{Method: m, Arch: arch, Seed: seed})
					continue
				}
				for _, a := range o.alphas {
					out = append(out, Cell{Method: m, Arch: arch, Alpha: a, Seed: seed})
				}
			}
		}
	}
	return out
}

func run(args []string) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := torch.Open(); err != nil {
		return err
	}
	if err := torch.SetNumThreads(o.threads); err != nil {
		return err
	}
	train, test, err := distill.LoadFashionMNIST(o.data)
	if err != nil {
		return err
	}
	pools, err := distill.SplitPools(train, test)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.cells, 0o755); err != nil {
		return err
	}
	r := &runner{pools: pools, p: o.p, threads: o.threads}
	cells := cellsOf(o)
	results := make([]*CellResult, len(cells))
	var todo []int
	for i, c := range cells {
		if !o.fresh {
			if res, err := loadCell(o.cells, c, o.p); err == nil {
				results[i] = res
				continue
			} else if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(os.Stderr, "cell %s: %v: running it again\n", c.key(), err)
			}
		}
		todo = append(todo, i)
	}
	fmt.Printf("bench-quality (%s): %d cells, %d already done in %s; %d workers, %d torch threads, device %s\n",
		o.mode, len(cells), len(cells)-len(todo), o.cells, o.workers, o.threads, o.p.Device)
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for i := range next {
				c := cells[i]
				t0 := time.Now()
				res, err := r.run(ctx, c)
				mu.Lock()
				if err != nil {
					if firstErr == nil && ctx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				res.Seconds = time.Since(t0).Seconds()
				results[i] = res
				last := res.Rounds[len(res.Rounds)-1]
				fmt.Printf("  %-32s local-only %.4f -> round %d mean %.4f worst %.4f  (%.0fs)\n",
					c.key(), res.Rounds[0].Mean, last.Round, last.Mean, last.Worst, res.Seconds)
				mu.Unlock()
				if err := saveCell(o.cells, res); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || firstErr != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted after %s: finished cells are kept in %s; run again to resume", time.Since(start).Round(time.Second), o.cells)
	}
	results, err = withOthers(o.cells, o.p, results)
	if err != nil {
		return err
	}
	info, _ := torch.RuntimeInfo()
	rep := summarize(o, results, info, runtime.NumCPU())
	if err := writeOutputs(o, rep); err != nil {
		return err
	}
	fmt.Print(rep.Markdown)
	fmt.Printf("wrote %s, %s and %s in %s\n", o.out, o.md, o.svg, time.Since(start).Round(time.Second))
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// withOthers adds to results every other finished cell in dir run with
// the same parameters, so that runs of different breadth (three seeds of
// one architecture, one seed of another) make one summary.
func withOthers(dir string, p Params, results []*CellResult) ([]*CellResult, error) {
	have := map[string]bool{}
	for _, r := range results {
		have[r.key()] = true
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var res CellResult
		if json.Unmarshal(b, &res) != nil || res.Params != p || len(res.Rounds) != p.Rounds+1 || have[res.key()] {
			continue
		}
		have[res.key()] = true
		results = append(results, &res)
	}
	return results, nil
}

// loadCell reads a finished cell; a cell saved with other parameters does
// not count (os.ErrNotExist), so changing a setting reruns it.
func loadCell(dir string, c Cell, p Params) (*CellResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, c.key()+".json"))
	if err != nil {
		return nil, err
	}
	var res CellResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	if res.Cell != c || res.Params != p || len(res.Rounds) != p.Rounds+1 {
		return nil, os.ErrNotExist
	}
	return &res, nil
}

// saveCell writes a finished cell atomically: a temporary file renamed
// into place, so an interrupted write leaves no half cell.
func saveCell(dir string, res *CellResult) error {
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, res.key()+".json"), b)
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
