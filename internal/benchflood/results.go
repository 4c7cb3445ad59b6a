package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/taonet/taonet/internal/benchresult"
)

// entry and newEntry are the figures of results/*.json (internal/benchresult).
type entry = benchresult.Entry

var newEntry = benchresult.NewEntry

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// entries are the figures of every flood.
func (r *report) entries() []entry {
	var out []entry
	for _, f := range r.floods {
		n := f.Name
		out = append(out,
			newEntry("peak-rss/"+n, "MiB", r.series(n, peakRSS), r.series(n, idleRSS)),
			newEntry("after-rss/"+n, "MiB", r.series(n, afterRSS), r.series(n, idleRSS)),
			newEntry("peak-fds/"+n, "fds", r.series(n, peakFDs), r.series(n, idleFDs)),
			newEntry("after-fds/"+n, "fds", r.series(n, afterFDs), r.series(n, idleFDs)),
			newEntry("peak-threads/"+n, "threads", r.series(n, peakThr), r.series(n, idleThr)),
			newEntry("log-bytes-added/"+n, "bytes", r.series(n, logAdded), r.series(n, logIdle)),
			newEntry("accepted/"+n, "of attempts", r.series(n, accepted), r.series(n, attempts)),
			newEntry("legit-calls-ok/"+n, "calls", r.series(n, probesOK), r.series(n, probesN)),
			newEntry("legit-latency-median/"+n, "ms", r.series(n, probeMed), r.series(n, idleProbe)),
		)
	}
	return out
}

// runSample is one run in the report's samples.
type runSample struct {
	Flood        string         `json:"flood"`
	Rep          int            `json:"rep"`
	Attempts     int            `json:"attempts"`
	Accepted     int            `json:"accepted"`
	Refused      map[string]int `json:"refused"`
	Notes        map[string]int `json:"notes,omitempty"`
	Seconds      float64        `json:"flood_seconds"`
	TotalSeconds float64        `json:"seconds_with_hold"`
	IdleRSSMiB   float64        `json:"idle_rss_mib"`
	PeakRSSMiB   float64        `json:"peak_rss_mib"`
	AfterRSSMiB  float64        `json:"after_rss_mib"`
	HWMMiB       float64        `json:"vmhwm_mib"`
	IdleFDs      int            `json:"idle_fds"`
	PeakFDs      int            `json:"peak_fds"`
	AfterFDs     int            `json:"after_fds"`
	Samples      int            `json:"samples"`
	LogIdle      int64          `json:"log_bytes_idle"`
	LogAdded     int64          `json:"log_bytes_added"`
	LogLines     int            `json:"log_lines_added"`
	LegitOK      int            `json:"legit_ok"`
	LegitCalls   int            `json:"legit_calls"`
	LegitMedMs   float64        `json:"legit_median_ms"`
	LegitMaxMs   float64        `json:"legit_max_ms"`
	LegitIdleMs  float64        `json:"legit_idle_median_ms"`
	MaxOpenFiles int            `json:"coordinator_max_open_files"`
	StopErr      string         `json:"stop_error,omitempty"`
}

func (r *report) samples() []runSample {
	out := make([]runSample, len(r.runs))
	for i, x := range r.runs {
		ok, med, worst := probeStats(x.Probes)
		_, idle, _ := probeStats(x.IdleProbes)
		out[i] = runSample{
			Flood: x.Flood, Rep: x.Rep, Attempts: x.Out.Attempts, Accepted: x.Out.Accepted, Refused: x.Out.Refused, Notes: x.Out.Notes,
			Seconds: round3(x.Out.Elapsed.Seconds()), TotalSeconds: round3(x.Duration.Seconds()), IdleRSSMiB: round3(idleRSS(x)), PeakRSSMiB: round3(peakRSS(x)),
			AfterRSSMiB: round3(afterRSS(x)), HWMMiB: round3(hwm(x)), IdleFDs: x.Idle.FDs, PeakFDs: x.Peak.FDs, AfterFDs: x.After.FDs,
			Samples: x.Peak.Samples, LogIdle: x.LogIdle, LogAdded: x.LogAdded, LogLines: x.LogLines,
			LegitOK: ok, LegitCalls: len(x.Probes), LegitMedMs: round3(med), LegitMaxMs: round3(worst), LegitIdleMs: round3(idle),
			MaxOpenFiles: x.MaxOpenFiles, StopErr: x.StopErr,
		}
	}
	return out
}

// write writes the JSON report to path.
func (r *report) write(path string) error {
	s := r.s
	machine := s.Machine
	if machine == "" {
		machine = fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	}
	sizes := map[string]int{}
	whats := map[string]string{}
	for _, f := range r.floods {
		sizes[f.Name], whats[f.Name] = f.Size, f.What
	}
	doc := map[string]any{
		"bench":   "bench-flood",
		"date":    time.Now().UTC().Format(time.RFC3339),
		"machine": machine,
		"commit":  s.Commit,
		"settings": map[string]any{
			"go": runtime.Version(), "gomaxprocs": gomaxprocs(), "reps": s.Reps,
			"flood_sizes": sizes, "floods": whats, "inflight": s.Inflight, "stream_conns": s.StreamConns,
			"hold": s.Hold.String(), "settle": s.Settle.String(), "sample_every": s.SampleEvery.String(),
			"legit_client": fmt.Sprintf("peer legit from %s: ListPeers on a fresh connection every %v, %v deadline; %d calls at idle first", legitSource, s.ProbeEvery, probeTimeout, idleProbes),
			"limits":       s.limitsLine(),
			"coordinator":  "a fresh `coordinator serve --listen 127.0.0.1:0 --round-every 0` per flood and rep, default limits, two peers enrolled",
		},
		"ratio": "value / baseline, both medians over reps; ratio_min/max paired by rep. Baselines are the same process at idle: " +
			"peak-*/after-*: idle RSS, fds, threads; log-bytes-added: the log's size at idle (start, two enrollments, five calls); " +
			"accepted: attempts; legit-calls-ok: calls made; legit-latency-median: the legitimate client's median at idle",
		"results": r.entries(),
		"samples": r.samples(),
	}
	return benchresult.WriteJSON(path, doc)
}
