package coordinator

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// service serves taonet.v1.Coordinator.
type service struct {
	taonetv1.UnimplementedCoordinatorServer
	s *Server
}

var _ taonetv1.CoordinatorServer = (*service)(nil)

// Paging limits of list calls.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func (v *service) fail(ctx context.Context, err error) error {
	return toStatus(ctx, v.s.cfg.Logger, err)
}

// Enroll redeems a join token for a certificate (no client certificate
// needed; rate-limited per address).
func (v *service) Enroll(ctx context.Context, req *taonetv1.EnrollRequest) (*taonetv1.EnrollResponse, error) {
	iss, err := v.s.enroller.Enroll(ctx, req.GetToken(), req.GetCsr())
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	v.s.cfg.Logger.InfoContext(ctx, "enrolled", "identity", iss.ID.String(), "not_after", iss.Cert.NotAfter)
	return &taonetv1.EnrollResponse{
		Identity:    iss.ID.String(),
		Certificate: iss.PEM,
		Ca:          v.s.home.ca.CertPEM(),
		NotAfter:    timestamppb.New(iss.Cert.NotAfter),
	}, nil
}

// Renew issues a fresh certificate for the caller's own identity.
func (v *service) Renew(ctx context.Context, req *taonetv1.RenewRequest) (*taonetv1.RenewResponse, error) {
	id, _ := callerFrom(ctx)
	now := time.Now()
	nb, na := certs.Validity(now, v.s.cfg.LeafLifetime)
	iss, err := v.s.home.ca.Issue(req.GetCsr(), id, nb, na)
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	if err := v.s.home.db.RecordRenewal(ctx, iss, now); err != nil {
		return nil, v.fail(ctx, err)
	}
	return &taonetv1.RenewResponse{Identity: id.String(), Certificate: iss.PEM, NotAfter: timestamppb.New(iss.Cert.NotAfter)}, nil
}

// Join admits the calling peer at its advertised address.
func (v *service) Join(ctx context.Context, req *taonetv1.JoinRequest) (*taonetv1.JoinResponse, error) {
	id, _ := callerFrom(ctx)
	if req.GetProtocolVersion() != ProtocolVersion {
		return nil, v.fail(ctx, fmt.Errorf("%w: peer speaks %d, coordinator %d", errProtocolVersion, req.GetProtocolVersion(), ProtocolVersion))
	}
	if err := v.s.home.task.CheckCard(req.GetCard()); err != nil {
		return nil, v.fail(ctx, err)
	}
	if err := checkAdvertise(req.GetAdvertiseAddress()); err != nil {
		return nil, v.fail(ctx, err)
	}
	card, err := proto.Marshal(req.GetCard())
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	if err := v.joinAndPublish(ctx, id, req.GetAdvertiseAddress(), card); err != nil {
		return nil, v.fail(ctx, err)
	}
	page, err := v.listPeers(ctx, "", maxPageSize, false)
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	return &taonetv1.JoinResponse{Identity: id.String(), ProtocolVersion: ProtocolVersion, Task: v.s.home.task.Name,
		Peers: page.Peers, NextPageToken: page.NextPageToken}, nil
}

// joinAndPublish writes the peer's directory entry and publishes JOINED
// under the directory lock, so the event can never follow a REVOKED event
// for the same identity (pollRevocations publishes under the same lock).
func (v *service) joinAndPublish(ctx context.Context, id certs.ID, address string, card []byte) error {
	v.s.dirMu.Lock()
	defer v.s.dirMu.Unlock()
	e, err := v.s.home.db.JoinPeer(ctx, id.String(), address, card, time.Now())
	if err != nil {
		return err
	}
	v.s.presence.joined(id.String())
	v.s.publishDirectory(taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED, e)
	return nil
}

// checkAdvertise accepts HOST:PORT where HOST is an IP address or a DNS
// name and PORT is 1-65535 in digits. Other peers dial the address, so it
// must not point them at link-local or metadata services
// (169.254.169.254), the unspecified address, multicast or broadcast.
func checkAdvertise(addr string) error {
	if len(addr) > 260 {
		return fmt.Errorf("%w: address is %d bytes", errBadAddress, len(addr))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %q is not HOST:PORT", errBadAddress, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("%w: %q has no port in 1-65535", errBadAddress, addr)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAdvertiseIP(addr, ip)
	}
	if !isDNSName(host) {
		return fmt.Errorf("%w: host of %q is neither an IP address nor a DNS name", errBadAddress, addr)
	}
	if metadataHosts[strings.ToLower(strings.TrimSuffix(host, "."))] {
		return fmt.Errorf("%w: %q is a metadata service", errBadAddress, addr)
	}
	return nil
}

// metadataHosts are cloud metadata services, refused by name as by
// address.
var metadataHosts = map[string]bool{"metadata": true, "metadata.google.internal": true, "instance-data": true}

func checkAdvertiseIP(addr string, ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case ip.Zone() != "":
		return fmt.Errorf("%w: %q has a zone", errBadAddress, addr)
	case ip.IsUnspecified():
		return fmt.Errorf("%w: %q is the unspecified address", errBadAddress, addr)
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %q is link-local (metadata services live there)", errBadAddress, addr)
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: %q is multicast or broadcast", errBadAddress, addr)
	}
	return nil
}

// isDNSName reports whether host is a DNS name: at most 253 bytes of
// labels of 1-63 letters, digits and '-', not starting or ending with '-',
// with an optional final '.'. The last label must start with a letter, as
// every top-level domain does: resolvers read "0", "127.1" or
// "0x7f000001" as addresses.
func isDNSName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	labels := strings.Split(host, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	c := labels[len(labels)-1][0]
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Leave takes the calling peer out of the directory.
func (v *service) Leave(ctx context.Context, _ *taonetv1.LeaveRequest) (*taonetv1.LeaveResponse, error) {
	id, _ := callerFrom(ctx)
	// Under the directory lock, like Join and revocation, so that LEFT
	// cannot overtake a JOINED or REVOKED event of the same identity.
	v.s.dirMu.Lock()
	e, was, err := v.s.home.db.LeavePeer(ctx, id.String(), time.Now())
	if err == nil && was {
		v.s.presence.forget(id.String())
		v.s.publishDirectory(taonetv1.DirectoryChange_DIRECTORY_CHANGE_LEFT, e)
	}
	v.s.dirMu.Unlock()
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	v.s.peers.forget(id.String())
	return &taonetv1.LeaveResponse{}, nil
}

// Watch sends the current directory as JOINED events and the revocations
// still in force as REVOKED events, then every event until the caller
// cancels, is revoked or falls too far behind.
func (v *service) Watch(_ *taonetv1.WatchRequest, stream taonetv1.Coordinator_WatchServer) error {
	ctx := stream.Context()
	id, _ := callerFrom(ctx)
	ctx, cut := context.WithCancelCause(ctx)
	defer cut(nil)
	w, err := v.s.hub.subscribe(id.String(), cut)
	if err != nil {
		return v.fail(ctx, err)
	}
	defer v.s.hub.unsubscribe(w)
	if id.Role == certs.RolePeer {
		v.watching(ctx, id.String())
		defer func() { v.s.presence.watchClosed(id.String(), time.Now()) }()
	}
	// The header tells the caller it is subscribed: no event published
	// from now on is missed.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	if err := v.sendDirectory(ctx, stream); err != nil {
		return err
	}
	// A stream that connects mid-round learns the round's state now; the
	// same events may follow from the subscription, and peers take them
	// idempotently.
	if v.s.sched != nil {
		for _, ev := range v.s.sched.Current() {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return v.fail(ctx, context.Cause(ctx))
		case <-v.s.stopping:
			return status.Error(codes.Unavailable, "coordinator shutting down")
		case ev := <-w.events:
			if err := stream.SendMsg(ev); err != nil {
				return err
			}
		}
	}
}

// sendDirectory sends the whole directory but away peers, a page at a
// time, as JOINED events, then a REVOKED event for each revoked identity that still holds
// an unexpired certificate, so a peer that (re)connects refuses it too.
func (v *service) sendDirectory(ctx context.Context, stream taonetv1.Coordinator_WatchServer) error {
	after := ""
	for {
		page, err := v.s.home.db.ActivePeers(ctx, after, maxPageSize)
		if err != nil {
			return v.fail(ctx, err)
		}
		for _, p := range page {
			if v.s.presence.isAway(p.Identity) {
				continue
			}
			if err := stream.Send(directoryEvent(taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED, p)); err != nil {
				return err
			}
		}
		if len(page) < maxPageSize {
			break
		}
		after = page[len(page)-1].Identity
	}
	revoked, err := v.s.home.db.RevokedLive(ctx, time.Now())
	if err != nil {
		return v.fail(ctx, err)
	}
	for _, id := range revoked {
		if err := stream.Send(revokedEvent(id)); err != nil {
			return err
		}
	}
	return nil
}

// ListPeers pages through the active peers, ordered by identity; away
// peers only with include_away.
func (v *service) ListPeers(ctx context.Context, req *taonetv1.ListPeersRequest) (*taonetv1.ListPeersResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		return nil, v.fail(ctx, fmt.Errorf("%w: page_size %d is over %d", errBadPage, size, maxPageSize))
	}
	after, err := base64.RawURLEncoding.DecodeString(req.GetPageToken())
	if err != nil {
		return nil, v.fail(ctx, fmt.Errorf("%w: page_token is malformed", errBadPage))
	}
	resp, err := v.listPeers(ctx, string(after), size, req.GetIncludeAway())
	if err != nil {
		return nil, v.fail(ctx, err)
	}
	return resp, nil
}

// listPeers reads one page of at most size active peers after the
// identity after. Away peers are left out of the page unless includeAway,
// so a page may be short and still have a next one.
func (v *service) listPeers(ctx context.Context, after string, size int, includeAway bool) (*taonetv1.ListPeersResponse, error) {
	list, err := v.s.home.db.ActivePeers(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &taonetv1.ListPeersResponse{}
	if len(list) > size {
		list = list[:size]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(list[size-1].Identity))
	}
	for _, e := range list {
		away := v.s.presence.isAway(e.Identity)
		if away && !includeAway {
			continue
		}
		p := peerInfo(e)
		if away {
			p.State = taonetv1.PeerState_PEER_STATE_AWAY
		}
		resp.Peers = append(resp.Peers, p)
	}
	return resp, nil
}

// watching records a peer's Watch stream; a peer that was away is back,
// and peers learn it as JOINED.
func (v *service) watching(ctx context.Context, identity string) {
	v.s.dirMu.Lock()
	defer v.s.dirMu.Unlock()
	if !v.s.presence.watchOpened(identity) {
		return
	}
	e, err := v.s.home.db.Entry(ctx, identity)
	if err != nil || e.State != ledger.StateActive {
		return
	}
	v.s.cfg.Logger.InfoContext(ctx, "peer back", "identity", identity)
	v.s.publishDirectory(taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED, e)
}

// peerInfo turns a directory entry into its wire form.
func peerInfo(e ledger.Entry) *taonetv1.PeerInfo {
	p := &taonetv1.PeerInfo{Identity: e.Identity, Name: e.Name, Address: e.Address, State: taonetv1.PeerState_PEER_STATE_ACTIVE}
	if !e.JoinedAt.IsZero() {
		p.JoinedAt = timestamppb.New(e.JoinedAt)
	}
	if len(e.Card) > 0 {
		card := &taonetv1.ModelCard{}
		if proto.Unmarshal(e.Card, card) == nil {
			p.Card = card
		}
	}
	return p
}

// revokedEvent tells peers that identity, a peer or a client, is revoked.
func revokedEvent(identity string) *taonetv1.WatchResponse {
	p := &taonetv1.PeerInfo{Identity: identity}
	if id, err := certs.ParseID(identity); err == nil {
		p.Name = id.Name
	}
	return &taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_DirectoryChanged{
		DirectoryChanged: &taonetv1.DirectoryChanged{Change: taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED, Peer: p},
	}}
}

func directoryEvent(change taonetv1.DirectoryChange, e ledger.Entry) *taonetv1.WatchResponse {
	return &taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_DirectoryChanged{
		DirectoryChanged: &taonetv1.DirectoryChanged{Change: change, Peer: peerInfo(e)},
	}}
}
