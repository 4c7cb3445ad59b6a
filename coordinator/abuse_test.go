package coordinator_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestJoinCardLimits joins with cards that break the field limits or name
// an architecture the task does not know. Each is refused with a short
// message and writes nothing; afterwards another peer's ListPeers and
// Watch still work (a 4 MiB architecture once pushed every directory
// message over the 4 MiB limit).
func TestJoinCardLimits(t *testing.T) {
	n := mustNetwork(t, nil)
	alice := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
	if _, err := alice.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)}); err != nil {
		t.Fatal(err)
	}
	mallory := n.coord(t, n.mtls(n.mustEnroll(t, "mallory")))
	edit := func(f func(c *taonetv1.ModelCard)) *taonetv1.ModelCard {
		c := mustCard(t)
		f(c)
		return c
	}
	join := func(t *testing.T, card *taonetv1.ModelCard, code codes.Code) {
		t.Helper()
		before := n.snapshot(t)
		_, err := mallory.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7002", Card: card})
		switch {
		case status.Code(err) != code:
			t.Errorf("err = %.300v, want %v", err, code)
		case len(err.Error()) > 300:
			t.Errorf("refusal is %d bytes long, want a short message", len(err.Error()))
		case n.snapshot(t) != before:
			t.Error("a refused Join wrote to the database")
		}
	}
	t.Run("ErrHugeArchitectureOthersUnaffected", func(t *testing.T) {
		join(t, edit(func(c *taonetv1.ModelCard) { c.Architecture = strings.Repeat("x", 4<<20-100) }), codes.InvalidArgument)
		ctx := tctx(t)
		resp, err := alice.ListPeers(ctx, &taonetv1.ListPeersRequest{})
		if err != nil || len(resp.GetPeers()) != 1 || resp.GetPeers()[0].GetName() != "alice" {
			t.Fatalf("alice's ListPeers = %.300v, %.300v", resp, err)
		}
		watch, err := alice.Watch(ctx, &taonetv1.WatchRequest{})
		if err != nil {
			t.Fatal(err)
		}
		recvChange(t, watch, "spiffe://test.local/peer/alice", taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED)
		if _, err := mallory.Join(ctx, &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7002", Card: edit(func(c *taonetv1.ModelCard) { c.Architecture = "cnn" })}); err != nil {
			t.Fatalf("mallory with an honest cnn card: %v", err)
		}
		recvChange(t, watch, "spiffe://test.local/peer/mallory", taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED)
	})
	for name, c := range map[string]struct {
		card *taonetv1.ModelCard
		code codes.Code
	}{
		"ErrLongArchitecture":  {edit(func(c *taonetv1.ModelCard) { c.Architecture = strings.Repeat("m", 65) }), codes.InvalidArgument},
		"ErrHugeTask":          {edit(func(c *taonetv1.ModelCard) { c.Task = strings.Repeat("t", 1<<20) }), codes.InvalidArgument},
		"ErrLongDevice":        {edit(func(c *taonetv1.ModelCard) { c.Device = "cuda:" + strings.Repeat("0", 60) }), codes.InvalidArgument},
		"ErrDeviceControl":     {edit(func(c *taonetv1.ModelCard) { c.Device = "cpu\n" }), codes.InvalidArgument},
		"ErrDeviceSpace":       {edit(func(c *taonetv1.ModelCard) { c.Device = "c pu" }), codes.InvalidArgument},
		"ErrArchitectureUTF8":  {edit(func(c *taonetv1.ModelCard) { c.Architecture = "mlp\u00e9" }), codes.InvalidArgument},
		"ErrHugeInputShape":    {edit(func(c *taonetv1.ModelCard) { c.InputShape = make([]int64, 100000) }), codes.InvalidArgument},
		"ErrParameters":        {edit(func(c *taonetv1.ModelCard) { c.Parameters = 1 << 50 }), codes.InvalidArgument},
		"ErrUnknownArch":       {edit(func(c *taonetv1.ModelCard) { c.Architecture = "resnet" }), codes.FailedPrecondition},
		"ErrArchitectureCase":  {edit(func(c *taonetv1.ModelCard) { c.Architecture = "MLP" }), codes.FailedPrecondition},
		"ErrNoDevice":          {edit(func(c *taonetv1.ModelCard) { c.Device = "" }), codes.FailedPrecondition},
		"ErrInputShapeOneMore": {edit(func(c *taonetv1.ModelCard) { c.InputShape = []int64{1, 28, 28, 1} }), codes.FailedPrecondition},
	} {
		t.Run(name, func(t *testing.T) { join(t, c.card, c.code) })
	}
}

// TestJoinAdvertiseAddress joins with advertise addresses through a real
// Join: other peers dial them, so they must be a plain HOST:PORT that
// points nowhere dangerous.
func TestJoinAdvertiseAddress(t *testing.T) {
	n := mustNetwork(t, nil)
	c := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
	join := func(addr string) error {
		_, err := c.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: addr, Card: mustCard(t)})
		return err
	}
	for _, addr := range []string{"127.0.0.1:7001", "10.0.0.5:65535", "[::1]:7001", "[2001:db8::1]:1", "localhost:7001", "peer-1.example.org:443", "Peer1.Example.org.:443"} {
		t.Run("OK", func(t *testing.T) {
			if err := join(addr); err != nil {
				t.Fatalf("Join at %q: %v", addr, err)
			}
		})
	}
	for _, addr := range []string{
		"169.254.169.254:80", "[::ffff:169.254.169.254]:80", "[fe80::1]:80", "[fe80::1%eth0]:80",
		"0.0.0.0:7001", "[::]:7001", "224.0.0.1:80", "[ff02::1]:80", "255.255.255.255:80",
		"a b;rm -rf /:5", "host;reboot:80", "$(id):80", "host_1:80", "-host:80", "host-:80", "a..b:80",
		"0:80", "127.1:80", "0x7f000001:80", "2130706433:80", "metadata.google.internal:80",
		"host:0", "host:65536", "host:+80", "host:-1", "host:http", "host:", ":80", "no-port",
		strings.Repeat("a", 64) + ".example.org:80", strings.Repeat("a.", 200) + "org:80",
	} {
		t.Run("ErrBadAddress", func(t *testing.T) {
			before := n.snapshot(t)
			if err := join(addr); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("Join at %q: %v, want InvalidArgument", addr, err)
			}
			if n.snapshot(t) != before {
				t.Fatalf("a Join refused for %q wrote to the database", addr)
			}
		})
	}
}

// TestNames tries names that break DNS label rules or are reserved
// through token create and client-cert: both refuse them and write
// nothing.
func TestNames(t *testing.T) {
	n := mustNetwork(t, nil)
	ctx := context.Background()
	for _, name := range []string{"a-1", "0a", "ops"} {
		t.Run("OK", func(t *testing.T) {
			if _, err := coordinator.CreateToken(ctx, n.home, name, time.Hour); err != nil {
				t.Fatalf("token create %q: %v", name, err)
			}
			if _, err := coordinator.IssueClientCert(ctx, n.home, name, filepath.Join(t.TempDir(), "out"), time.Hour); err != nil {
				t.Fatalf("client-cert %q: %v", name, err)
			}
		})
	}
	for _, name := range []string{"a.", "a..", "a_", "a.b", "-a", "a-", "0", "42", "coordinator", "peer", "client", "Alice", strings.Repeat("a", 64)} {
		t.Run("ErrBadID", func(t *testing.T) {
			before := n.snapshot(t)
			if _, err := coordinator.CreateToken(ctx, n.home, name, time.Hour); !errors.Is(err, certs.ErrBadID) {
				t.Fatalf("token create %q: %v, want ErrBadID", name, err)
			}
			if _, err := coordinator.IssueClientCert(ctx, n.home, name, filepath.Join(t.TempDir(), "out"), time.Hour); !errors.Is(err, certs.ErrBadID) {
				t.Fatalf("client-cert %q: %v, want ErrBadID", name, err)
			}
			if n.snapshot(t) != before {
				t.Fatalf("refusing %q wrote to the database", name)
			}
		})
	}
}

// TestTokenListAfterEnroll creates two tokens for one name and enrolls
// with the first: the other can never be redeemed, and token list says so.
func TestTokenListAfterEnroll(t *testing.T) {
	n := mustNetwork(t, nil)
	ctx := context.Background()
	spare := n.mustToken(t, "alice")
	n.mustEnroll(t, "alice") // with a second token
	n.mustToken(t, "bob")
	toks, err := coordinator.ListTokens(ctx, n.home)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, tok := range toks {
		states[tok.Name+" "+tok.State(time.Now())]++
	}
	if len(toks) != 3 || states["alice redeemed"] != 1 || states["alice name-enrolled"] != 1 || states["bob valid"] != 1 {
		t.Fatalf("token states = %v", states)
	}
	err = enrollWith(t, n, spare, freshCSR(t))()
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("enroll with the spare token: %v, want AlreadyExists (so name-enrolled is the truth)", err)
	}
}

// certificateCount counts the certificates issued to identity.
func (n *testNet) certificateCount(tb testing.TB, identity string) int {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(n.home, coordinator.DatabaseFile)+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var c int
	if err := db.QueryRow(`SELECT COUNT(*) FROM certificates WHERE identity = ?`, identity).Scan(&c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestRenewRateLimit floods Renew from one peer: past the burst it is
// ResourceExhausted and writes no certificate, while another peer still
// renews.
func TestRenewRateLimit(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.RenewRate, c.RenewBurst = rate.Every(time.Minute), 3 })
	renew := func(src *certs.Source) error {
		csr, err := certs.NewCSR(src.Certificate().PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		_, err = n.coord(t, n.mtls(src)).Renew(tctx(t), &taonetv1.RenewRequest{Csr: csr})
		return err
	}
	alice := n.mustEnroll(t, "alice")
	aliceID := "spiffe://test.local/peer/alice"
	for i := range 3 {
		if err := renew(alice); err != nil {
			t.Fatalf("renew %d: %v", i+1, err)
		}
	}
	for i := 3; i < 5; i++ {
		if err := renew(alice); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "renew rate limit for "+aliceID) {
			t.Fatalf("renew %d: %v, want ResourceExhausted", i+1, err)
		}
	}
	if c := n.certificateCount(t, aliceID); c != 4 {
		t.Fatalf("alice has %d certificates, want 4 (enroll and three renewals)", c)
	}
	if err := renew(n.mustEnroll(t, "bob")); err != nil {
		t.Fatalf("bob's renew while alice is limited: %v", err)
	}
}

// dialFrom connects to the coordinator from the local address local
// (127.0.0.x), so that calls come from distinct source addresses.
func (n *testNet) dialFrom(tb testing.TB, conf *tls.Config, local string) taonetv1.CoordinatorClient {
	tb.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := grpc.NewClient(n.addr,
		grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return taonetv1.NewCoordinatorClient(conn)
}

// TestEnrollGlobalRateLimit rotates the source address (127.0.0.2, .3,
// ...), each well within its own per-address limit: the global ceiling
// still stops the flood.
func TestEnrollGlobalRateLimit(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.EnrollGlobalRate, c.EnrollGlobalBurst = 0.01, 3 })
	tok, _ := certs.NewToken()
	enroll := func(local string) error {
		_, err := n.dialFrom(t, n.anonymous(t), local).Enroll(tctx(t), &taonetv1.EnrollRequest{Token: tok, Csr: freshCSR(t)})
		return err
	}
	for _, local := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if err := enroll(local); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("from %s: %v, want Unauthenticated (unknown token, not limited)", local, err)
		}
	}
	for _, local := range []string{"127.0.0.5", "127.0.0.6"} {
		if err := enroll(local); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "all addresses") {
			t.Fatalf("from fresh address %s: %v, want ResourceExhausted by the global ceiling", local, err)
		}
	}
}
