package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/taonet/taonet/internal/benchresult"
)

// Goals of the Performance section.
const (
	goalRaw   = 0.8 // streaming Forward / raw TLS, 64 KiB to 4 MiB answers
	goalUnary = 1.5 // streaming / unary batches per second, small batches
)

// results gathers every repetition.
type results struct {
	sizes []sizeCase
	runs  map[string][][numSides]time.Duration
	topk  []topkResult
}

type topkResult struct {
	c           topkCase
	vocab, rows int
	bytes, full int
}

func (r *results) add(c sizeCase, d [numSides]time.Duration) {
	if r.runs == nil {
		r.runs = map[string][][numSides]time.Duration{}
	}
	if _, ok := r.runs[c.name]; !ok {
		r.sizes = append(r.sizes, c)
	}
	r.runs[c.name] = append(r.runs[c.name], d)
}

func (r *results) addTopK(c topkCase, vocab, rows, bytes, full int) {
	r.topk = append(r.topk, topkResult{c: c, vocab: vocab, rows: rows, bytes: bytes, full: full})
}

// stat is min, median and max of one quantity.
type stat = benchresult.Stat

func statOf(v []float64) stat { return benchresult.StatOf(v) }

// fmtStat is a stat as a table cell.
func fmtStat(s stat) string { return fmt.Sprintf("%7.1f %7.1f %7.1f", s.Min, s.Median, s.Max) }

// rates are MB/s (10^6 bytes of logits a second) and batches/s of one side
// over the repetitions of c.
func (r *results) rates(c sizeCase, s side) (mbps, bps []float64) {
	for _, d := range r.runs[c.name] {
		sec := d[s].Seconds()
		mbps = append(mbps, float64(c.totalBytes())/sec/1e6)
		bps = append(bps, float64(c.batches)/sec)
	}
	return mbps, bps
}

// pairRatios are num/den per repetition: the sides ran back to back, so
// each pair saw the same machine.
func pairRatios(num, den []float64) []float64 {
	out := make([]float64, len(num))
	for i := range num {
		out[i] = num[i] / den[i]
	}
	return out
}

func (r *results) print(w io.Writer, cfg Config) {
	fmt.Fprintf(w, "\nForward goodput, MB/s of logits (min median max over %d reps)\n", cfg.Reps)
	fmt.Fprintf(w, "%-12s | %-23s | %-23s | %-23s | %-22s | %s\n", "answer", "raw TLS 1.3 socket", "streaming Forward", "unary (1 RPC/batch)", "stream/raw (pairs)", "stream/unary batches/s")
	for _, c := range r.sizes {
		raw, _ := r.rates(c, sideRaw)
		st, stB := r.rates(c, sideStream)
		un, unB := r.rates(c, sideUnary)
		pr, pu := statOf(pairRatios(st, raw)), statOf(pairRatios(stB, unB))
		fmt.Fprintf(w, "%-12s | %s | %s | %s | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f)\n", c.name, fmtStat(statOf(raw)), fmtStat(statOf(st)), fmtStat(statOf(un)),
			statOf(st).Median/statOf(raw).Median, pr.Min, pr.Max, statOf(stB).Median/statOf(unB).Median, pu.Min, pu.Max)
	}
	fmt.Fprintf(w, "\nbatches/s (min median max)\n%-12s | %-23s | %-23s | %-23s\n", "answer", "raw TLS 1.3 socket", "streaming Forward", "unary (1 RPC/batch)")
	for _, c := range r.sizes {
		_, raw := r.rates(c, sideRaw)
		_, st := r.rates(c, sideStream)
		_, un := r.rates(c, sideUnary)
		fmt.Fprintf(w, "%-12s | %s | %s | %s\n", c.name, fmtStat(statOf(raw)), fmtStat(statOf(st)), fmtStat(statOf(un)))
	}
	fmt.Fprintf(w, "\ntop-k answers beside full float32 logits (%d rows, vocab %d)\n", r.topkRows(), r.topkVocab())
	for _, t := range r.topk {
		ratio := float64(t.bytes) / float64(t.full)
		goal := 2 * float64(t.c.k) / float64(t.vocab)
		fmt.Fprintf(w, "%-20s %9d bytes vs %9d: %.5f of full (goal <= 2k/vocab = %.5f): %s\n", t.c.name(), t.bytes, t.full, ratio, goal, verdict(ratio <= goal))
	}
	fmt.Fprintln(w, "\ngoals:")
	for _, c := range r.sizes {
		raw, _ := r.rates(c, sideRaw)
		st, stB := r.rates(c, sideStream)
		_, unB := r.rates(c, sideUnary)
		if c.classes > 10 {
			ratio := statOf(st).Median / statOf(raw).Median
			fmt.Fprintf(w, "  stream >= %.1fx raw TLS at %-8s %.2f: %s\n", goalRaw, c.name, ratio, verdict(ratio >= goalRaw))
		} else {
			ratio := statOf(stB).Median / statOf(unB).Median
			fmt.Fprintf(w, "  stream >= %.1fx unary at %-8s %.2f: %s\n", goalUnary, c.name, ratio, verdict(ratio >= goalUnary))
		}
	}
}

func (r *results) topkRows() int {
	if len(r.topk) == 0 {
		return 0
	}
	return r.topk[0].rows
}

func (r *results) topkVocab() int {
	if len(r.topk) == 0 {
		return 0
	}
	return r.topk[0].vocab
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// row is one figure of the report, in the house format.
type row struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
}

// sample is min/median/max of one side at one size.
type sample struct {
	Name       string `json:"name"`
	Side       string `json:"side"`
	MBps       stat   `json:"mb_per_s"`
	BatchesPS  stat   `json:"batches_per_s"`
	Batches    int    `json:"batches"`
	AnswerSize int    `json:"answer_bytes"`
}

type report struct {
	Bench    string         `json:"bench"`
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Settings map[string]any `json:"settings"`
	Ratio    string         `json:"ratio"`
	Results  []row          `json:"results"`
	Samples  []sample       `json:"samples"`
}

func (r *results) write(cfg Config) error {
	rep := report{
		Bench: "bench-transport", Date: time.Now().UTC().Format(time.RFC3339), Machine: cfg.Machine,
		Settings: map[string]any{"gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(), "reps": cfg.Reps,
			"mib_per_exchange": cfg.MiB, "unary_inflight": cfg.Inflight, "chunk_bytes": benchLimits().ChunkBytes,
			"network": "loopback, mutual TLS 1.3, client and server in one process"},
		Ratio: "forward-*: streaming Forward MB/s / raw TLS 1.3 socket MB/s, medians (goal >= 0.8 from 64KiB to 4MiB); " +
			"stream-vs-unary-*: streaming / unary batches per second, medians (goal >= 1.5 for small batches); " +
			"topk-*: top-k answer bytes / full float32 logits bytes (goal <= 2k/vocab)",
	}
	for _, c := range r.sizes {
		raw, _ := r.rates(c, sideRaw)
		st, _ := r.rates(c, sideStream)
		v, base := statOf(st).Median, statOf(raw).Median
		rep.Results = append(rep.Results, row{Name: "forward-" + c.name, Value: round3(v), Unit: "MB/s", Baseline: round3(base), Ratio: round3(v / base)})
	}
	for _, c := range r.sizes {
		_, stB := r.rates(c, sideStream)
		_, unB := r.rates(c, sideUnary)
		v, base := statOf(stB).Median, statOf(unB).Median
		rep.Results = append(rep.Results, row{Name: "stream-vs-unary-" + c.name, Value: round3(v), Unit: "batches/s", Baseline: round3(base), Ratio: round3(v / base)})
	}
	for _, t := range r.topk {
		rep.Results = append(rep.Results, row{Name: fmt.Sprintf("%s-vocab%d", t.c.name(), t.vocab), Value: float64(t.bytes) / float64(t.rows),
			Unit: "bytes/row", Baseline: float64(t.full) / float64(t.rows), Ratio: float64(int64(float64(t.bytes)/float64(t.full)*1e5+0.5)) / 1e5})
	}
	for _, c := range r.sizes {
		for s := range numSides {
			mb, b := r.rates(c, s)
			rep.Samples = append(rep.Samples, sample{Name: c.name, Side: s.String(), MBps: roundStat(statOf(mb)), BatchesPS: roundStat(statOf(b)),
				Batches: c.batches, AnswerSize: c.answerBytes()})
		}
	}
	data, err := rep.encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(cfg.Out, data, 0o644)
}

// encode writes the report as the other bench commands do: one line per
// figure.
func (rep report) encode() ([]byte, error) {
	var b bytes.Buffer
	compact := func(v any) string {
		var e bytes.Buffer
		enc := json.NewEncoder(&e)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			panic(err) // plain structs of numbers and strings
		}
		return strings.TrimSpace(e.String())
	}
	list := func(name string, n int, item func(int) any) {
		fmt.Fprintf(&b, ",\n  %q: [", name)
		for i := range n {
			sep := ","
			if i == n-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\n    %s%s", compact(item(i)), sep)
		}
		b.WriteString("\n  ]")
	}
	fmt.Fprintf(&b, "{\n  \"bench\": %s,\n  \"date\": %s,\n  \"machine\": %s,\n  \"settings\": %s,\n  \"ratio\": %s",
		compact(rep.Bench), compact(rep.Date), compact(rep.Machine), compact(rep.Settings), compact(rep.Ratio))
	list("results", len(rep.Results), func(i int) any { return rep.Results[i] })
	list("samples", len(rep.Samples), func(i int) any { return rep.Samples[i] })
	b.WriteString("\n}\n")
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("report: invalid JSON")
	}
	return b.Bytes(), nil
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func roundStat(s stat) stat {
	return stat{Min: round3(s.Min), Median: round3(s.Median), Max: round3(s.Max)}
}
