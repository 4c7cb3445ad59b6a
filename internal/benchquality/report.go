package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"
)

// Summary is what results/bench-quality.json holds.
type Summary struct {
	Bench    string         `json:"bench"`
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Commit   string         `json:"commit"`
	Mode     string         `json:"mode"`
	Settings map[string]any `json:"settings"`
	Note     string         `json:"note"`
	Rows     []Row          `json:"rows"`
	Cells    []*CellResult  `json:"cells"`
	Markdown string         `json:"-"`
	SVG      string         `json:"-"`
}

// Row is one method on one architecture and alpha, over the seeds: the
// means over seeds of each seed's figure, with the smallest and largest
// seed's figure.
type Row struct {
	Method    string  `json:"method"`
	Arch      string  `json:"arch"`
	Alpha     float64 `json:"alpha"` // 0 for central, which does not depend on it
	Seeds     int     `json:"seeds"`
	Rounds    int     `json:"rounds"`
	LocalOnly float64 `json:"local_only_accuracy"` // round 0, after the warm-up
	Mean      float64 `json:"mean_accuracy"`       // mean peer accuracy after the last round
	MeanMin   float64 `json:"mean_accuracy_min"`
	MeanMax   float64 `json:"mean_accuracy_max"`
	Worst     float64 `json:"worst_accuracy"` // worst peer's accuracy after the last round
	WorstMin  float64 `json:"worst_accuracy_min"`
	WorstMax  float64 `json:"worst_accuracy_max"`
	// MBPerRound is the mean tensor payload sent per round, in MB (10^6
	// bytes).
	MBPerRound float64 `json:"mb_per_round"`
	Dropped    float64 `json:"dropped_teachers_per_round,omitempty"`
	// HonestShare is the mean share of the emission paid to honest peers
	// over the rounds (taonet-adv), Ensemble the mean accuracy of the
	// students' ensembles on the transfer rows after the last round.
	HonestShare float64 `json:"honest_share,omitempty"`
	Ensemble    float64 `json:"ensemble_accuracy,omitempty"`
	// Clean is, for taonet-adv, the same honest peers' mean accuracy after
	// the last round of the taonet run without adversaries (same seeds).
	Clean float64 `json:"clean_accuracy,omitempty"`
	// Curve and WorstCurve are the mean over seeds per round, from round 0.
	Curve      []float64 `json:"curve"`
	WorstCurve []float64 `json:"worst_curve"`
}

var methodOrder = []string{mLocal, mFedAvg, mTaonet, mTaoGrad, mAdv, mCentral}

var methodLabel = map[string]string{
	mLocal:   "local-only",
	mFedAvg:  "FedAvg",
	mTaonet:  "taonet",
	mTaoGrad: "taonet + gradients",
	mAdv:     "taonet, 2 adversaries",
	mCentral: "centralized",
}

func summarize(o *options, cells []*CellResult, torchInfo string, cpus int) *Summary {
	s := &Summary{
		Bench: "bench-quality", Date: time.Now().UTC().Format(time.RFC3339), Machine: o.machine, Commit: o.commit, Mode: o.mode,
		Settings: map[string]any{
			"params":        o.p,
			"torch_threads": o.threads, "workers": o.workers, "cpus": cpus, "torch": torchInfo,
		},
		Note: "Fashion-MNIST; accuracy on the report pool (held-out test rows no party trains or scores on); " +
			"each seed is its own Dirichlet split and initialisation, the same for every method; " +
			"figures are means over seeds with the smallest and largest seed's value; " +
			"bytes are tensor payloads (inputs, logits, gradients, parameters) without protocol framing",
		Cells: cells,
	}
	type key struct {
		method, arch string
		alpha        float64
	}
	groups := map[key][]*CellResult{}
	var keys []key
	for _, c := range cells {
		if c == nil {
			continue
		}
		k := key{c.Method, c.Arch, c.Alpha}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	for _, k := range keys {
		g := groups[k]
		row := Row{Method: k.method, Arch: k.arch, Alpha: k.alpha, Seeds: len(g), Rounds: len(g[0].Rounds) - 1,
			MeanMin: math.Inf(1), MeanMax: math.Inf(-1), WorstMin: math.Inf(1), WorstMax: math.Inf(-1)}
		n := float64(len(g))
		row.Curve = make([]float64, len(g[0].Rounds))
		row.WorstCurve = make([]float64, len(g[0].Rounds))
		for _, c := range g {
			last := c.Rounds[len(c.Rounds)-1]
			row.LocalOnly += c.Rounds[0].Mean / n
			row.Mean += last.Mean / n
			row.Worst += last.Worst / n
			row.MeanMin, row.MeanMax = min(row.MeanMin, last.Mean), max(row.MeanMax, last.Mean)
			row.WorstMin, row.WorstMax = min(row.WorstMin, last.Worst), max(row.WorstMax, last.Worst)
			var bytes, dropped, honest float64
			for i, r := range c.Rounds {
				row.Curve[i] += r.Mean / n
				row.WorstCurve[i] += r.Worst / n
				bytes += float64(r.Bytes)
				dropped += float64(r.Dropped)
				honest += r.HonestShare
			}
			rounds := float64(len(c.Rounds) - 1)
			row.MBPerRound += bytes / rounds / 1e6 / n
			row.Dropped += dropped / rounds / n
			row.HonestShare += honest / rounds / n
			row.Ensemble += last.Ensemble / n
		}
		for i := range row.Curve {
			row.Curve[i], row.WorstCurve[i] = round4(row.Curve[i]), round4(row.WorstCurve[i])
		}
		row.LocalOnly, row.Mean, row.Worst = round4(row.LocalOnly), round4(row.Mean), round4(row.Worst)
		row.HonestShare, row.Ensemble = round4(row.HonestShare), round4(row.Ensemble)
		if k.method == mAdv {
			row.Clean = round4(cleanOf(g, groups[key{mTaonet, k.arch, k.alpha}]))
		}
		row.MBPerRound, row.Dropped = math.Round(row.MBPerRound*10)/10, math.Round(row.Dropped*10)/10
		s.Rows = append(s.Rows, row)
	}
	slices.SortFunc(s.Rows, func(a, b Row) int {
		if c := archRank(a.Arch) - archRank(b.Arch); c != 0 {
			return c
		}
		if (a.Method == mCentral) != (b.Method == mCentral) {
			if a.Method == mCentral {
				return 1
			}
			return -1
		}
		if a.Alpha != b.Alpha {
			if a.Alpha < b.Alpha {
				return -1
			}
			return 1
		}
		return slices.Index(methodOrder, a.Method) - slices.Index(methodOrder, b.Method)
	})
	s.Markdown = markdown(s, o)
	s.SVG = plot(s, o)
	return s
}

// cleanOf is the mean over adv's seeds of the honest peers' final
// accuracy in clean's run of the same seed (0 when a seed has none).
func cleanOf(adv, clean []*CellResult) float64 {
	sum, n := 0.0, 0
	for _, a := range adv {
		for _, c := range clean {
			if c.Seed != a.Seed {
				continue
			}
			peers := c.Rounds[len(c.Rounds)-1].Peers
			honest := peers[:len(peers)-2]
			m := 0.0
			for _, v := range honest {
				m += v / float64(len(honest))
			}
			sum += m
			n++
		}
	}
	if n != len(adv) {
		return 0
	}
	return sum / float64(n)
}

func archRank(a string) int { return slices.Index([]string{"mlp", "cnn", "mixed"}, a) }

func pct(v float64) string { return fmt.Sprintf("%.1f", 100*v) }

func markdown(s *Summary, o *options) string {
	var b strings.Builder
	rounds := o.p.Rounds
	fmt.Fprintf(&b, "Fashion-MNIST, %d peers, %d rounds of %d local steps (batch %d), %d transfer rows, KD mix %g at T=%g; %s run.\n\n",
		o.p.Peers, rounds, o.p.LocalSteps, o.p.Batch, o.p.Transfer, o.p.KDMix, o.p.KDTemp, s.Mode)
	fmt.Fprintf(&b, "| arch | alpha | method | seeds | local-only | mean acc. after %d rounds (seed range) | worst peer (seed range) | MB sent per round | honest share of emission |\n", rounds)
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.Rows {
		alpha := fmt.Sprintf("%g", r.Alpha)
		if r.Method == mCentral {
			alpha = "any"
		}
		mb := fmt.Sprintf("%.1f", r.MBPerRound)
		if r.Method == mLocal || r.Method == mCentral {
			mb = "0"
		}
		worst := fmt.Sprintf("%s (%s–%s)", pct(r.Worst), pct(r.WorstMin), pct(r.WorstMax))
		if r.Method == mCentral {
			worst = "—"
		}
		if r.Method == mAdv && r.Clean > 0 {
			worst += fmt.Sprintf("; same peers without adversaries: %s", pct(r.Clean))
		}
		share := "—"
		if r.Method == mTaonet || r.Method == mTaoGrad || r.Method == mAdv {
			share = fmt.Sprintf("%.2f%%", 100*r.HonestShare)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s (%s–%s) | %s | %s | %s |\n", r.Arch, alpha, methodLabel[r.Method], r.Seeds,
			pct(r.LocalOnly), pct(r.Mean), pct(r.MeanMin), pct(r.MeanMax), worst, mb, share)
	}
	b.WriteString("\nAccuracy in % on the report pool; \"mixed\" alternates mlp and cnn peers (FedAvg cannot average them); " +
		"with 2 adversaries (one answers random logits, one copies another peer) the figures are those of the other, honest peers.\n")
	return b.String()
}

var palette = map[string]string{
	mLocal: "#888888", mFedAvg: "#1f77b4", mTaonet: "#d62728", mTaoGrad: "#ff7f0e", mAdv: "#9467bd", mCentral: "#2ca02c",
}

// plot draws mean peer accuracy per round: one panel per architecture
// and alpha, one line per method (centralized in every alpha's panel).
func plot(s *Summary, o *options) string {
	type panel struct {
		arch  string
		alpha float64
	}
	var panels []panel
	var alphas []float64
	for _, r := range s.Rows {
		if r.Method != mCentral && !slices.Contains(alphas, r.Alpha) {
			alphas = append(alphas, r.Alpha)
		}
	}
	slices.Sort(alphas)
	for _, arch := range []string{"mlp", "cnn", "mixed"} {
		for _, a := range alphas {
			if slices.ContainsFunc(s.Rows, func(r Row) bool { return r.Arch == arch && r.Alpha == a }) {
				panels = append(panels, panel{arch, a})
			}
		}
	}
	const pw, ph, ml, mt, mb, mr = 340.0, 230.0, 44.0, 28.0, 34.0, 12.0
	cols := max(len(alphas), 1)
	rows := (len(panels) + cols - 1) / cols
	w, h := float64(cols)*pw, float64(rows)*ph+56
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	for i, p := range panels {
		x0, y0 := float64(i%cols)*pw, float64(i/cols)*ph
		ix, iy, iw, ih := x0+ml, y0+mt, pw-ml-mr, ph-mt-mb
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-weight="bold">%s, alpha %g</text>`+"\n", ix, y0+16, html.EscapeString(p.arch), p.alpha)
		lo, hi := 0.2, 1.0
		for _, t := range []float64{0.2, 0.4, 0.6, 0.8, 1.0} {
			y := iy + ih*(1-(t-lo)/(hi-lo))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n", ix, y, ix+iw, y, ix-4, y+4, t*100)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">round</text>`+"\n", ix+iw/2, iy+ih+28)
		for _, t := range []int{0, o.p.Rounds / 2, o.p.Rounds} {
			x := ix + iw*float64(t)/float64(max(o.p.Rounds, 1))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x, iy+ih+14, t)
		}
		for _, r := range s.Rows {
			if r.Arch != p.arch || (r.Alpha != p.alpha && r.Method != mCentral) {
				continue
			}
			var pts []string
			for k, v := range r.Curve {
				x := ix + iw*float64(k)/float64(max(len(r.Curve)-1, 1))
				y := iy + ih*(1-(max(v, lo)-lo)/(hi-lo))
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			dash := ""
			if r.Method == mCentral {
				dash = ` stroke-dasharray="5,3"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"><title>%s</title></polyline>`+"\n",
				palette[r.Method], dash, strings.Join(pts, " "), html.EscapeString(methodLabel[r.Method]))
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", ix, iy, iw, ih)
	}
	x := 10.0
	for _, m := range methodOrder {
		if !slices.ContainsFunc(s.Rows, func(r Row) bool { return r.Method == m }) {
			continue
		}
		if x+24+6*float64(len(methodLabel[m])) > w {
			break // no room: the table names every method anyway
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			x, h-36, x+20, h-36, palette[m], x+24, h-32, html.EscapeString(methodLabel[m]))
		x += 34 + 6*float64(len(methodLabel[m]))
	}
	fmt.Fprintf(&b, `<text x="10" y="%.1f" fill="#555">mean peer accuracy on the report pool after each round, mean over seeds; centralized dashed</text>`+"\n", h-12)
	b.WriteString("</svg>\n")
	return b.String()
}

func writeOutputs(o *options, s *Summary) error {
	j, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := writeAtomic(o.out, append(j, '\n')); err != nil {
		return err
	}
	if err := writeAtomic(o.md, []byte(s.Markdown)); err != nil {
		return err
	}
	return writeAtomic(o.svg, []byte(s.SVG))
}
