// Package testnet runs a real network on loopback for tests of the
// commands: a coordinator on 127.0.0.1:0 with its operations HTTP server
// and a round schedule over a tiny validation pool, and peers that serve
// BandModel. Tests drive the rounds. Imported by tests only.
package testnet

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// BandModel answers like an honest, confident peer on
// testdata.TinyFashion: each class's logit grows with the brightness of
// the band of pixels its label lights up.
type BandModel struct{}

var _ peer.Model = BandModel{}

// Card is an fmnist MLP's card.
func (BandModel) Card() *taonetv1.ModelCard {
	return &taonetv1.ModelCard{Task: "fmnist", Architecture: "mlp", InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu", Parameters: 235146}
}

// Forward returns rows*10 logits.
func (BandModel) Forward(x []float32) ([]float32, error) {
	rows := len(x) / 784
	out := make([]float32, rows*10)
	for r := range rows {
		for c := range 10 {
			s := float32(0)
			for _, v := range x[r*784+c*78 : r*784+(c+1)*78] {
				s += v
			}
			out[r*10+c] = s / 78 * 4
		}
	}
	return out, nil
}

// Apply takes no step.
func (BandModel) Apply(x, grad []float32) error { return nil }

// Network is a running coordinator.
type Network struct {
	Home   string
	Server *coordinator.Server
	stop   func()
}

// New makes a coordinator on home (made by coordinator init), not yet
// running: gRPC and HTTP on 127.0.0.1:0, an hourly round schedule (tests
// call Round), a 200ms distillation window and 100 validation samples of a
// tiny pool. Run runs it; it is closed when the test ends.
func New(tb testing.TB, home string) *Network {
	tb.Helper()
	cfg := coordinator.DefaultConfig()
	cfg.Home, cfg.Listen, cfg.HTTP = home, "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.EnrollRate, cfg.EnrollBurst = 1000, 1000
	cfg.RoundEvery, cfg.DistillTimeout, cfg.EvalTimeout = time.Hour, 200*time.Millisecond, 20*time.Second
	cfg.Validation, cfg.ValidationSamples = testdata.TinyFashion(tb, 60, 400), 100
	cfg.Transfer, cfg.TransferBatch = 100, 50
	s, err := coordinator.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	n := &Network{Home: home, Server: s}
	n.stop = func() { _ = s.Close() }
	tb.Cleanup(func() { n.stop() })
	return n
}

// Start is New and Run.
func Start(tb testing.TB, home string) *Network {
	tb.Helper()
	n := New(tb, home)
	n.Run(tb)
	return n
}

// Run runs the coordinator until the test ends or Stop.
func (n *Network) Run(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Server.Run(ctx) }()
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("coordinator: %v", err)
			}
		case <-time.After(15 * time.Second):
			tb.Error("coordinator did not stop")
		}
	}
}

// Addr is the coordinator's gRPC address.
func (n *Network) Addr() string { return n.Server.Addr().String() }

// Stop stops the coordinator, once (or closes it, if it never ran).
func (n *Network) Stop() { n.stop() }

// Peer enrolls name and runs a peer serving BandModel in a new home under
// dir, with its own HTTP server, until the test ends or the returned stop;
// it returns once the peer is in the directory.
func (n *Network) Peer(tb testing.TB, dir, name string) (p *peer.Peer, stop func()) {
	tb.Helper()
	return n.PeerServing(tb, dir, name, BandModel{})
}

// PeerServing is Peer serving model instead of BandModel.
func (n *Network) PeerServing(tb testing.TB, dir, name string, model peer.Model) (p *peer.Peer, stop func()) {
	tb.Helper()
	tok, err := coordinator.CreateToken(context.Background(), n.Home, name, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := peer.DefaultConfig()
	cfg.Home, cfg.Coordinator, cfg.HTTP = filepath.Join(dir, name), n.Addr(), "127.0.0.1:0"
	cfg.Token, cfg.CAPin = tok.Token, n.Server.CAPin()
	cfg.ServeModel, cfg.Logger = model, slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.BackoffMin, cfg.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	if p, err = peer.New(ctx, cfg); err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("peer %s: %v", name, err)
		}
	}
	tb.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for len(p.Directory()) == 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("peer %s not in the directory after 10s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, stop
}

// Round runs one round now and returns its report; it fails the test when
// the round does not settle.
func (n *Network) Round(tb testing.TB) *coordinator.RoundReport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := n.Server.RunRound(ctx)
	if err != nil || rep.Skipped {
		tb.Fatalf("round: %+v, %v", rep, err)
	}
	return rep
}
