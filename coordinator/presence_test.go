package coordinator_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// events collects a Watch stream's directory changes in the background.
type events struct {
	ch   chan *taonetv1.DirectoryChanged
	errs chan error
}

func (n *testNet) watch(tb testing.TB, src *certs.Source) (*events, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	s, err := n.coord(tb, n.mtls(src)).Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		tb.Fatal(err)
	}
	e := &events{ch: make(chan *taonetv1.DirectoryChanged, 10000), errs: make(chan error, 1)}
	go func() {
		for {
			ev, err := s.Recv()
			if err != nil {
				e.errs <- err
				return
			}
			if d := ev.GetDirectoryChanged(); d != nil {
				e.ch <- d
			}
		}
	}()
	return e, cancel
}

// next waits for the next directory change of identity.
func (e *events) next(tb testing.TB, identity string, d time.Duration) taonetv1.DirectoryChange {
	tb.Helper()
	timeout := time.After(d)
	for {
		select {
		case ch := <-e.ch:
			if ch.GetPeer().GetIdentity() == identity {
				return ch.GetChange()
			}
		case err := <-e.errs:
			tb.Fatalf("watch ended: %v", err)
		case <-timeout:
			tb.Fatalf("no directory change of %s within %v", identity, d)
		}
	}
}

func (n *testNet) join(tb testing.TB, src *certs.Source, port int) {
	tb.Helper()
	if _, err := n.coord(tb, n.mtls(src)).Join(tctx(tb), &taonetv1.JoinRequest{ProtocolVersion: 1,
		AdvertiseAddress: fmt.Sprintf("127.0.0.1:%d", port), Card: mustCard(tb)}); err != nil {
		tb.Fatal(err)
	}
}

// listed returns ListPeers' entries by identity.
func (n *testNet) listed(tb testing.TB, src *certs.Source, includeAway bool) map[string]*taonetv1.PeerInfo {
	tb.Helper()
	resp, err := n.coord(tb, n.mtls(src)).ListPeers(tctx(tb), &taonetv1.ListPeersRequest{IncludeAway: includeAway})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*taonetv1.PeerInfo{}
	for _, p := range resp.GetPeers() {
		out[p.GetIdentity()] = p
	}
	return out
}

// TestAway: a peer whose Watch stream is gone past the grace period is
// away (AWAY event, out of ListPeers unless asked), and back (JOINED) when
// it watches again. A peer that joins and never watches goes away too.
func TestAway(t *testing.T) {
	const grace = 400 * time.Millisecond
	n := mustNetwork(t, func(c *coordinator.Config) { c.AwayAfter = grace })
	kim, lou, mo := n.mustEnroll(t, "kim"), n.mustEnroll(t, "lou"), n.mustEnroll(t, "mo")
	kimID, louID, moID := kim.ID().String(), lou.ID().String(), mo.ID().String()
	n.join(t, kim, 7001)
	n.join(t, lou, 7002)
	kimEvents, _ := n.watch(t, kim)
	_, stopLou := n.watch(t, lou)
	if l := n.listed(t, kim, false); l[louID].GetState() != taonetv1.PeerState_PEER_STATE_ACTIVE {
		t.Fatalf("lou watching: listed %v, want active", l[louID])
	}

	if ch := kimEvents.next(t, louID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED {
		t.Fatalf("kim's Watch snapshot: lou %v, want JOINED", ch)
	}
	stopLou()
	gone := time.Now()
	if ch := kimEvents.next(t, louID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_AWAY {
		t.Fatalf("after lou's Watch ended: %v, want AWAY", ch)
	}
	if d := time.Since(gone); d < grace {
		t.Fatalf("lou away after %v, before the %v grace period", d, grace)
	}
	if _, ok := n.listed(t, kim, false)[louID]; ok {
		t.Fatal("away lou still in ListPeers")
	}
	if p := n.listed(t, kim, true)[louID]; p.GetState() != taonetv1.PeerState_PEER_STATE_AWAY {
		t.Fatalf("ListPeers include_away: lou = %v, want AWAY", p)
	}
	if _, ok := n.listed(t, kim, false)[kimID]; !ok {
		t.Fatal("watching kim left ListPeers")
	}

	n.watch(t, lou)
	if ch := kimEvents.next(t, louID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED {
		t.Fatalf("lou watching again: %v, want JOINED", ch)
	}
	if _, ok := n.listed(t, kim, false)[louID]; !ok {
		t.Fatal("lou back but not in ListPeers")
	}

	n.join(t, mo, 7003) // joins, never watches
	if ch := kimEvents.next(t, moID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED {
		t.Fatalf("mo joined: %v", ch)
	}
	if ch := kimEvents.next(t, moID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_AWAY {
		t.Fatalf("mo never watched: %v, want AWAY", ch)
	}
	n.join(t, mo, 7003)
	if ch := kimEvents.next(t, moID, 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED {
		t.Fatalf("mo joined again: %v, want JOINED", ch)
	}
}

// TestRevokedClientEvent: revoking a client pushes REVOKED to peers'
// Watch streams (peers refuse clients too), and a Watch stream opened
// later still learns it while the client's certificate is unexpired.
func TestRevokedClientEvent(t *testing.T) {
	n := mustNetwork(t, func(c *coordinator.Config) { c.RevocationPoll = 50 * time.Millisecond })
	kim := n.mustEnroll(t, "kim")
	ops := n.mustClient(t, "ops")
	n.join(t, kim, 7001)
	before, _ := n.watch(t, kim)
	if _, err := coordinator.Revoke(context.Background(), n.home, "client/ops", "test"); err != nil {
		t.Fatal(err)
	}
	if ch := before.next(t, ops.ID().String(), 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED {
		t.Fatalf("revoked client: %v, want REVOKED", ch)
	}
	after, _ := n.watch(t, kim)
	if ch := after.next(t, ops.ID().String(), 5*time.Second); ch != taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED {
		t.Fatalf("Watch opened after the revocation: %v, want REVOKED", ch)
	}
}

// TestLargeDirectory: 1,500 active peers (with the longest fields a Join
// accepts) are all reachable: Join answers a first page and a token,
// ListPeers pages the rest, and Watch sends every one, with no message
// over the limit.
func TestLargeDirectory(t *testing.T) {
	const peers = 1500
	n := mustNetwork(t, nil)
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(n.home, coordinator.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	card := longCard(t)
	now := time.Now()
	for i := range peers {
		id := certs.PeerID(testTD, fmt.Sprintf("p%04d-%s", i, strings.Repeat("x", 50)))
		cert := &x509.Certificate{SerialNumber: big.NewInt(int64(1_000_000 + i)), NotBefore: now, NotAfter: now.Add(time.Hour)}
		if err := db.EnrollIssued(ctx, &certs.Issued{ID: id, Cert: cert}, now); err != nil {
			t.Fatal(err)
		}
		addr := strings.Repeat("a", 58) + "." + strings.Repeat("b", 60) + fmt.Sprintf(".example:%d", 1000+i)
		if _, err := db.JoinPeer(ctx, id.String(), addr, card, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	kim := n.mustEnroll(t, "kim")
	c := n.coord(t, n.mtls(kim))
	resp, err := c.Join(tctx(t), &taonetv1.JoinRequest{ProtocolVersion: 1, AdvertiseAddress: "127.0.0.1:7001", Card: mustCard(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPeers()) != 1000 || resp.GetNextPageToken() == "" {
		t.Fatalf("join: %d peers, next %q; want a first page of 1000 and a token", len(resp.GetPeers()), resp.GetNextPageToken())
	}
	seen := map[string]bool{}
	for _, p := range resp.GetPeers() {
		seen[p.GetIdentity()] = true
	}
	for token := resp.GetNextPageToken(); token != ""; {
		page, err := c.ListPeers(tctx(t), &taonetv1.ListPeersRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if size := proto.Size(page); size > 4<<20 {
			t.Fatalf("ListPeers page is %d bytes", size)
		}
		for _, p := range page.GetPeers() {
			seen[p.GetIdentity()] = true
		}
		token = page.GetNextPageToken()
	}
	if len(seen) != peers+1 {
		t.Fatalf("Join and ListPeers reached %d peers, want %d", len(seen), peers+1)
	}

	ev, _ := n.watch(t, kim)
	got := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(got) < peers+1 {
		select {
		case ch := <-ev.ch:
			got[ch.GetPeer().GetIdentity()] = true
		case err := <-ev.errs:
			t.Fatalf("watch after %d peers: %v", len(got), err)
		case <-timeout:
			t.Fatalf("watch sent %d of %d peers", len(got), peers+1)
		}
	}
}

// longCard is a model card whose strings have the longest length a Join
// accepts.
func longCard(tb testing.TB) []byte {
	tb.Helper()
	c := mustCard(tb)
	c.Device = strings.Repeat("d", 64)
	c.InputShape = []int64{1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40}
	b, err := proto.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRoundOpenedParts: a round of 2,500 peers with the longest fields is
// split into events of at most 1,000 peers, each well under the 4 MiB
// message limit, that together name every peer once with its weight.
func TestRoundOpenedParts(t *testing.T) {
	card := longCard(t)
	var peers []ledger.Entry
	weights := map[string]float64{}
	for i := range 2500 {
		id := certs.PeerID(testTD, fmt.Sprintf("p%04d-%s", i, strings.Repeat("x", 57))).String()
		peers = append(peers, ledger.Entry{Identity: id, Name: id[len(id)-63:], Address: strings.Repeat("a", 250) + ":65535", Card: card})
		weights[id] = float64(i) / 1e4
	}
	events := coordinator.OpenedEvents(&taonetv1.RoundOpened{Round: 7}, peers, weights)
	if len(events) != 3 || events[0].GetRoundOpened().GetParts() != 3 {
		t.Fatalf("%d events, parts %d; want 3", len(events), events[0].GetRoundOpened().GetParts())
	}
	dir := events[0].GetRoundOpened().GetDirectory()
	ws := events[0].GetRoundOpened().GetWeights()
	for i, ev := range events {
		size := proto.Size(ev)
		t.Logf("event %d: %d bytes", i, size)
		if size > 2<<20 {
			t.Errorf("event %d is %d bytes", i, size)
		}
		if i == 0 {
			continue
		}
		part := ev.GetRoundOpenedPart()
		if part.GetRound() != 7 || part.GetPart() != uint32(i) {
			t.Fatalf("event %d: round %d part %d", i, part.GetRound(), part.GetPart())
		}
		dir, ws = append(dir, part.GetDirectory()...), append(ws, part.GetWeights()...)
	}
	if len(dir) != len(peers) || len(ws) != len(peers) {
		t.Fatalf("%d entries and %d weights for %d peers", len(dir), len(ws), len(peers))
	}
	for i, p := range peers {
		if dir[i].GetIdentity() != p.Identity || ws[i].GetIdentity() != p.Identity || ws[i].GetWeight() != weights[p.Identity] {
			t.Fatalf("entry %d: %s / %s %v, want %s", i, dir[i].GetIdentity(), ws[i].GetIdentity(), ws[i].GetWeight(), p.Identity)
		}
	}
	one := coordinator.OpenedEvents(&taonetv1.RoundOpened{Round: 8}, peers[:3], weights)
	if len(one) != 1 || one[0].GetRoundOpened().GetParts() != 1 || len(one[0].GetRoundOpened().GetDirectory()) != 3 {
		t.Fatalf("3 peers: %d events", len(one))
	}
}
