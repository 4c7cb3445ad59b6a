package coordinator_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// openWatch opens a Coordinator/Watch and waits for its header, sent once
// the stream is subscribed; a refused stream returns the refusal.
func openWatch(ctx context.Context, c taonetv1.CoordinatorClient) error {
	w, err := c.Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		return err
	}
	md, err := w.Header()
	if err != nil {
		return err
	}
	if md == nil { // ended without a header: Recv has the status
		_, err := w.Recv()
		return err
	}
	return nil
}

func mustCode(tb testing.TB, err error, code codes.Code, reason string) {
	tb.Helper()
	s, _ := status.FromError(err)
	if s.Code() != code || !strings.Contains(s.Message(), reason) || strings.Contains(s.Message(), "\n") {
		tb.Fatalf("got %v, want %v with a one-line reason containing %q", err, code, reason)
	}
}

// TestLimits floods a real coordinator past each of its bounds and checks
// that the extra streams or connections are refused and legitimate calls
// still succeed.
func TestLimits(t *testing.T) {
	t.Run("ErrHandshakeTimeout", func(t *testing.T) {
		n := mustNetwork(t, func(c *coordinator.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
		c := testdata.DialFrom(t, "127.0.0.1", n.addr)
		if !testdata.ClosedWithin(c, 5*time.Second) {
			t.Fatal("a connection that never started its TLS handshake was still open after 5s")
		}
		n.mustServing(t)
	})
	t.Run("ErrConnsPerHost", func(t *testing.T) {
		// A long handshake deadline: the open connections below never
		// handshake, and must outlive the checks.
		n := mustNetwork(t, func(c *coordinator.Config) { c.MaxConnsPerHost, c.HandshakeTimeout = 5, time.Minute })
		var conns []net.Conn
		for range 5 + 10 {
			conns = append(conns, testdata.DialFrom(t, "127.0.0.2", n.addr))
		}
		closed := 0
		for _, c := range conns {
			if testdata.ClosedWithin(c, time.Second) {
				closed++
			}
		}
		if closed != 10 {
			t.Fatalf("%d of 15 connections from 127.0.0.2 were closed, want the 10 over a limit of 5", closed)
		}
		n.mustServing(t)
	})
	t.Run("ErrConnsTotal", func(t *testing.T) {
		n := mustNetwork(t, func(c *coordinator.Config) { c.MaxConns, c.MaxConnsPerHost = 6, 3 })
		var held []net.Conn
		for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
			for range 3 {
				held = append(held, testdata.DialFrom(t, src, n.addr))
			}
		}
		for i := range 10 {
			if c := testdata.DialFrom(t, "127.0.0.4", n.addr); !testdata.ClosedWithin(c, time.Second) {
				t.Fatalf("connection %d from 127.0.0.4 stayed open with the total of 6 reached", i)
			}
		}
		for _, c := range held {
			_ = c.Close()
		}
		// The closed connections give their slots back once the server has
		// seen them close, which takes a moment on a loaded machine.
		h := grpc_health_v1.NewHealthClient(n.dial(t, n.anonymous(t)))
		waitFor(t, 5*time.Second, "a slot freed by a closed connection", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := h.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
			return err == nil
		})
		n.mustServing(t)
	})
	t.Run("ErrStreamsPerConnection", func(t *testing.T) {
		n := mustNetwork(t, func(c *coordinator.Config) { c.MaxStreams = 3 })
		h := grpc_health_v1.NewHealthClient(n.dial(t, n.mtls(n.mustClient(t, "ops"))))
		ctx := tctx(t)
		for i := range 3 {
			if err := testdata.HealthWatch(ctx, h); err != nil {
				t.Fatalf("health watch %d: %v", i, err)
			}
		}
		for i := range 10 {
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			err := testdata.HealthWatch(short, h)
			cancel()
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("stream %d over a limit of 3 on one connection: %v, want it held back until DeadlineExceeded", 4+i, err)
			}
		}
		n.mustServing(t)
	})
	t.Run("ErrWatchesPerIdentity", func(t *testing.T) {
		n := mustNetwork(t, nil) // the default: 4 per identity
		alice := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
		ctx := tctx(t)
		cancels := make([]context.CancelFunc, 0, 4)
		for i := range 4 {
			wctx, cancel := context.WithCancel(ctx)
			cancels = append(cancels, cancel)
			if err := openWatch(wctx, alice); err != nil {
				t.Fatalf("watch %d: %v", i, err)
			}
		}
		defer func() {
			for _, c := range cancels {
				c()
			}
		}()
		for range 10 {
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := openWatch(short, alice)
			cancel()
			mustCode(t, err, codes.ResourceExhausted, "too many Watch streams")
		}
		// Another identity is not affected.
		bob := n.coord(t, n.mtls(n.mustEnroll(t, "bob")))
		if err := openWatch(ctx, bob); err != nil {
			t.Fatalf("bob's watch while alice is at her limit: %v", err)
		}
		// Closing one of alice's frees its slot.
		cancels[0]()
		waitFor(t, 5*time.Second, "alice's fifth Watch after closing one", func() bool {
			return openWatch(ctx, alice) == nil
		})
	})
	t.Run("ErrHealthWatchAnonymous", func(t *testing.T) {
		n := mustNetwork(t, nil)
		h := grpc_health_v1.NewHealthClient(n.dial(t, n.anonymous(t)))
		mustCode(t, testdata.HealthWatch(tctx(t), h), codes.Unauthenticated, "needs a client certificate")
		if _, err := h.Check(tctx(t), &grpc_health_v1.HealthCheckRequest{}); err != nil {
			t.Fatalf("anonymous health Check: %v", err)
		}
	})
	t.Run("ErrHealthWatchesTotal", func(t *testing.T) {
		n := mustNetwork(t, func(c *coordinator.Config) { c.MaxHealthWatches = 2 })
		ctx, cancel := context.WithCancel(tctx(t))
		defer cancel()
		for i := range 2 {
			// One identity and one connection each: the bound is global.
			h := grpc_health_v1.NewHealthClient(n.dial(t, n.mtls(n.mustClient(t, "ops"+string(rune('a'+i))))))
			if err := testdata.HealthWatch(ctx, h); err != nil {
				t.Fatalf("health watch %d: %v", i, err)
			}
		}
		h := grpc_health_v1.NewHealthClient(n.dial(t, n.mtls(n.mustClient(t, "opsz"))))
		for range 10 {
			mustCode(t, testdata.HealthWatch(ctx, h), codes.ResourceExhausted, "health Watch streams are open")
		}
		if _, err := h.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
			t.Fatalf("health Check with every Watch slot taken: %v", err)
		}
	})
}

func TestConfigLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*coordinator.Config)
		want string
	}{
		{"ErrMaxConns", func(c *coordinator.Config) { c.MaxConns = 0 }, "max conns 0"},
		{"ErrPerHostOverTotal", func(c *coordinator.Config) { c.MaxConns, c.MaxConnsPerHost = 10, 11 }, "max conns per host 11"},
		{"ErrMaxStreams", func(c *coordinator.Config) { c.MaxStreams = 0 }, "max streams 0"},
		{"ErrMaxWatches", func(c *coordinator.Config) { c.MaxWatches = 0 }, "max watches 0"},
		{"ErrMaxHealthWatches", func(c *coordinator.Config) { c.MaxHealthWatches = 0 }, "max health watches 0"},
		{"ErrHandshakeTimeout", func(c *coordinator.Config) { c.HandshakeTimeout = 0 }, "handshake timeout 0s"},
		{"ErrIdleTimeout", func(c *coordinator.Config) { c.IdleTimeout = 0 }, "idle timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := coordinator.DefaultConfig()
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
