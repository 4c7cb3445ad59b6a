package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// block is one repetition's rounds at one size.
type block struct {
	Peers  int
	Rep    int
	Rounds []roundTime
	// CPU is the process's CPU time (user and system, coordinator and
	// peers) per round over the block: less sensitive than wall time to
	// the other work on a shared machine.
	CPU time.Duration
}

// scaling is the interleaved measurement of every size.
type scaling struct {
	Blocks   []block
	Warnings map[int]int      // by size, during the measured rounds
	Messages map[int][]string // the first of them
}

// runScaling starts one network per size and keeps them all up, then for
// each repetition runs one unmeasured round and Rounds measured rounds on
// each network in turn, rotating the order every repetition, so drift of
// the machine is shared out among the sizes. At the end it checks every
// ledger.
func runScaling(ctx context.Context, s Settings, log io.Writer) (*scaling, error) {
	root, err := os.MkdirTemp("", "bench-rounds-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	nets := make([]*network, 0, len(s.Peers))
	defer func() {
		for _, nw := range nets {
			nw.close()
		}
	}()
	for _, n := range s.Peers {
		start := time.Now()
		nw, err := startNetwork(ctx, root, n, s)
		if err != nil {
			return nil, err
		}
		nets = append(nets, nw)
		missed, err := nw.warm(ctx, s.Warmup)
		if err != nil {
			return nil, err
		}
		setupWarn, _ := nw.warnings.take()
		fmt.Fprintf(log, "  %d peers enrolled, joined and warmed up in %v (%d warnings, %d answers not scored in %d warm-up rounds)\n",
			n, time.Since(start).Round(time.Millisecond), setupWarn, missed, s.Warmup)
	}
	res := &scaling{Warnings: map[int]int{}, Messages: map[int][]string{}}
	for rep := 1; rep <= s.Reps; rep++ {
		for k := range nets {
			nw := nets[(k+rep-1)%len(nets)]
			if _, err := nw.round(ctx, s); err != nil {
				return nil, err
			}
			cpu := cpuTime()
			times, err := nw.rounds(ctx, s, s.Rounds)
			if err != nil {
				return nil, err
			}
			cpu = (cpuTime() - cpu) / time.Duration(s.Rounds)
			res.Blocks = append(res.Blocks, block{Peers: nw.n, Rep: rep, Rounds: times, CPU: cpu})
			fmt.Fprintf(log, "  rep %d/%d, %3d peers: median %s\n", rep, s.Reps, nw.n, ms(median(totals(times))))
		}
	}
	for _, nw := range nets {
		n, msgs := nw.warnings.take()
		res.Warnings[nw.n], res.Messages[nw.n] = n, msgs
		if err := nw.verify(ctx, uint64(s.Warmup+s.Reps*(1+s.Rounds))); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// memSample is the process's memory after a round, once the round's
// events have been delivered and two collections have run.
type memSample struct {
	Round      int
	HeapInuse  uint64 // bytes
	HeapAlloc  uint64 // bytes
	RSS        uint64 // bytes, VmRSS
	Goroutines int
}

// memResult is one memory run of one size, in its own process.
type memResult struct {
	Peers       int
	Early, Late memSample
	// EarlyTimes and LateTimes are the round times (Total) of the ten
	// rounds before each sample, in milliseconds: does a round get slower
	// as the ledger grows?
	EarlyTimes, LateTimes []float64
	Warnings              int
	Messages              []string
}

// runMemory runs Late rounds on a network of n peers, sampling memory
// after rounds Early and Late, and checks the ledger. With heap set, it
// writes a heap profile at each sample, heap+".early" and heap+".late"
// (compare them with go tool pprof -base).
func runMemory(ctx context.Context, s Settings, n int, heap string, log io.Writer) (*memResult, error) {
	root, err := os.MkdirTemp("", "bench-rounds-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	nw, err := startNetwork(ctx, root, n, s)
	if err != nil {
		return nil, err
	}
	defer nw.close()
	nw.warnings.take()
	res := &memResult{Peers: n}
	for r := 1; r <= s.Late; r++ {
		t, err := nw.round(ctx, s)
		if err != nil {
			return nil, err
		}
		ms := float64(t.Total) / 1e6
		switch {
		case r > s.Early-10 && r <= s.Early:
			res.EarlyTimes = append(res.EarlyTimes, ms)
		case r > s.Late-10:
			res.LateTimes = append(res.LateTimes, ms)
		}
		if r == s.Early || r == s.Late {
			m := sampleMemory(r, s.Quiet)
			suffix := ".late"
			if r == s.Early {
				res.Early, suffix = m, ".early"
			} else {
				res.Late = m
			}
			if heap != "" {
				if err := writeHeapProfile(heap + suffix); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(log, "  %d peers, after round %d: heap in use %.1f MiB, RSS %.1f MiB, %d goroutines\n",
				n, r, mib(m.HeapInuse), mib(m.RSS), m.Goroutines)
		}
	}
	res.Warnings, res.Messages = nw.warnings.take()
	return res, nw.verify(ctx, uint64(s.Late))
}

// sampleMemory waits quiet for the round's events to reach every peer,
// collects twice and reads the heap and the process's RSS.
func sampleMemory(round int, quiet time.Duration) memSample {
	time.Sleep(quiet)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{Round: round, HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, RSS: vmRSS(), Goroutines: runtime.NumGoroutine()}
}

// cpuTime is the user and system time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmRSS is VmRSS from /proc/self/status in bytes, 0 where there is none.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// runMemoryChild runs runMemory in a fresh process of this program, so
// that the heap holds one network and nothing left by another.
func runMemoryChild(ctx context.Context, n int, log io.Writer) (*memResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), os.Args[1:]...), "-mode=memory", "-n="+strconv.Itoa(n), "-cpuprofile=", "-memprofile=")
	cmd := exec.CommandContext(ctx, exe, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("memory run of %d peers: %w", n, err)
	}
	var res memResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("memory run of %d peers: %w", n, err)
	}
	return &res, nil
}

// runProfile runs Rounds rounds on one network of n peers under the CPU
// profiler, then writes a heap profile.
func runProfile(ctx context.Context, s Settings, n int, cpu, heap string, log io.Writer) error {
	root, err := os.MkdirTemp("", "bench-rounds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	nw, err := startNetwork(ctx, root, n, s)
	if err != nil {
		return err
	}
	defer nw.close()
	start := time.Now()
	missed, err := nw.warm(ctx, s.Warmup)
	if err != nil {
		return err
	}
	warnings, first := nw.warnings.take()
	fmt.Fprintf(log, "%d peers joined; %d warm-up rounds in %v, %d answers not scored, %d warnings %q\n",
		n, s.Warmup, time.Since(start).Round(time.Millisecond), missed, warnings, first)
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	used := cpuTime()
	times, err := nw.rounds(ctx, s, s.Rounds)
	used = (cpuTime() - used) / time.Duration(s.Rounds)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	st := statOf(totals(times))
	fmt.Fprintf(log, "%d peers, %d rounds: round overhead min %s, median %s, max %s; CPU %s a round\n",
		n, s.Rounds, ms(st.Min), ms(st.Median), ms(st.Max), ms(float64(used)/1e6))
	for _, ph := range phaseNames {
		fmt.Fprintf(log, "  %-8s median %s\n", ph, ms(median(phase(times, ph))))
	}
	if heap == "" {
		return nil
	}
	runtime.GC()
	return writeHeapProfile(heap)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
