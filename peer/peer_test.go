package peer_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

const (
	aliceID = "spiffe://test.local/peer/alice"
	bobID   = "spiffe://test.local/peer/bob"
)

// TestTwoPeers joins two real peers to a real coordinator and checks who
// may call whom.
func TestTwoPeers(t *testing.T) {
	n := mustCoordinator(t, 0)
	dir := t.TempDir()
	alice := n.mustPeer(t, filepath.Join(dir, "alice"), n.token(t, "alice"))
	bob := n.mustPeer(t, filepath.Join(dir, "bob"), n.token(t, "bob"))
	waitFor(t, 5*time.Second, "peers see each other", func() bool { return alice.sees(bobID) && bob.sees(aliceID) })
	bobInfo, _ := alice.find(bobID)
	ctx := tctx(t)

	t.Run("OKDescribe", func(t *testing.T) {
		resp, err := peerClient(t, alice.Dialer(), bobID, bobInfo.GetAddress()).Describe(ctx, &taonetv1.DescribeRequest{})
		if err != nil || resp.GetCard().GetClasses() != 10 || resp.GetCard().GetArchitecture() != "mlp" {
			t.Fatalf("describe = %v, %v", resp, err)
		}
	})
	t.Run("OKForwardAuthorized", func(t *testing.T) {
		s, err := peerClient(t, alice.Dialer(), bobID, bobInfo.GetAddress()).Forward(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("empty forward stream from a directory peer: %v, want a clean end", err)
		}
	})
	t.Run("OKClientDescribes", func(t *testing.T) {
		ops := n.clientDialer(t, "ops")
		if _, err := peerClient(t, ops, bobID, bobInfo.GetAddress()).Describe(ctx, &taonetv1.DescribeRequest{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrClientForward", func(t *testing.T) {
		ops := n.clientDialer(t, "ops2")
		s, err := peerClient(t, ops, bobID, bobInfo.GetAddress()).Forward(ctx)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("forward from a client: %v, want PermissionDenied", err)
		}
	})
	t.Run("ErrAnotherIdentityAnswers", func(t *testing.T) {
		// bob's entry, but the address is alice's: alice answers and fails
		// the identity check before anything is sent.
		_, err := peerClient(t, bob.Dialer(), bobID, alice.Addr().String()).Describe(ctx, &taonetv1.DescribeRequest{})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "is not "+bobID) {
			t.Fatalf("err = %v, want Unavailable naming the mismatch", err)
		}
	})
	t.Run("ErrPeerOutsideDirectory", func(t *testing.T) {
		carolHome := filepath.Join(dir, "carol")
		if err := peer.Enroll(ctx, carolHome, n.addr, n.token(t, "carol"), n.pin); err != nil {
			t.Fatal(err)
		}
		_, err := peerClient(t, dialerFrom(t, carolHome), bobID, bobInfo.GetAddress()).Describe(ctx, &taonetv1.DescribeRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("enrolled peer outside the directory: %v, want refused at the handshake", err)
		}
	})
	t.Run("OKRevokedPeerDropped", func(t *testing.T) {
		start := time.Now()
		if _, err := coordinator.Revoke(context.Background(), n.home, "bob", "test"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "alice drops bob within a second", func() bool { return !alice.sees(bobID) })
		t.Logf("alice dropped bob after %v", time.Since(start))
		select {
		case err := <-bob.done:
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("bob stopped with %v, want PermissionDenied", err)
			}
			bob.done <- err
		case <-time.After(2 * time.Second):
			t.Fatal("revoked bob kept running")
		}
		aliceInfo, _ := bob.find(aliceID)
		_, err := peerClient(t, bob.Dialer(), aliceID, aliceInfo.GetAddress()).Describe(ctx, &taonetv1.DescribeRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("revoked bob calling alice: %v, want refused at the handshake", err)
		}
	})
}

// TestRestartReusesCertificate stops a peer (it leaves the directory) and
// starts it again from its home without a token.
func TestRestartReusesCertificate(t *testing.T) {
	n := mustCoordinator(t, 0)
	home := filepath.Join(t.TempDir(), "alice")
	first := n.mustPeer(t, home, n.token(t, "alice"))
	watcher := n.mustPeer(t, filepath.Join(t.TempDir(), "bob"), n.token(t, "bob"))
	waitFor(t, 5*time.Second, "bob sees alice", func() bool { return watcher.sees(aliceID) })
	certBefore, _ := os.ReadFile(filepath.Join(home, peer.CertFile))
	if st, err := os.Stat(filepath.Join(home, peer.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v, %v; want mode 0600", st, err)
	}
	if err := first.stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	waitFor(t, 2*time.Second, "bob sees alice leave", func() bool { return !watcher.sees(aliceID) })
	second := n.mustPeer(t, home, "")
	waitFor(t, 5*time.Second, "bob sees alice rejoin", func() bool { return watcher.sees(aliceID) })
	if second.ID().String() != aliceID {
		t.Fatalf("restarted as %s", second.ID())
	}
	if certAfter, _ := os.ReadFile(filepath.Join(home, peer.CertFile)); string(certAfter) != string(certBefore) {
		t.Fatal("restart changed the certificate")
	}
}

// TestRenewal runs a peer with 3-second certificates: it renews before
// expiry with no operator step, renews again after the first certificate
// expired (on a connection that presents the new one), and stays reachable
// and watching.
func TestRenewal(t *testing.T) {
	n := mustCoordinator(t, 3*time.Second)
	home := filepath.Join(t.TempDir(), "alice")
	alice := n.mustPeer(t, home, n.token(t, "alice"))
	first := alice.Certificate().Leaf()
	waitFor(t, 4*time.Second, "certificate renewed", func() bool {
		return alice.Certificate().Leaf().SerialNumber.Cmp(first.SerialNumber) != 0
	})
	second := alice.Certificate().Leaf()
	time.Sleep(time.Until(first.NotAfter) + 200*time.Millisecond)
	// The second renewal falls after the first certificate expired: it
	// must not go out on a connection still authenticated by that one.
	waitFor(t, time.Until(second.NotAfter), "certificate renewed again after the first expired", func() bool {
		return alice.Certificate().Leaf().SerialNumber.Cmp(second.SerialNumber) != 0
	})
	ops := n.clientDialer(t, "ops")
	if _, err := peerClient(t, ops, aliceID, alice.Addr().String()).Describe(tctx(t), &taonetv1.DescribeRequest{}); err != nil {
		t.Fatalf("after the first certificate expired: %v", err)
	}
	n.mustPeer(t, filepath.Join(t.TempDir(), "bob"), n.token(t, "bob"))
	waitFor(t, 5*time.Second, "alice's Watch stream, reopened after renewal, reports bob", func() bool { return alice.sees(bobID) })
	onDisk, err := os.ReadFile(filepath.Join(home, peer.CertFile))
	if err != nil || !strings.Contains(string(onDisk), "CERTIFICATE") {
		t.Fatal(err)
	}
	select {
	case err := <-alice.done:
		t.Fatalf("peer stopped: %v", err)
	default:
	}
}

// TestReconnect restarts the coordinator under a running peer: the peer's
// Watch stream comes back by itself (backoff) and it learns of a peer that
// joined after the restart.
func TestReconnect(t *testing.T) {
	n := mustCoordinator(t, 0)
	alice := n.mustPeer(t, filepath.Join(t.TempDir(), "alice"), n.token(t, "alice"))
	waitFor(t, 5*time.Second, "alice joined", func() bool { return alice.sees(aliceID) })
	addr := n.addr
	n.stop()
	time.Sleep(300 * time.Millisecond)
	n.start(t, addr)
	n.mustPeer(t, filepath.Join(t.TempDir(), "bob"), n.token(t, "bob"))
	waitFor(t, 5*time.Second, "alice sees bob after the restart", func() bool { return alice.sees(bobID) })
}

func TestNew(t *testing.T) {
	n := mustCoordinator(t, 0)
	t.Run("ErrNotEnrolled", func(t *testing.T) {
		_, err := peer.New(context.Background(), n.config(t.TempDir()))
		if !errors.Is(err, peer.ErrNotEnrolled) {
			t.Fatalf("err = %v, want ErrNotEnrolled", err)
		}
	})
	t.Run("ErrWrongCard", func(t *testing.T) {
		cfg := n.config(t.TempDir())
		cfg.Model = "resnet"
		if err := cfg.Validate(); err == nil {
			t.Fatal("unknown model accepted")
		}
	})
	t.Run("ErrTokenWithoutPin", func(t *testing.T) {
		cfg := n.config(t.TempDir())
		cfg.Token = "taonet_x"
		if err := cfg.Validate(); err == nil {
			t.Fatal("token without pin accepted")
		}
	})
}

// TestEnrollWaitsForCoordinator: a peer started before its coordinator
// listens retries enrollment until it does.
func TestEnrollWaitsForCoordinator(t *testing.T) {
	n := mustCoordinator(t, 0)
	addr := n.addr
	n.stop()
	cfg := n.config(filepath.Join(t.TempDir(), "early"))
	cfg.Token, cfg.CAPin = n.token(t, "early"), n.pin
	done := make(chan error, 1)
	go func() {
		p, err := peer.New(tctx(t), cfg)
		if err == nil {
			p.Close()
		}
		done <- err
	}()
	time.Sleep(700 * time.Millisecond)
	n.start(t, addr)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("enrollment while the coordinator started: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("enrollment did not finish")
	}
}

// TestForeignNetwork: a home enrolled in one network, pointed at another
// network's coordinator, stops with a clear error instead of retrying.
func TestForeignNetwork(t *testing.T) {
	a, b := mustCoordinator(t, 0), mustCoordinator(t, 0)
	home := filepath.Join(t.TempDir(), "alice")
	if err := peer.Enroll(tctx(t), home, a.addr, a.token(t, "alice"), a.pin); err != nil {
		t.Fatal(err)
	}
	cfg := b.config(home)
	p, err := peer.New(tctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(tctx(t)) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not of this home's network") {
			t.Fatalf("run against another network: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the peer kept retrying another network's coordinator")
	}
}
