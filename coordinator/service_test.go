package coordinator_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

func TestJoin(t *testing.T) {
	n := mustNetwork(t, nil)
	c := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
	t.Run("OK", func(t *testing.T) {
		resp, err := c.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetIdentity() != "spiffe://test.local/peer/alice" || resp.GetTask() != "fmnist" || len(resp.GetPeers()) != 1 {
			t.Fatalf("join response = %v", resp)
		}
	})
	bad := func(edit func(*taonetv1.JoinRequest)) *taonetv1.JoinRequest {
		r := &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)}
		edit(r)
		return r
	}
	for name, c2 := range map[string]struct {
		req  *taonetv1.JoinRequest
		code codes.Code
	}{
		"ErrProtocolVersion": {bad(func(r *taonetv1.JoinRequest) { r.ProtocolVersion = 2 }), codes.FailedPrecondition},
		"ErrClasses":         {bad(func(r *taonetv1.JoinRequest) { r.Card.Classes = 100 }), codes.FailedPrecondition},
		"ErrInputShape":      {bad(func(r *taonetv1.JoinRequest) { r.Card.InputShape = []int64{3, 32, 32} }), codes.FailedPrecondition},
		"ErrTask":            {bad(func(r *taonetv1.JoinRequest) { r.Card.Task = "cifar10" }), codes.FailedPrecondition},
		"ErrNoCard":          {bad(func(r *taonetv1.JoinRequest) { r.Card = nil }), codes.FailedPrecondition},
		"ErrAddress":         {bad(func(r *taonetv1.JoinRequest) { r.AdvertiseAddress = "no-port" }), codes.InvalidArgument},
		"ErrPort":            {bad(func(r *taonetv1.JoinRequest) { r.AdvertiseAddress = "h:99999" }), codes.InvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			before := n.snapshot(t)
			_, err := c.Join(tctx(t), c2.req)
			if status.Code(err) != c2.code {
				t.Fatalf("err = %v, want %v", err, c2.code)
			}
			if after := n.snapshot(t); after != before {
				t.Fatal("a refused Join wrote to the database")
			}
		})
	}
}

func TestListPeersPaged(t *testing.T) {
	n := mustNetwork(t, nil)
	ctx := tctx(t)
	for i := range 5 {
		c := n.coord(t, n.mtls(n.mustEnroll(t, fmt.Sprintf("p%d", i))))
		if _, err := c.Join(ctx, &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: fmt.Sprintf("127.0.0.1:%d", 7000+i), Card: mustCard(t)}); err != nil {
			t.Fatal(err)
		}
	}
	ops := n.coord(t, n.mtls(n.mustClient(t, "ops")))
	t.Run("OK", func(t *testing.T) {
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			resp, err := ops.ListPeers(ctx, &taonetv1.ListPeersRequest{PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range resp.GetPeers() {
				got = append(got, p.GetName())
			}
			if token = resp.GetNextPageToken(); token == "" {
				if pages != 2 {
					t.Fatalf("%d pages, want 3", pages+1)
				}
				break
			}
		}
		if fmt.Sprint(got) != "[p0 p1 p2 p3 p4]" {
			t.Fatalf("peers = %v", got)
		}
	})
	t.Run("ErrPageSize", func(t *testing.T) {
		if _, err := ops.ListPeers(ctx, &taonetv1.ListPeersRequest{PageSize: 5000}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
	})
	t.Run("ErrPageToken", func(t *testing.T) {
		if _, err := ops.ListPeers(ctx, &taonetv1.ListPeersRequest{PageToken: "!!"}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
	})
	t.Run("ErrNoRoundYet", func(t *testing.T) {
		if _, err := ops.GetRound(ctx, &taonetv1.GetRoundRequest{}); status.Code(err) != codes.NotFound {
			t.Fatalf("GetRound err = %v, want NotFound before any round", err)
		}
	})
}

// recvChange reads Watch events until one about identity with change
// arrives.
func recvChange(t *testing.T, s taonetv1.Coordinator_WatchClient, identity string, change taonetv1.DirectoryChange) {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("watch: %v (waiting for %v of %s)", err, change, identity)
		}
		if d := ev.GetDirectoryChanged(); d != nil && d.GetChange() == change && d.GetPeer().GetIdentity() == identity {
			return
		}
	}
}

func TestWatchAndRevocation(t *testing.T) {
	n := mustNetwork(t, nil)
	ctx := tctx(t)
	join := func(c taonetv1.CoordinatorClient, port int) {
		if _, err := c.Join(ctx, &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: fmt.Sprintf("127.0.0.1:%d", port), Card: mustCard(t)}); err != nil {
			t.Fatal(err)
		}
	}
	alice := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
	join(alice, 7001)
	watch, err := alice.Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recvChange(t, watch, "spiffe://test.local/peer/alice", taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED)
	bob := n.coord(t, n.mtls(n.mustEnroll(t, "bob")))
	join(bob, 7002)
	bobID := "spiffe://test.local/peer/bob"
	recvChange(t, watch, bobID, taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED)
	bobWatch, err := bob.Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bobWatch.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := coordinator.Revoke(context.Background(), n.home, "bob", "test"); err != nil {
		t.Fatal(err)
	}
	recvChange(t, watch, bobID, taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("revocation took %v to reach Watch, want under 1s", d)
	}
	for {
		_, err := bobWatch.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("bob's stream ended with %v, want PermissionDenied", err)
		}
		break
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("bob's stream cut after %v, want under 1s", d)
	}
	resp, err := alice.ListPeers(ctx, &taonetv1.ListPeersRequest{})
	if err != nil || len(resp.GetPeers()) != 1 || resp.GetPeers()[0].GetName() != "alice" {
		t.Fatalf("directory after revocation = %v, %v", resp, err)
	}
	if _, err := alice.Leave(ctx, &taonetv1.LeaveRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsDirectory(t *testing.T) {
	n := mustNetwork(t, nil)
	src := n.mustEnroll(t, "alice")
	if _, err := n.coord(t, n.mtls(src)).Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)}); err != nil {
		t.Fatal(err)
	}
	revoked := n.mustEnroll(t, "bob")
	if _, err := coordinator.Revoke(context.Background(), n.home, "bob", ""); err != nil {
		t.Fatal(err)
	}
	n.stop()
	n.start(t, nil)
	resp, err := n.coord(t, n.mtls(src)).ListPeers(tctx(t), &taonetv1.ListPeersRequest{})
	if err != nil || len(resp.GetPeers()) != 1 || resp.GetPeers()[0].GetAddress() != "127.0.0.1:7001" || resp.GetPeers()[0].GetCard().GetArchitecture() != "mlp" {
		t.Fatalf("after restart: %v, %v", resp, err)
	}
	_, err = n.coord(t, n.mtls(revoked)).ListPeers(tctx(t), &taonetv1.ListPeersRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("revoked identity after restart: %v, want refused at the handshake", err)
	}
}

// TestRenewShortLifetime renews a 2-second certificate over mTLS, then
// shows that an open connection whose certificate expired is refused (new
// calls and the Watch stream opened before) while the renewed certificate
// works.
func TestRenewShortLifetime(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.LeafLifetime = 2 * time.Second })
	src := n.mustEnroll(t, "alice")
	old := src.Leaf()
	if life := time.Until(old.NotAfter); life > 3*time.Second {
		t.Fatalf("enrolled certificate lives %v, want about 2s", life)
	}
	c := n.coord(t, n.mtls(src))
	ctx := tctx(t)
	if _, err := c.ListPeers(ctx, &taonetv1.ListPeersRequest{}); err != nil {
		t.Fatal(err)
	}
	watch, err := c.Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // renew late enough that the new certificate outlives the old
	csr, err := certs.NewCSR(src.Certificate().PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Renew(ctx, &taonetv1.RenewRequest{Csr: csr})
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := certs.ParseCert(resp.GetCertificate())
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := certs.IDFromCertificate(renewed); id.String() != resp.GetIdentity() || id.Name != "alice" || !renewed.NotAfter.After(old.NotAfter) {
		t.Fatalf("renewed %v until %v (old until %v)", id, renewed.NotAfter, old.NotAfter)
	}
	t.Run("ErrCSRAsksForAnotherName", func(t *testing.T) {
		key, _ := certs.NewKey()
		bob, _ := url.Parse("spiffe://test.local/peer/bob")
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{bob}}, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Renew(ctx, &taonetv1.RenewRequest{Csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
	})
	time.Sleep(time.Until(old.NotAfter) + 100*time.Millisecond)
	t.Run("ErrExpiredOnOpenConnection", func(t *testing.T) {
		_, err := c.ListPeers(ctx, &taonetv1.ListPeersRequest{})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("err = %v, want Unauthenticated naming the expiry", err)
		}
	})
	t.Run("ErrExpiredOnOpenStream", func(t *testing.T) {
		for {
			_, err := watch.Recv()
			if err == nil {
				continue
			}
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "expired") {
				t.Fatalf("Watch opened with the old certificate ended with %v, want Unauthenticated naming the expiry", err)
			}
			return
		}
	})
	t.Run("OKRenewedCertificate", func(t *testing.T) {
		pair := *src.Certificate()
		pair.Certificate = [][]byte{renewed.Raw}
		pair.Leaf = renewed
		if err := src.Set(pair); err != nil {
			t.Fatal(err)
		}
		if _, err := n.coord(t, n.mtls(src)).ListPeers(ctx, &taonetv1.ListPeersRequest{}); err != nil {
			t.Fatalf("with the renewed certificate: %v", err)
		}
	})
}

func TestEnrollRateLimit(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.EnrollRate, c.EnrollBurst = 0.01, 2 })
	tok, _ := certs.NewToken()
	call := enrollWith(t, n, tok, freshCSR(t))
	for i := range 2 {
		if err := call(); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d: %v, want Unauthenticated (unknown token)", i, err)
		}
	}
	if err := call(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want ResourceExhausted", err)
	}
}

// TestQueryRateLimit checks both Query limits: per address (two
// identities from one address) and per identity (one identity from two
// addresses).
func TestQueryRateLimit(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.QueryRate, c.QueryBurst = 0.01, 2 })
	from := func(src *certs.Source, local string) taonetv1.CoordinatorClient {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := grpc.NewClient(n.addr,
			grpc.WithTransportCredentials(credentials.NewTLS(n.mtls(src))),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return taonetv1.NewCoordinatorClient(conn)
	}
	query := func(c taonetv1.CoordinatorClient) error {
		_, err := c.Query(tctx(t), &taonetv1.QueryRequest{})
		return err
	}
	t.Run("ErrPerAddress", func(t *testing.T) {
		a, b := from(n.mustClient(t, "a"), "127.0.0.1"), from(n.mustClient(t, "b"), "127.0.0.1")
		for i := range 2 {
			if err := query(a); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("call %d: %v, want InvalidArgument (an empty query, but not rate-limited)", i, err)
			}
		}
		if err := query(b); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "for address") {
			t.Fatalf("another identity from the same address: %v, want ResourceExhausted per address", err)
		}
	})
	t.Run("ErrPerIdentity", func(t *testing.T) {
		src := n.mustClient(t, "c")
		if err := query(from(src, "127.0.0.2")); status.Code(err) != codes.InvalidArgument {
			t.Fatal(err)
		}
		if err := query(from(src, "127.0.0.3")); status.Code(err) != codes.InvalidArgument {
			t.Fatal(err)
		}
		if err := query(from(src, "127.0.0.4")); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "for spiffe://test.local/client/c") {
			t.Fatalf("one identity from a fresh address: %v, want ResourceExhausted per identity", err)
		}
	})
}
