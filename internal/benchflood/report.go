package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/taonet/taonet/internal/benchresult"
)

// stat is min, median and max of one quantity over the repetitions.
type stat = benchresult.Stat

func statOf(v []float64) stat { return benchresult.StatOf(v) }

// ratios are a[i]/b[i], pairing the figures of one repetition.
func ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// probeStats are the legitimate calls of one run: how many answered OK,
// and the median and max latency of all of them, in milliseconds.
func probeStats(ps []probeResult) (ok int, median, worst float64) {
	lat := make([]float64, len(ps))
	for i, p := range ps {
		lat[i] = ms(p.Latency)
		if p.Code == "OK" {
			ok++
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0
	}
	st := statOf(lat)
	return ok, st.Median, st.Max
}

// report is what Run measured.
type report struct {
	s      Settings
	floods []flood
	runs   []*runResult
}

// of is the runs of flood name, in repetition order.
func (r *report) of(name string) []*runResult {
	var out []*runResult
	for _, x := range r.runs {
		if x.Flood == name {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b *runResult) int { return a.Rep - b.Rep })
	return out
}

// series is one figure of every run of flood name.
func (r *report) series(name string, fig func(*runResult) float64) []float64 {
	runs := r.of(name)
	out := make([]float64, len(runs))
	for i, x := range runs {
		out[i] = fig(x)
	}
	return out
}

// Figures of one run.
var (
	idleRSS   = func(x *runResult) float64 { return mib(x.Idle.Status.RSS) }
	peakRSS   = func(x *runResult) float64 { return mib(x.Peak.RSS) }
	afterRSS  = func(x *runResult) float64 { return mib(x.After.Status.RSS) }
	hwm       = func(x *runResult) float64 { return mib(x.After.Status.HWM) }
	idleFDs   = func(x *runResult) float64 { return float64(x.Idle.FDs) }
	peakFDs   = func(x *runResult) float64 { return float64(x.Peak.FDs) }
	afterFDs  = func(x *runResult) float64 { return float64(x.After.FDs) }
	idleThr   = func(x *runResult) float64 { return float64(x.Idle.Status.Threads) }
	peakThr   = func(x *runResult) float64 { return float64(x.Peak.Threads) }
	logAdded  = func(x *runResult) float64 { return float64(x.LogAdded) }
	logIdle   = func(x *runResult) float64 { return float64(x.LogIdle) }
	logLines  = func(x *runResult) float64 { return float64(x.LogLines) }
	accepted  = func(x *runResult) float64 { return float64(x.Out.Accepted) }
	attempts  = func(x *runResult) float64 { return float64(x.Out.Attempts) }
	seconds   = func(x *runResult) float64 { return x.Out.Elapsed.Seconds() }
	probesOK  = func(x *runResult) float64 { ok, _, _ := probeStats(x.Probes); return float64(ok) }
	probesN   = func(x *runResult) float64 { return float64(len(x.Probes)) }
	probeMed  = func(x *runResult) float64 { _, m, _ := probeStats(x.Probes); return m }
	probeMax  = func(x *runResult) float64 { _, _, m := probeStats(x.Probes); return m }
	idleProbe = func(x *runResult) float64 { _, m, _ := probeStats(x.IdleProbes); return m }
)

// codeStats are, for every refusal reason seen in any run of name, its
// count in each run (0 where absent).
func (r *report) codeStats(name string, notes bool) map[string][]float64 {
	runs := r.of(name)
	out := map[string][]float64{}
	for i, x := range runs {
		m := x.Out.Refused
		if notes {
			m = x.Out.Notes
		}
		for k, n := range m {
			if out[k] == nil {
				out[k] = make([]float64, len(runs))
			}
			out[k][i] = float64(n)
		}
	}
	return out
}

// formatStats writes "K min/median/max" for every reason, largest first.
func formatStats(m map[string][]float64) string {
	med := map[string]int{}
	for k, v := range m {
		med[k] = int(statOf(v).Median)
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if med[a] != med[b] {
			return med[b] - med[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %s", k, countStat(statOf(m[k])))
	}
	if out == "" {
		return "none"
	}
	return out
}

// countStat is "n" when every repetition agrees, else "min/median/max".
func countStat(st stat) string {
	if st.Min == st.Max {
		return fmt.Sprintf("%.0f", st.Min)
	}
	return fmt.Sprintf("%.0f/%.0f/%.0f", st.Min, st.Median, st.Max)
}

// ratioStat is the ratio of the medians with the min-max of the ratios
// paired by repetition.
func ratioStat(value, baseline []float64) string {
	q := statOf(ratios(value, baseline))
	return fmt.Sprintf("%.2f (%.2f-%.2f)", statOf(value).Median/statOf(baseline).Median, q.Min, q.Max)
}

func f1(st stat) string { return fmt.Sprintf("%6.1f %6.1f %6.1f", st.Min, st.Median, st.Max) }
func f0(st stat) string { return fmt.Sprintf("%5.0f %5.0f %5.0f", st.Min, st.Median, st.Max) }

// print writes the three tables: what the coordinator accepted and
// refused, the process's resources, and the legitimate client's calls.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nwhat the coordinator accepted and refused (counts per flood; \"a/b/c\" is min/median/max over %d reps where they differ)\n", r.s.Reps)
	fmt.Fprintf(w, "%-18s | %8s | %-11s | %-60s | %s\n", "flood", "attempts", "accepted", "refused, by gRPC code or what happened", "flood s, attempts/s (medians)")
	for _, f := range r.floods {
		sec := statOf(r.series(f.Name, seconds))
		rate := statOf(ratios(r.series(f.Name, attempts), r.series(f.Name, seconds)))
		fmt.Fprintf(w, "%-18s | %8s | %-11s | %-60s | %5.1f, %7.0f\n", f.Name, countStat(statOf(r.series(f.Name, attempts))),
			countStat(statOf(r.series(f.Name, accepted))), formatStats(r.codeStats(f.Name, false)), sec.Median, rate.Median)
		if notes := r.codeStats(f.Name, true); len(notes) > 0 {
			fmt.Fprintf(w, "%-18s   then: %s\n", "", formatStats(notes))
		}
	}
	fmt.Fprintln(w, "(Unauthenticated: the auth check refused a call without a certificate, or Enroll's token check a call that got past both Enroll rate limits;")
	fmt.Fprintln(w, " ResourceExhausted: a bound (MaxHealthWatches, MaxWatches, the Renew and Enroll rates); accepted: streams and connections held open, calls answered OK)")
	fmt.Fprintf(w, "\nthe coordinator process, idle against its peak while flooded (sampled every %v); min median max over reps; ratio: peak / idle of the same process, ratio of medians (min-max of the per-rep ratios)\n", r.s.SampleEvery)
	fmt.Fprintf(w, "%-18s | %-20s | %-20s | %-19s | %-18s | %-17s | %-17s | %-19s | %-11s | %s\n", "flood", "idle RSS MiB", "peak RSS MiB", "RSS ratio",
		"after RSS, HWM MiB", "idle fds", "peak fds", "fd ratio", "threads", "log added: KiB, lines (idle log KiB)")
	for _, f := range r.floods {
		n := f.Name
		iR, pR, iF, pF := r.series(n, idleRSS), r.series(n, peakRSS), r.series(n, idleFDs), r.series(n, peakFDs)
		after := fmt.Sprintf("%6.1f, %6.1f", statOf(r.series(n, afterRSS)).Median, statOf(r.series(n, hwm)).Median)
		fmt.Fprintf(w, "%-18s | %s | %s | %-19s | %-18s | %s | %s | %-19s | %4.0f->%4.0f | %.1f, %.0f (%.1f)\n", n,
			f1(statOf(iR)), f1(statOf(pR)), ratioStat(pR, iR), after,
			f0(statOf(iF)), f0(statOf(pF)), ratioStat(pF, iF), statOf(r.series(n, idleThr)).Median, statOf(r.series(n, peakThr)).Median,
			statOf(r.series(n, logAdded)).Median/1024, statOf(r.series(n, logLines)).Median, statOf(r.series(n, logIdle)).Median/1024)
	}
	fmt.Fprintf(w, "(after: %v after the flood was released; HWM: VmHWM then, the peak of the process's whole life; threads: median idle -> median peak; log: medians; the coordinator's open-file limit: %s)\n",
		r.s.Settle, r.maxOpenFiles())
	fmt.Fprintf(w, "\nthe legitimate client during each flood (peer %q from %s: ListPeers on a fresh connection, dial and handshake included, every %v, %v deadline; %d calls at idle first)\n",
		"legit", legitSource, r.s.ProbeEvery, probeTimeout, idleProbes)
	fmt.Fprintf(w, "%-18s | %-14s | %-20s | %-10s | %-14s | %s\n", "flood", "OK / calls", "median ms (min-max)", "  worst ms", "idle median ms", "median / idle")
	for _, f := range r.floods {
		n := f.Name
		ok, calls := r.series(n, probesOK), r.series(n, probesN)
		med := r.series(n, probeMed)
		medCol := fmt.Sprintf("%6.1f (%.1f-%.1f)", statOf(med).Median, statOf(med).Min, statOf(med).Max)
		fmt.Fprintf(w, "%-18s | %5.0f / %-6.0f | %-20s | %10.1f | %14.1f | %s\n", n, sum(ok), sum(calls),
			medCol, statOf(r.series(n, probeMax)).Max,
			statOf(r.series(n, idleProbe)).Median, ratioStat(med, r.series(n, idleProbe)))
		if failed := r.failedProbes(n); failed != "" {
			fmt.Fprintf(w, "%-18s   failed calls: %s\n", "", failed)
		}
	}
	for _, x := range r.runs {
		if x.StopErr != "" {
			fmt.Fprintf(w, "rep %d, %s: the coordinator did not stop cleanly: %s\n", x.Rep, x.Flood, x.StopErr)
		}
	}
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

// failedProbes counts the legitimate calls of name that failed, by code.
func (r *report) failedProbes(name string) string {
	m := map[string]int{}
	for _, x := range r.of(name) {
		for _, p := range x.Probes {
			if p.Code != "OK" {
				m[p.Code]++
			}
		}
	}
	return formatCounts(m)
}

// maxOpenFiles is the coordinators' soft descriptor limit, or the range
// of them if they differ.
func (r *report) maxOpenFiles() string {
	lo, hi := r.runs[0].MaxOpenFiles, r.runs[0].MaxOpenFiles
	for _, x := range r.runs {
		lo, hi = min(lo, x.MaxOpenFiles), max(hi, x.MaxOpenFiles)
	}
	name := func(n int) string {
		if n < 0 {
			return "unlimited"
		}
		return fmt.Sprint(n)
	}
	if lo == hi {
		return name(lo)
	}
	return name(lo) + "-" + name(hi)
}
