package coordinator_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// attack prepares one attack (setup may write) and returns the call that
// must be refused.
type attack struct {
	name    string
	prepare func(t *testing.T, n *testNet) func() error
	code    codes.Code
	reason  string // substring of the one-line status message
	// inLog says the refusal happens at the TLS layer: the caller sees
	// only Unavailable and the reason is in the coordinator's log.
	inLog bool
}

func listPeersWith(t *testing.T, n *testNet, conf *tls.Config) func() error {
	c := n.coord(t, conf)
	return func() error {
		_, err := c.ListPeers(tctx(t), &taonetv1.ListPeersRequest{})
		return err
	}
}

func enrollWith(t *testing.T, n *testNet, token string, csr []byte) func() error {
	c := n.coord(t, n.anonymous(t))
	return func() error {
		_, err := c.Enroll(tctx(t), &taonetv1.EnrollRequest{Token: token, Csr: csr})
		return err
	}
}

func freshCSR(t *testing.T) []byte {
	t.Helper()
	key, err := certs.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// TestAttacks runs each attack of issue 3 against a real coordinator on
// loopback: each is refused with the right code and a one-line reason, the
// coordinator keeps serving, and the database is unchanged.
func TestAttacks(t *testing.T) {
	n := mustNetwork(t, nil)
	now := time.Now()
	attacks := []attack{
		{"ErrNoClientCertificate", func(t *testing.T, n *testNet) func() error {
			return listPeersWith(t, n, n.anonymous(t))
		}, codes.Unauthenticated, "needs a client certificate", false},
		{"ErrNoClientCertificateJoin", func(t *testing.T, n *testNet) func() error {
			c := n.coord(t, n.anonymous(t))
			return func() error {
				_, err := c.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:1", Card: mustCard(t)})
				return err
			}
		}, codes.Unauthenticated, "needs a client certificate", false},
		{"ErrCertificateFromOtherCA", func(t *testing.T, n *testNet) func() error {
			other, err := certs.NewCA(testTD, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			nb, na := certs.Validity(now, time.Hour)
			return listPeersWith(t, n, n.mtls(mustRogue(t, other, certs.ClientID(testTD, "ops"), nb, na)))
		}, codes.Unavailable, "certificate signed by unknown authority", true},
		{"ErrExpiredCertificate", func(t *testing.T, n *testNet) func() error {
			return listPeersWith(t, n, n.mtls(mustRogue(t, n.ca, certs.ClientID(testTD, "old"), now.Add(-2*time.Hour), now.Add(-time.Hour))))
		}, codes.Unavailable, "certificate has expired", true},
		{"ErrRevokedCertificateNewConnection", func(t *testing.T, n *testNet) func() error {
			src := n.mustEnroll(t, "revoked-new")
			mustRevoke(t, n, "revoked-new")
			return listPeersWith(t, n, n.mtls(src))
		}, codes.Unavailable, "identity revoked: spiffe://test.local/peer/revoked-new", true},
		{"ErrRevokedCertificateOpenConnection", func(t *testing.T, n *testNet) func() error {
			src := n.mustEnroll(t, "revoked-open")
			call := listPeersWith(t, n, n.mtls(src))
			if err := call(); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			mustRevoke(t, n, "revoked-open")
			return call
		}, codes.PermissionDenied, "revoked", false},
		{"ErrReusedToken", func(t *testing.T, n *testNet) func() error {
			tok := n.mustToken(t, "reuse")
			if err := enrollWith(t, n, tok, freshCSR(t))(); err != nil {
				t.Fatal(err)
			}
			return enrollWith(t, n, tok, freshCSR(t))
		}, codes.Unauthenticated, "already redeemed", false},
		{"ErrExpiredToken", func(t *testing.T, n *testNet) func() error {
			tok, err := coordinator.CreateToken(context.Background(), n.home, "late", time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			return enrollWith(t, n, tok.Token, freshCSR(t))
		}, codes.Unauthenticated, "expired", false},
		{"ErrCancelledToken", func(t *testing.T, n *testNet) func() error {
			tok := n.mustToken(t, "cancelled")
			if k, err := coordinator.CancelTokens(context.Background(), n.home, "cancelled"); err != nil || k != 1 {
				t.Fatalf("cancel = %d, %v", k, err)
			}
			return enrollWith(t, n, tok, freshCSR(t))
		}, codes.Unauthenticated, "cancelled", false},
		{"ErrUnknownToken", func(t *testing.T, n *testNet) func() error {
			tok, _ := certs.NewToken()
			return enrollWith(t, n, tok, freshCSR(t))
		}, codes.Unauthenticated, "unknown", false},
		{"ErrCSRAsksForAnotherName", func(t *testing.T, n *testNet) func() error {
			n.mustEnroll(t, "victim")
			tok := n.mustToken(t, "thief")
			victim, _ := url.Parse(certs.PeerID(testTD, "victim").String())
			key, _ := certs.NewKey()
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "victim"}, URIs: []*url.URL{victim}}, key)
			if err != nil {
				t.Fatal(err)
			}
			return enrollWith(t, n, tok, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		}, codes.InvalidArgument, "asks for", false},
		{"ErrTLS12", func(t *testing.T, n *testNet) func() error {
			conf := n.mtls(n.mustClient(t, "old-tls"))
			conf.MinVersion, conf.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return listPeersWith(t, n, conf)
		}, codes.Unavailable, "client offered only unsupported versions", true},
		{"ErrClientCallsJoin", func(t *testing.T, n *testNet) func() error {
			c := n.coord(t, n.mtls(n.mustClient(t, "nosy")))
			return func() error {
				_, err := c.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:1", Card: mustCard(t)})
				return err
			}
		}, codes.PermissionDenied, "may not call /taonet.v1.Coordinator/Join", false},
		{"ErrClientCallsWatch", func(t *testing.T, n *testNet) func() error {
			c := n.coord(t, n.mtls(n.mustClient(t, "watcher")))
			return func() error {
				s, err := c.Watch(tctx(t), &taonetv1.WatchRequest{})
				if err != nil {
					return err
				}
				_, err = s.Recv()
				return err
			}
		}, codes.PermissionDenied, "may not call /taonet.v1.Coordinator/Watch", false},
		{"ErrClientCallsRenew", func(t *testing.T, n *testNet) func() error {
			c := n.coord(t, n.mtls(n.mustClient(t, "renewer")))
			return func() error {
				_, err := c.Renew(tctx(t), &taonetv1.RenewRequest{Csr: freshCSR(t)})
				return err
			}
		}, codes.PermissionDenied, "may not call /taonet.v1.Coordinator/Renew", false},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			call := a.prepare(t, n)
			before := n.snapshot(t)
			err := call()
			st, _ := status.FromError(err)
			msg := st.Message()
			if a.inLog {
				// The server logs after its alert went out: give it a moment.
				deadline := time.Now().Add(2 * time.Second)
				for msg = ""; msg == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					msg = refusalLine(n.logs.String(), a.reason)
				}
			}
			if st.Code() != a.code || !strings.Contains(msg, a.reason) {
				t.Fatalf("got %v %q (logged: %q), want %v with %q", st.Code(), st.Message(), msg, a.code, a.reason)
			}
			if strings.Contains(st.Message(), "\n") {
				t.Fatalf("reason is not one line: %q", st.Message())
			}
			if after := n.snapshot(t); after != before {
				t.Fatalf("the refused call wrote to the database:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			n.mustServing(t)
		})
	}
}

// refusalLine returns the coordinator's log line of a TLS refusal that
// mentions reason, or "".
func refusalLine(logs, reason string) string {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "tls handshake refused") && strings.Contains(line, reason) {
			return line
		}
	}
	return ""
}

// mustRevoke revokes name and waits past one revocation poll.
func mustRevoke(t *testing.T, n *testNet, name string) {
	t.Helper()
	if _, err := coordinator.Revoke(context.Background(), n.home, name, "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(coordinator.DefaultConfig().RevocationPoll + 250*time.Millisecond)
}

func TestConcurrentEnrollOneToken(t *testing.T) {
	n := mustNetwork(t, nil)
	tok := n.mustToken(t, "racer")
	const racers = 8
	calls := make([]func() error, racers)
	for i := range calls {
		calls[i] = enrollWith(t, n, tok, freshCSR(t))
	}
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = calls[i]()
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if status.Code(err) != codes.Unauthenticated {
			t.Errorf("loser got %v, want Unauthenticated", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent redemptions won, want exactly 1", wins, racers)
	}
}

func TestWrongPinNeverSendsToken(t *testing.T) {
	n := mustNetwork(t, nil)
	tok := n.mustToken(t, "pinned")
	other, err := certs.NewCA(testTD, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pinned")
	before := n.snapshot(t)
	err = peer.Enroll(tctx(t), dir, n.addr, tok, other.Pin())
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "bad ca pin") {
		t.Fatalf("enroll with a wrong pin: %v; want Unavailable naming the bad pin", err)
	}
	if strings.Contains(n.logs.String(), "grpc.method=Enroll") {
		t.Fatal("the coordinator saw an Enroll call: the token left the joining node")
	}
	if after := n.snapshot(t); after != before {
		t.Fatal("the database changed")
	}
	if err := peer.Enroll(tctx(t), dir, n.addr, tok, n.pin); err != nil {
		t.Fatalf("the token should still be good with the right pin: %v", err)
	}
}

// TestRequestFieldsNameNoOne shows that nothing in a request can act for
// another identity: an advertised address copied from another peer and an
// injected unknown field naming another peer change only the caller's own
// entry.
func TestRequestFieldsNameNoOne(t *testing.T) {
	n := mustNetwork(t, nil)
	ctx := tctx(t)
	alice := n.coord(t, n.mtls(n.mustEnroll(t, "alice")))
	if _, err := alice.Join(ctx, &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)}); err != nil {
		t.Fatal(err)
	}
	aliceID := certs.PeerID(testTD, "alice").String()
	aliceRow := func() string {
		for _, line := range strings.Split(n.snapshot(t), "\n") {
			if strings.HasPrefix(line, aliceID+" ") {
				return line
			}
		}
		t.Fatal("alice missing from the directory")
		return ""
	}
	before := aliceRow()
	mallory := n.coord(t, n.mtls(n.mustEnroll(t, "mallory")))
	req := &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)}
	req.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 99, protowire.BytesType), aliceID))
	resp, err := mallory.Join(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetIdentity() != certs.PeerID(testTD, "mallory").String() {
		t.Fatalf("coordinator saw mallory as %s", resp.GetIdentity())
	}
	if _, err := mallory.Leave(ctx, &taonetv1.LeaveRequest{}); err != nil {
		t.Fatal(err)
	}
	if after := aliceRow(); after != before {
		t.Fatalf("mallory's requests changed alice's entry:\n%s\n%s", before, after)
	}
}
