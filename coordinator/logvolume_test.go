package coordinator_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestRefusalLogVolume: floods of refused calls and refused handshakes
// cost a line or two of log each, not one line per attempt.
func TestRefusalLogVolume(t *testing.T) {
	n := mustNetwork(t, nil)
	ops := n.coord(t, n.mtls(n.mustClient(t, "ops")))
	const calls = 300
	for range calls {
		_, err := ops.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("a client's Join: %v, want PermissionDenied", err)
		}
	}
	other, err := certs.NewCA(testTD, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogue := mustRogue(t, other, certs.PeerID(testTD, "mallory"), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	const handshakes = 100
	for range handshakes {
		c := n.coord(t, n.mtls(rogue))
		if _, err := c.ListPeers(tctx(t), &taonetv1.ListPeersRequest{}); status.Code(err) != codes.Unavailable {
			t.Fatalf("a foreign CA's certificate: %v, want refused at the handshake", err)
		}
	}
	logs := n.logs.String()
	refused := strings.Count(logs, "grpc.code=PermissionDenied")
	tls := strings.Count(logs, "tls handshake refused")
	t.Logf("%d refused calls wrote %d lines; %d refused handshakes wrote %d", calls, refused, handshakes, tls)
	if refused < 1 || refused > 2 || tls < 1 || tls > 2 {
		t.Fatalf("%d lines for %d refused calls and %d for %d refused handshakes, want 1-2 each", refused, calls, tls, handshakes)
	}
}
