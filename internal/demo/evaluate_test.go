package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/internal/testdata"
)

// mustCheckpoint saves an mlp into dir/name, trained for epochs on the
// whole training split of data (0: as initialised).
func mustCheckpoint(tb testing.TB, data, dir, name string, epochs int) {
	tb.Helper()
	pools, err := loadPools(data)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := torch.NewModel(torch.ArchMLP, torch.CPU)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if epochs > 0 {
		if _, err := torch.Fit(context.Background(), m, pools.Train, pools.All, torch.FitConfig{Epochs: epochs, Batch: 32, Seed: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := m.Save(filepath.Join(dir, name)); err != nil {
		tb.Fatal(err)
	}
}

// TestReportPrint measures real checkpoints: an untrained model as the
// local-only one and a trained one as the final one.
func TestReportPrint(t *testing.T) {
	data := testdata.TinyFashion(t, 1200, 400)
	dir := t.TempDir()
	peers := []peerSpec{
		{Name: "alice", Model: "mlp", Shard: "0/2", Alpha: 0.1, Seed: 7, Home: filepath.Join(dir, "alice")},
		{Name: "bob", Model: "mlp", Shard: "1/2", Alpha: 0.1, Seed: 7, Home: filepath.Join(dir, "bob")},
	}
	for _, p := range peers {
		mustCheckpoint(t, data, p.Home, localCheckpoint, 0)
		mustCheckpoint(t, data, p.Home, finalCheckpoint, 2)
	}
	pools, err := loadPools(data)
	if err != nil {
		t.Fatal(err)
	}
	local, err := evaluate("mlp", filepath.Join(peers[0].Home, localCheckpoint), pools)
	if err != nil {
		t.Fatal(err)
	}
	final, err := evaluate("mlp", filepath.Join(peers[0].Home, finalCheckpoint), pools)
	if err != nil {
		t.Fatal(err)
	}
	if local.Examples != len(pools.Report) || final.Accuracy < 0.9 || local.Accuracy > 0.5 {
		t.Fatalf("local %+v, final %+v: want the trained model near 100%% and the untrained one near 10%% on %d examples",
			local, final, len(pools.Report))
	}
	sizes, err := shardSizes(pools, peers)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := distill.Partition(pools.Private, pools.Train.Labels, pools.Train.Classes, 2, 0.1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if sizes[0] != len(shards[0]) || sizes[1] != len(shards[1]) {
		t.Fatalf("shard sizes %v, want %d and %d", sizes, len(shards[0]), len(shards[1]))
	}

	s := &summary{Rounds: []roundSummary{{Number: 1, State: "settled"}},
		Peers: map[string]peerSummary{"alice": {Identity: aliceID, BalanceRao: 1e9}}, Supply: supplySummary{MintedRao: 1e9}}
	r := report{peers: peers, summary: s, data: data, home: filepath.Join(dir, "net"), client: filepath.Join(dir, "ops"), grpcurl: "grpcurl"}
	var out bytes.Buffer
	if err := r.print(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("alice      mlp   0/2   %8s %10.1f%% %13.1f%%    1.000000000", thousands(uint64(sizes[0])), 100*local.Accuracy, 100*final.Accuracy)
	if !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
}

func TestReportPrintErrNoCheckpoint(t *testing.T) {
	data := testdata.TinyFashion(t, 120, 40)
	peers := []peerSpec{{Name: "alice", Model: "mlp", Shard: "0/2", Alpha: 0.1, Seed: 7, Home: t.TempDir()}}
	r := report{peers: peers, summary: &summary{}, data: data}
	if err := r.print(context.Background(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "alice") {
		t.Fatalf("print = %v, want an error naming alice's missing checkpoint", err)
	}
}
