package peer_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// reflectionStream opens a reflection stream (a long-lived call a client
// identity may make) on conn and checks one exchange on it.
func reflectionStream(tb testing.TB, ctx context.Context, conn *grpc.ClientConn) rpb.ServerReflection_ServerReflectionInfoClient {
	tb.Helper()
	s, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		tb.Fatalf("reflection before revocation: %v", err)
	}
	return s
}

// dialPeer dials a running peer with d.
func dialPeer(tb testing.TB, d *peer.Dialer, r *running) *grpc.ClientConn {
	tb.Helper()
	conn, err := d.Dial(&taonetv1.PeerInfo{Identity: r.ID().String(), Address: r.Addr().String()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestRevokedClientOnOpenConnection: a client identity revoked while it
// holds an open connection to a peer is refused on its next call and its
// open stream is ended; a peer that starts after the revocation refuses
// it as well.
func TestRevokedClientOnOpenConnection(t *testing.T) {
	n := mustCoordinatorWith(t, 0, "", func(c *coordinator.Config) { c.RevocationPoll = 50 * time.Millisecond })
	dir := t.TempDir()
	alice := n.mustPeer(t, filepath.Join(dir, "alice"), n.token(t, "alice"))
	ops := n.clientDialer(t, "ops")
	conn := dialPeer(t, ops, alice)
	client := taonetv1.NewPeerClient(conn)
	ctx := tctx(t)
	if _, err := client.Describe(ctx, &taonetv1.DescribeRequest{}); err != nil {
		t.Fatal(err)
	}
	stream := reflectionStream(t, ctx, conn)

	start := time.Now()
	if _, err := coordinator.Revoke(context.Background(), n.home, "client/ops", "test"); err != nil {
		t.Fatal(err)
	}
	ended := streamEnd(stream)
	waitFor(t, 3*time.Second, "alice refuses revoked ops on its open connection", func() bool {
		_, err := client.Describe(ctx, &taonetv1.DescribeRequest{})
		return refused(err)
	})
	t.Logf("refused %v after the revoke", time.Since(start))
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("revoked client's open reflection stream still open")
	}

	bob := n.mustPeer(t, filepath.Join(dir, "bob"), n.token(t, "bob"))
	waitFor(t, 5*time.Second, "bob joins", func() bool { return alice.sees(bob.ID().String()) })
	_, err := taonetv1.NewPeerClient(dialPeer(t, ops, bob)).Describe(ctx, &taonetv1.DescribeRequest{})
	if !refused(err) {
		t.Fatalf("revoked ops calling a peer started later: %v, want refused", err)
	}
}

// TestExpiredClientOnOpenConnection: a client certificate that expires
// while its connection is open is refused per call, and its open stream
// ends at the expiry.
func TestExpiredClientOnOpenConnection(t *testing.T) {
	n := mustCoordinator(t, 0)
	alice := n.mustPeer(t, filepath.Join(t.TempDir(), "alice"), n.token(t, "alice"))
	notAfter := time.Now().Add(3 * time.Second).Truncate(time.Second) // certificates count whole seconds
	ops := shortLivedClient(t, n.home, "ops", notAfter)
	conn := dialPeer(t, ops, alice)
	client := taonetv1.NewPeerClient(conn)
	ctx := tctx(t)
	if _, err := client.Describe(ctx, &taonetv1.DescribeRequest{}); err != nil {
		t.Fatal(err)
	}
	ended := streamEnd(reflectionStream(t, ctx, conn))
	select {
	case <-ended:
		if d := time.Since(notAfter); d < 0 || d > time.Second {
			t.Fatalf("stream ended %v after its caller's certificate expired", d)
		}
	case <-time.After(time.Until(notAfter) + 2*time.Second):
		t.Fatal("a stream outlived its caller's certificate")
	}
	_, err := client.Describe(ctx, &taonetv1.DescribeRequest{})
	if !refused(err) {
		t.Fatalf("call after the certificate expired: %v, want refused", err)
	}
}

// refused reports an error of a refused call: at the handshake
// (Unavailable), or by the auth interceptor.
func refused(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// streamEnd is closed when the stream's next Recv fails.
func streamEnd(s rpb.ServerReflection_ServerReflectionInfoClient) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := s.Recv(); err != nil {
				return
			}
		}
	}()
	return done
}

// shortLivedClient signs a client certificate valid until notAfter with
// the network's CA (client-cert allows at least a minute).
func shortLivedClient(tb testing.TB, home, name string, notAfter time.Time) *peer.Dialer {
	tb.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(home, f))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	ca, err := certs.LoadCA(read(coordinator.CAFile), read(coordinator.CAKeyFile), testTD)
	if err != nil {
		tb.Fatal(err)
	}
	iss, key := testdata.Issue(tb, ca, certs.ClientID(testTD, name), time.Now().Add(-time.Minute), notAfter)
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	pair, err := certs.KeyPair(iss.PEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return peer.NewDialer(src, pool)
}
