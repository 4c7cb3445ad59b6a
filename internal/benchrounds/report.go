package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/taonet/taonet/internal/benchresult"
)

// Goals of the benchmark.
const (
	// goalPerPeer: time per peer at the largest size over time per peer at
	// the smallest; at most 1 is linear or better.
	goalPerPeer = 1.0
	// goalMarginal: the cost of one more peer between the two largest
	// sizes over that between the two smallest. A fixed cost per round
	// makes goalPerPeer easy to meet; this one is not. Above 1 plus the
	// noise allowance the overhead grows faster than linearly.
	goalMarginal = 1.25
	// goalMemory: heap in use after Late rounds over after Early rounds.
	goalMemory = 1.10
)

// phaseNames are the parts of a round in roundTime.
var phaseNames = []string{"open-send", "answers", "score-settle"}

// stat is min, median and max of one quantity.
type stat struct{ Min, Median, Max float64 }

func statOf(v []float64) stat {
	s := slices.Clone(v)
	slices.Sort(s)
	return stat{Min: s[0], Median: median(s), Max: s[len(s)-1]}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// totals are the rounds' Total times in milliseconds.
func totals(ts []roundTime) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = float64(t.Total) / 1e6
	}
	return out
}

// phase is one phase of the rounds in milliseconds.
func phase(ts []roundTime, name string) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		d := map[string]time.Duration{"open-send": t.OpenSend, "answers": t.Answers, "score-settle": t.ScoreSettle}[name]
		out[i] = float64(d) / 1e6
	}
	return out
}

func ms(v float64) string    { return fmt.Sprintf("%.2fms", v) }
func mib(b uint64) float64   { return float64(b) / (1 << 20) }
func verdict(ok bool) string { return map[bool]string{true: "met", false: "NOT met"}[ok] }
func ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

// report is what Run measured.
type report struct {
	s   Settings
	sc  *scaling
	mem []*memResult
}

// perRep is the median of one phase ("total" or a phase name) of each
// repetition at n peers, in milliseconds, in repetition order.
func (r *report) perRep(n int, name string) []float64 {
	var out []float64
	for _, b := range r.sc.Blocks {
		if b.Peers != n {
			continue
		}
		switch name {
		case "total":
			out = append(out, median(totals(b.Rounds)))
		case "cpu":
			out = append(out, float64(b.CPU)/1e6)
		default:
			out = append(out, median(phase(b.Rounds, name)))
		}
	}
	return out
}

// perPeer is perRep divided by n, in microseconds.
func (r *report) perPeer(n int, name string) []float64 {
	out := r.perRep(n, name)
	for i := range out {
		out[i] *= 1000 / float64(n)
	}
	return out
}

// marginal is, per repetition, the cost in microseconds of one more peer
// between sizes a and b.
func (r *report) marginal(a, b int) []float64 {
	ta, tb := r.perRep(a, "total"), r.perRep(b, "total")
	out := make([]float64, len(ta))
	for i := range ta {
		out[i] = (tb[i] - ta[i]) * 1000 / float64(b-a)
	}
	return out
}

// entry and newEntry are the figures of results/*.json (internal/benchresult).
type entry = benchresult.Entry

var newEntry = benchresult.NewEntry

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// entries are every figure, scaling first.
func (r *report) entries() []entry { return append(r.scalingEntries(), r.memEntries()...) }

// scalingEntries are the figures of the timed sizes.
func (r *report) scalingEntries() []entry {
	base := r.s.Peers[0]
	var out []entry
	for _, n := range r.s.Peers {
		out = append(out, newEntry(fmt.Sprintf("round-overhead/peers=%d", n), "ms/round", r.perRep(n, "total"), r.perRep(base, "total")))
	}
	for _, name := range append([]string{"total", "cpu"}, phaseNames...) {
		for _, n := range r.s.Peers[1:] {
			out = append(out, newEntry(fmt.Sprintf("%s-per-peer/peers=%d", name, n), "us/peer", r.perPeer(n, name), r.perPeer(base, name)))
		}
	}
	p := r.s.Peers
	k := len(p)
	return append(out, newEntry(fmt.Sprintf("marginal-per-peer/%d-%d", p[k-2], p[k-1]), "us/peer", r.marginal(p[k-2], p[k-1]), r.marginal(p[0], p[1])))
}

// memEntries are the figures of the memory runs: each after Late rounds
// against after Early rounds.
func (r *report) memEntries() []entry {
	var out []entry
	for _, n := range r.s.MemPeers {
		var heapL, heapE, rssL, rssE, gL, gE, tL, tE []float64
		for _, m := range r.mem {
			if m.Peers != n {
				continue
			}
			heapL, heapE = append(heapL, mib(m.Late.HeapInuse)), append(heapE, mib(m.Early.HeapInuse))
			rssL, rssE = append(rssL, mib(m.Late.RSS)), append(rssE, mib(m.Early.RSS))
			gL, gE = append(gL, float64(m.Late.Goroutines)), append(gE, float64(m.Early.Goroutines))
			tL, tE = append(tL, median(m.LateTimes)), append(tE, median(m.EarlyTimes))
		}
		if len(heapL) == 0 {
			continue
		}
		out = append(out,
			newEntry(fmt.Sprintf("heap-inuse-after-%d-rounds/peers=%d", r.s.Late, n), "MiB", heapL, heapE),
			newEntry(fmt.Sprintf("rss-after-%d-rounds/peers=%d", r.s.Late, n), "MiB", rssL, rssE),
			newEntry(fmt.Sprintf("goroutines-after-%d-rounds/peers=%d", r.s.Late, n), "goroutines", gL, gE),
			newEntry(fmt.Sprintf("round-overhead-near-round-%d/peers=%d", r.s.Late, n), "ms/round", tL, tE))
	}
	return out
}

// print writes the tables and the goals.
func (r *report) print(w io.Writer) {
	base := r.s.Peers[0]
	fmt.Fprintf(w, "\nround overhead (RunRound minus the %v distill wait): per rep the median of %d rounds; min / median / max over %d reps\n", r.s.Distill, r.s.Rounds, r.s.Reps)
	fmt.Fprintf(w, "%6s | %-26s | %-26s | %-16s | %-22s | %s\n", "peers", "ms/round", "us/peer",
		"per-peer ratio", "CPU ms/round, ratio", "median ms: open-send / answers / score-settle")
	for _, n := range r.s.Peers {
		t, pp := statOf(r.perRep(n, "total")), statOf(r.perPeer(n, "total"))
		q := statOf(ratios(r.perPeer(n, "total"), r.perPeer(base, "total")))
		cpu, cq := median(r.perRep(n, "cpu")), median(r.perPeer(n, "cpu"))/median(r.perPeer(base, "cpu"))
		fmt.Fprintf(w, "%6d | %7.2f %8.2f %8.2f | %7.1f %8.1f %8.1f | %4.2f (%4.2f-%4.2f) | %9.1f  %5.2f      | %.2f / %.2f / %.2f\n", n,
			t.Min, t.Median, t.Max, pp.Min, pp.Median, pp.Max, pp.Median/statOf(r.perPeer(base, "total")).Median, q.Min, q.Max,
			cpu, cq, median(r.perRep(n, phaseNames[0])), median(r.perRep(n, phaseNames[1])), median(r.perRep(n, phaseNames[2])))
	}
	fmt.Fprintf(w, "(per-peer ratio: us/peer at N over us/peer at %d, median, and its min-max paired by rep; CPU: the whole process's user+system time per round)\n", base)
	p, k := r.s.Peers, len(r.s.Peers)
	mLast, mFirst := statOf(r.marginal(p[k-2], p[k-1])), statOf(r.marginal(p[0], p[1]))
	fmt.Fprintf(w, "marginal cost of a peer: %d->%d %.1f us (%.1f-%.1f), %d->%d %.1f us (%.1f-%.1f)\n",
		p[0], p[1], mFirst.Median, mFirst.Min, mFirst.Max, p[k-2], p[k-1], mLast.Median, mLast.Min, mLast.Max)
	for _, n := range r.s.Peers {
		if c := r.sc.Warnings[n]; c > 0 {
			fmt.Fprintf(w, "  %d peers: %d warnings during the measured rounds, first: %q\n", n, c, r.sc.Messages[n])
		}
	}
	if len(r.mem) > 0 {
		fmt.Fprintf(w, "\nmemory after round %d vs round %d (whole process: coordinator and peers), min / median / max over runs\n", r.s.Late, r.s.Early)
		for _, e := range r.memEntries() {
			fmt.Fprintf(w, "  %-42s %9.2f vs %9.2f %-10s ratio %.3f (%.3f-%.3f)\n", e.Name, e.Value, e.Baseline, e.Unit, e.Ratio, e.RatioMin, e.RatioMax)
		}
		for _, m := range r.mem {
			if m.Warnings > 0 {
				fmt.Fprintf(w, "  %d peers: %d warnings in a memory run, first: %q\n", m.Peers, m.Warnings, m.Messages)
			}
		}
	}
	fmt.Fprintln(w, "\ngoals:")
	pp := r.perPeer(p[k-1], "total")
	ratio := median(pp) / median(r.perPeer(base, "total"))
	fmt.Fprintf(w, "  time per peer at %d / at %d <= %.2f: %.2f: %s\n", p[k-1], base, goalPerPeer, ratio, verdict(ratio <= goalPerPeer))
	mr := mLast.Median / mFirst.Median
	fmt.Fprintf(w, "  marginal cost per peer %d->%d / %d->%d <= %.2f (linear within noise): %.2f: %s\n", p[k-2], p[k-1], p[0], p[1], goalMarginal, mr, verdict(mr <= goalMarginal))
	for _, e := range r.memEntries() {
		if strings.HasPrefix(e.Name, "heap") {
			fmt.Fprintf(w, "  %s / after %d rounds <= %.2f: %.3f (max %.3f): %s\n", e.Name, r.s.Early, goalMemory, e.Ratio, e.RatioMax, verdict(e.Ratio <= goalMemory))
		}
	}
}

// write writes the JSON report.
func (r *report) write(path string) error {
	machine := r.s.Machine
	if machine == "" {
		machine = fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	}
	doc := map[string]any{
		"bench":   "bench-rounds",
		"date":    time.Now().UTC().Format(time.RFC3339),
		"machine": machine,
		"settings": map[string]any{
			"go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0),
			"peers": r.s.Peers, "reps": r.s.Reps, "rounds_per_rep": r.s.Rounds, "warmup_rounds": r.s.Warmup,
			"memory_peers": r.s.MemPeers, "memory_runs": r.s.MemReps, "memory_rounds": []int{r.s.Early, r.s.Late},
			"validation_samples": r.s.ValidationSamples, "batch": r.s.Batch,
			"distill_timeout_subtracted": r.s.Distill.String(), "eval_timeout": r.s.EvalTimeout.String(),
			"watch_buffer": r.s.WatchBuffer, "peer_call_rate": "raised to 1e6/s",
			"transport": "mutual TLS 1.3 gRPC over loopback, coordinator and peers in one process",
		},
		"ratio": fmt.Sprintf("value / baseline, both medians over repetitions; ratio_min/max paired by repetition. Goals: total-per-peer at the largest size / at %d peers <= %.2f; marginal-per-peer largest pair / smallest pair <= %.2f; heap-inuse after %d / after %d rounds <= %.2f",
			r.s.Peers[0], goalPerPeer, goalMarginal, r.s.Late, r.s.Early, goalMemory),
		"results": r.entries(),
	}
	return benchresult.WriteJSON(path, doc)
}
