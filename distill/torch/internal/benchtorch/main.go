// Command benchtorch is the Go side of `make bench-torch`
// (scripts/bench-torch.sh): one process that either trains a fresh model
// over the whole Fashion-MNIST training split the way `peer train` does, or
// measures serving inference, and prints one JSON object with its figures,
// its settings and its peak resident memory. scripts/torch_reference.py is
// the PyTorch side and prints the same object.
//
// Training is peer.Train's path: libtorch threads and seed set, a fresh
// model with Adam at the peak learning rate, then torch.Fit over every
// example of the training split (batch 64, reshuffled each epoch, cosine
// learning rate set every step), then the accuracy on the report pool.
// Inference is Model.Forward, under no-grad in eval mode as the Peer
// service runs it, over the test split in batches already in memory, as
// they arrive from the wire.
//
// -mode env prints, instead, the environment that gives a PyTorch process
// the settings this engine runs with (OpenBLAS threads, OpenMP's wait
// policy, malloc's thresholds), so that the two sides can be compared on
// the same settings.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

// result is what one run prints: the schema scripts/bench-torch.sh reads
// from both sides.
type result struct {
	Side     string    `json:"side"`
	Mode     string    `json:"mode"`
	Model    string    `json:"model"`
	Threads  int       `json:"threads"`
	Runtime  string    `json:"runtime"`
	EpochS   []float64 `json:"epoch_s,omitempty"`
	Accuracy float64   `json:"accuracy,omitempty"`
	Batch    int       `json:"batch"`
	RowsPerS float64   `json:"rows_per_s,omitempty"`
	VmHWMKB  int64     `json:"vmhwm_kb"`
}

func main() {
	mode := flag.String("mode", "train", "train, infer or env")
	model := flag.String("model", torch.ArchMLP, "mlp or cnn")
	device := flag.String("device", "cpu", "cpu or cuda[:N]")
	threads := flag.Int("threads", 1, "libtorch CPU threads")
	epochs := flag.Int("epochs", 1, "training epochs")
	batch := flag.Int("batch", 64, "rows per training step or per inference call")
	lr := flag.Float64("lr", 1e-3, "peak Adam learning rate (cosine decay over the run)")
	seed := flag.Uint64("seed", 1, "seed of the weights and of the example order")
	passes := flag.Int("passes", 3, "timed passes over the test split (inference)")
	data := flag.String("data", distill.FashionMNISTDir, "folder of the Fashion-MNIST IDX files")
	flag.Parse()
	if err := run(*mode, *model, *device, *threads, *epochs, *batch, *lr, *seed, *passes, *data); err != nil {
		fmt.Fprintln(os.Stderr, "benchtorch:", err)
		os.Exit(1)
	}
}

func run(mode, arch, device string, threads, epochs, batch int, lr float64, seed uint64, passes int, data string) error {
	if mode == "env" {
		return printEnv(threads)
	}
	train, test, err := distill.LoadFashionMNIST(data)
	if err != nil {
		return err
	}
	pools, err := distill.SplitPools(train, test)
	if err != nil {
		return err
	}
	dev, err := torch.ParseDevice(device)
	if err != nil {
		return err
	}
	// The engine as peer.Train builds it (peer/train.go newEngine).
	if err := torch.SetNumThreads(threads); err != nil {
		return err
	}
	if err := torch.SetSeed(seed); err != nil {
		return err
	}
	m, err := torch.NewModel(arch, dev)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.SetOptimizer(torch.Optimizer{Kind: torch.OptAdam, LR: lr}); err != nil {
		return err
	}
	info, err := torch.RuntimeInfo()
	if err != nil {
		return err
	}
	res := result{Side: "go", Mode: mode, Model: arch, Threads: threads, Runtime: info, Batch: batch}
	switch mode {
	case "train":
		err = trainRun(m, pools, epochs, batch, lr, seed, &res)
	case "infer":
		err = inferRun(m, pools, batch, passes, &res)
	default:
		err = fmt.Errorf("mode %q: want train or infer", mode)
	}
	if err != nil {
		return err
	}
	if res.VmHWMKB, err = peakRSS(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// trainRun is peer.Train's torch.Fit over the whole training split, then
// its evaluation on the report pool.
func trainRun(m *torch.Model, p *distill.Pools, epochs, batch int, lr float64, seed uint64, res *result) error {
	cfg := torch.FitConfig{Epochs: epochs, Batch: batch, Seed: seed, LR: lr,
		OnEpoch: func(s torch.EpochStats) { res.EpochS = append(res.EpochS, s.Duration.Seconds()) }}
	if _, err := torch.Fit(context.Background(), m, p.Train, p.All, cfg); err != nil {
		return err
	}
	ev, err := torch.Evaluate(m, p.Test, p.Report, 1000)
	if err != nil {
		return err
	}
	res.Accuracy = ev.Accuracy
	return nil
}

// inferRun times Forward over the whole test split in batches of batch
// rows, passes times after one untimed pass.
func inferRun(m *torch.Model, p *distill.Pools, batch, passes int, res *result) error {
	n := p.Test.Len()
	f := p.Test.Features()
	var xs [][]float32
	for s := 0; s < n; s += batch {
		idx := make([]int, 0, batch)
		for i := s; i < min(s+batch, n); i++ {
			idx = append(idx, i)
		}
		x := make([]float32, len(idx)*f)
		p.Test.Fill(idx, x, nil)
		xs = append(xs, x)
	}
	pass := func() error {
		for _, x := range xs {
			if _, err := m.Forward(x); err != nil {
				return err
			}
		}
		return nil
	}
	if err := pass(); err != nil {
		return err
	}
	runtime.GC()
	start := time.Now()
	for range passes {
		if err := pass(); err != nil {
			return err
		}
	}
	res.RowsPerS = float64(passes*n) / time.Since(start).Seconds()
	return nil
}

// printEnv prints the runtime description after SetNumThreads(threads)
// and the environment that reproduces its settings in another process, as
// one JSON object {"runtime": ..., "env": {...}}.
func printEnv(threads int) error {
	if err := torch.SetNumThreads(threads); err != nil {
		return err
	}
	info, err := torch.RuntimeInfo()
	if err != nil {
		return err
	}
	env := map[string]string{}
	for _, v := range []string{"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} {
		if s := os.Getenv(v); s != "" {
			env[v] = s
		}
	}
	if m := blasRE.FindStringSubmatch(info); m != nil {
		env["OPENBLAS_NUM_THREADS"] = m[1]
	}
	if m := mallocRE.FindStringSubmatch(info); m != nil {
		mib := func(s string) string { n, _ := strconv.Atoi(s); return strconv.Itoa(n << 20) }
		env["MALLOC_MMAP_THRESHOLD_"], env["MALLOC_TRIM_THRESHOLD_"], env["MALLOC_TOP_PAD_"] = mib(m[1]), mib(m[2]), mib(m[3])
	}
	for _, v := range os.Environ() {
		if name, value, _ := strings.Cut(v, "="); strings.HasPrefix(name, "MALLOC_") || name == "GLIBC_TUNABLES" {
			env[name] = value
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"runtime": info, "env": env})
}

// The parts of torch.RuntimeInfo that printEnv turns into variables.
var (
	blasRE   = regexp.MustCompile(`blas threads (\d+) \(openblas\)`)
	mallocRE = regexp.MustCompile(`mmap threshold (\d+) MiB, trim threshold (\d+) MiB, top pad (\d+) MiB`)
)

// peakRSS is the process's peak resident set size (VmHWM), in KiB.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
