package peer_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestPeerLimits floods a real peer past each of its transport bounds:
// the extra connections or streams are refused and a legitimate Describe
// still succeeds.
func TestPeerLimits(t *testing.T) {
	n := mustCoordinator(t, 0)
	ops := n.clientDialer(t, "ops")
	start := func(t *testing.T, name string, edit func(*peer.Limits)) *running {
		t.Helper()
		return n.mustPeerWith(t, filepath.Join(t.TempDir(), name), n.token(t, name), func(c *peer.Config) { edit(&c.Limits) })
	}
	describe := func(t *testing.T, p *running) {
		t.Helper()
		if _, err := peerClient(t, ops, p.ID().String(), p.Addr().String()).Describe(tctx(t), &taonetv1.DescribeRequest{}); err != nil {
			t.Fatalf("Describe after the flood: %v", err)
		}
	}
	t.Run("ErrHandshakeTimeout", func(t *testing.T) {
		p := start(t, "hs", func(l *peer.Limits) { l.HandshakeTimeout = 300 * time.Millisecond })
		if !testdata.ClosedWithin(testdata.DialFrom(t, "127.0.0.1", p.Addr().String()), 5*time.Second) {
			t.Fatal("a connection that never started its TLS handshake was still open after 5s")
		}
		describe(t, p)
	})
	t.Run("ErrConnsPerHost", func(t *testing.T) {
		p := start(t, "perhost", func(l *peer.Limits) { l.MaxConnsPerHost, l.HandshakeTimeout = 3, time.Minute }) // the open connections never handshake
		var conns []net.Conn
		for range 3 + 10 {
			conns = append(conns, testdata.DialFrom(t, "127.0.0.2", p.Addr().String()))
		}
		closed := 0
		for _, c := range conns {
			if testdata.ClosedWithin(c, time.Second) {
				closed++
			}
		}
		if closed != 10 {
			t.Fatalf("%d of 13 connections from 127.0.0.2 were closed, want the 10 over a limit of 3", closed)
		}
		describe(t, p)
	})
	t.Run("ErrConnsTotal", func(t *testing.T) {
		// The coordinator's connection (it dials in to evaluate) may hold
		// one of the slots: 4 in all, 3 held from 127.0.0.2-4.
		p := start(t, "total", func(l *peer.Limits) { l.MaxConns, l.MaxConnsPerHost = 4, 1 })
		var held []net.Conn
		for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			held = append(held, testdata.DialFrom(t, src, p.Addr().String()))
		}
		refused := 0
		for _, src := range []string{"127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"} {
			if testdata.ClosedWithin(testdata.DialFrom(t, src, p.Addr().String()), time.Second) {
				refused++
			}
		}
		if refused < 4 {
			t.Fatalf("%d of 5 connections over a total of 4 were refused, want at least 4", refused)
		}
		for _, c := range held {
			_ = c.Close()
		}
		waitFor(t, 5*time.Second, "Describe once the held connections closed", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := peerClient(t, ops, p.ID().String(), p.Addr().String()).Describe(ctx, &taonetv1.DescribeRequest{})
			return err == nil
		})
	})
	t.Run("ErrStreamsPerConnection", func(t *testing.T) {
		p := start(t, "streams", func(l *peer.Limits) { l.MaxStreams = 3 })
		conn, err := ops.Dial(&taonetv1.PeerInfo{Identity: p.ID().String(), Address: p.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		h := grpc_health_v1.NewHealthClient(conn)
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
		describe(t, p)
	})
	t.Run("ErrHealthWatchAnonymous", func(t *testing.T) {
		// A peer asks every caller for a certificate of the network in
		// the TLS handshake: an anonymous health Watch never starts.
		p := start(t, "anon", func(*peer.Limits) {})
		conn, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(anonymousTLS())))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if err := testdata.HealthWatch(tctx(t), grpc_health_v1.NewHealthClient(conn)); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("anonymous health Watch: %v, want Unavailable: certificate required", err)
		}
	})
}

// anonymousTLS offers no client certificate; it skips checking the peer's,
// since only the peer's refusal is under test.
func anonymousTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true} //nolint:gosec // see above
}

func TestLimitsValidateConns(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*peer.Limits)
		want string
	}{
		{"ErrMaxConns", func(l *peer.Limits) { l.MaxConns = 0 }, "max conns 0"},
		{"ErrPerHostOverTotal", func(l *peer.Limits) { l.MaxConns, l.MaxConnsPerHost = 10, 11 }, "max conns per host 11"},
		{"ErrIdleTimeout", func(l *peer.Limits) { l.IdleTimeout = 0 }, "idle timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := peer.DefaultLimits()
			tc.edit(&l)
			if err := l.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
