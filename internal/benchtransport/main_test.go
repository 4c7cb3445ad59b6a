package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs every side at every size once per repetition with
// little data (answers are checked bit-exact inside) and reads the report
// back.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real servers for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Reps: 3, MiB: 1, Inflight: 4, Out: filepath.Join(t.TempDir(), "bench-transport.json"), Machine: "test"}
	var out bytes.Buffer
	if err := Run(ctx, cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"streaming Forward", "stream/raw", "topk-k16-float32", "goals:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	forward := 0
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Name, "forward-") {
			forward++
			if !(r.Value > 0 && r.Baseline > 0 && r.Ratio > 0) || r.Unit != "MB/s" {
				t.Errorf("row %+v: want positive MB/s figures", r)
			}
		}
	}
	if forward != len(cfg.sizes()) || len(rep.Samples) != 3*len(cfg.sizes()) {
		t.Fatalf("%d forward rows and %d samples for %d sizes", forward, len(rep.Samples), len(cfg.sizes()))
	}
}
