package peer_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/peer"
)

// TestEnrollRetryAfterLostAnswer: the coordinator redeemed the token but
// the peer never stored the answer (killed between the two). Enrolling
// again with the same token from the same home gets the same certificate,
// so the name is not burned; another key with that token is refused, and
// so is a retry once the identity is revoked.
func TestEnrollRetryAfterLostAnswer(t *testing.T) {
	n := mustCoordinator(t, 0)
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "dan")
	token := n.token(t, "dan")
	if err := peer.Enroll(ctx, home, n.addr, token, n.pin); err != nil {
		t.Fatal(err)
	}
	first := readCert(t, home)
	// The crash: key.pem was kept, the answer was not.
	for _, f := range []string{peer.CertFile, peer.CAFile} {
		if err := os.Remove(filepath.Join(home, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := peer.Enroll(ctx, home, n.addr, token, n.pin); err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if again := readCert(t, home); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("retry got serial %x, the redemption issued %x", again.SerialNumber, first.SerialNumber)
	}
	r := n.mustPeer(t, home, "")
	if r.ID().String() != "spiffe://test.local/peer/dan" {
		t.Fatalf("peer runs as %s", r.ID())
	}
	_ = r.stop()

	err := peer.Enroll(ctx, filepath.Join(t.TempDir(), "thief"), n.addr, token, n.pin)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the same token with another key: %v, want Unauthenticated", err)
	}

	if _, err := coordinator.Revoke(ctx, n.home, "dan", "test"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(home, peer.CertFile)); err != nil {
		t.Fatal(err)
	}
	if err := peer.Enroll(ctx, home, n.addr, token, n.pin); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("retry after the identity was revoked: %v, want PermissionDenied", err)
	}
}

func readCert(tb testing.TB, home string) *x509.Certificate {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(home, peer.CertFile))
	if err != nil {
		tb.Fatal(err)
	}
	c, err := certs.ParseCert(b)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
