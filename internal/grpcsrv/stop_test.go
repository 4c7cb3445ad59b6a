package grpcsrv_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/internal/grpcsrv"
)

// mustServer serves health on loopback and returns the server and a client.
func mustServer(tb testing.TB) (*grpc.Server, grpc_health_v1.HealthClient) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	tb.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return s, grpc_health_v1.NewHealthClient(conn)
}

func TestStop(t *testing.T) {
	t.Run("OKGraceful", func(t *testing.T) {
		s, c := mustServer(t)
		if _, err := c.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		grpcsrv.Stop(s, time.Minute)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("graceful stop with nothing in flight took %v", d)
		}
	})
	t.Run("OKFallbackEndsOpenStream", func(t *testing.T) {
		s, c := mustServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A health Watch stays open until the server ends it: GracefulStop
		// alone would wait for the 30s deadline.
		w, err := c.Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		go func() {
			grpcsrv.Stop(s, 50*time.Millisecond)
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("Stop did not fall back to a hard stop")
		}
		if _, err := w.Recv(); status.Code(err) != codes.Unavailable {
			t.Fatalf("open stream after Stop: %v, want Unavailable", err)
		}
	})
}
