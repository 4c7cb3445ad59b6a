package coordinator_test

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/taonet/taonet/coordinator"
)

// TestCloseWithoutRun: a Server that never runs gives back its home's lock,
// its database and its port on Close, so the same home can serve again.
func TestCloseWithoutRun(t *testing.T) {
	n := mustNetwork(t, nil)
	n.stop()
	cfg := coordinator.DefaultConfig()
	cfg.Home, cfg.Listen, cfg.Logger, cfg.RoundEvery = n.home, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0
	ctx := context.Background()
	s, err := coordinator.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	_ = lis.Close()
	again, err := coordinator.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New on the home after Close: %v", err)
	}
	_ = again.Close()
}
