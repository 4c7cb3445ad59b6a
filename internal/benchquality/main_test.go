package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
)

// TestRunAndResume runs every method on a tiny network, checks what the
// outputs hold, and runs again to see the finished cells reused.
func TestRunAndResume(t *testing.T) {
	if _, err := os.Stat(filepath.Join(distill.FashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	dir := t.TempDir()
	args := []string{"-peers", "4", "-rounds", "2", "-local-steps", "3", "-transfer", "64", "-report", "100",
		"-warmup-epochs", "0", "-seeds", "1", "-alphas", "0.5", "-archs", "mlp", "-workers", "1",
		"-cells", filepath.Join(dir, "cells"), "-out", filepath.Join(dir, "q.json"),
		"-md", filepath.Join(dir, "q.md"), "-svg", filepath.Join(dir, "q.svg")}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	var s Summary
	b, err := os.ReadFile(filepath.Join(dir, "q.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, r := range s.Rows {
		got[r.Method] = r
		if len(r.Curve) != 3 || r.Seeds != 1 || !(r.Mean > 0 && r.Mean <= 1) {
			t.Errorf("%s: curve %v, seeds %d, mean %v", r.Method, r.Curve, r.Seeds, r.Mean)
		}
	}
	for _, m := range []string{mLocal, mTaonet, mTaoGrad, mAdv, mFedAvg, mCentral} {
		if _, ok := got[m]; !ok {
			t.Errorf("no row for %s", m)
		}
	}
	// Distillation sends 4 students x 3 teachers x (64 transfer + 32 hidden
	// rows) x (784 inputs + 10 logits) x 4 bytes, plus the coordinator's
	// 4 x 1,000 validation rows; gradients add 10 values per row.
	wantTaonet := float64(4*3*(64+32)*(784+10)*4+4*1000*(784+10)*4) / 1e6
	if r := got[mTaonet]; r.MBPerRound != round1(wantTaonet) {
		t.Errorf("taonet sends %v MB per round, want %v", r.MBPerRound, round1(wantTaonet))
	}
	if r := got[mTaoGrad]; !(r.MBPerRound >= got[mTaonet].MBPerRound) {
		t.Errorf("taonet with gradients sends %v MB per round, less than without", r.MBPerRound)
	}
	// With two of four peers adversaries only two students ask.
	if r := got[mAdv]; r.MBPerRound != round1(float64(2*3*(64+32)*(784+10)*4+4*1000*(784+10)*4)/1e6) {
		t.Errorf("taonet-adv sends %v MB per round", r.MBPerRound)
	}
	// The random answerer is paid nothing and the copier is a duplicate.
	if r := got[mAdv]; r.HonestShare != 1 {
		t.Errorf("the adversaries got %v of the emission", 1-r.HonestShare)
	}
	// FedAvg: every peer sends and receives the mlp's 235,146 parameters.
	if r := got[mFedAvg]; r.MBPerRound != round1(float64(4*2*4*235146)/1e6) {
		t.Errorf("fedavg sends %v MB per round", r.MBPerRound)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "q.md"))
	svg, _ := os.ReadFile(filepath.Join(dir, "q.svg"))
	if !strings.Contains(string(md), "| mlp | 0.5 | taonet | 1 |") || strings.Count(string(svg), "<polyline") != 6 {
		t.Errorf("markdown:\n%s\nsvg has %d lines", md, strings.Count(string(svg), "<polyline"))
	}
	cells, _ := filepath.Glob(filepath.Join(dir, "cells", "*.json"))
	if len(cells) != 6 {
		t.Fatalf("%d cells saved, want 6", len(cells))
	}
	// A second run reuses every cell: a cell file's results come back as
	// they were, even when doctored, which only a reused cell can show.
	c := Cell{Method: mLocal, Arch: "mlp", Alpha: 0.5, Seed: 1}
	o, err := parse(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loadCell(filepath.Join(dir, "cells"), c, o.p)
	if err != nil {
		t.Fatal(err)
	}
	res.Rounds[2].Mean = 0.999
	if err := saveCell(filepath.Join(dir, "cells"), res); err != nil {
		t.Fatal(err)
	}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "q.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Rows {
		if r.Method == mLocal && r.Mean != 0.999 {
			t.Errorf("the second run did not reuse the saved local cell: mean %v", r.Mean)
		}
	}
	// Other settings make other cells: the doctored one is not reused.
	if _, err := loadCell(filepath.Join(dir, "cells"), c, func() Params { p := o.p; p.LocalSteps = 4; return p }()); !os.IsNotExist(err) {
		t.Errorf("a cell of other settings was reused: %v", err)
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func TestParseRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-alphas", "0"}, {"-alphas", "x"}, {"-archs", "rnn"}, {"-methods", "fedprox"}, {"-peers", "1"},
		{"-seeds", ""}, {"-kd-mix", "2"}, {"-peers", "3"}, {"-workers", "0"}, {"extra"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
}
