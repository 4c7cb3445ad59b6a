package coordinator

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/metrics"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// peerDialer is the coordinator's client of the peers' Forward: it dials
// each peer at its advertised address with the coordinator's certificate
// and accepts the server only if it presents the directory entry's SPIFFE
// ID. It keeps one connection per identity and address, and counts the
// exchange with each peer (bytes, batches).
type peerDialer struct {
	src      *certs.Source
	pool     *x509.CertPool
	exchange *metrics.Exchange // nil: not counted

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

var _ Evaluator = (*peerDialer)(nil)

func newPeerDialer(src *certs.Source, pool *x509.CertPool, ex *metrics.Exchange) *peerDialer {
	return &peerDialer{src: src, pool: pool, exchange: ex, conns: map[string]*grpc.ClientConn{}}
}

// client returns a Peer client for e.
func (d *peerDialer) client(e ledger.Entry) (taonetv1.PeerClient, error) {
	key := e.Identity + " " + e.Address
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.conns[key]; ok {
		return taonetv1.NewPeerClient(c), nil
	}
	id, err := certs.ParseID(e.Identity)
	if err != nil {
		return nil, err
	}
	conf := certs.MTLSClientConfig(d.src, d.pool, certs.AuthorizeID(id))
	c, err := grpc.NewClient(e.Address, grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)),
		grpc.WithStatsHandler(d.exchange.ClientHandler(e.Identity)))
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", e.Identity, e.Address, err)
	}
	d.conns[key] = c
	return taonetv1.NewPeerClient(c), nil
}

// Forward sends call to peer e and waits for its whole answer.
func (d *peerDialer) Forward(ctx context.Context, e ledger.Entry, call exchange.Call) (*exchange.Result, error) {
	c, err := d.client(e)
	if err != nil {
		return nil, err
	}
	res, err := exchange.Forward(ctx, c, call)
	if err == nil {
		d.exchange.AddBatches(metrics.RPCForward, metrics.RoleClient, e.Identity, call.Batches())
	}
	return res, err
}

// forget closes the connections of an identity that left or was revoked:
// a peer that comes back may do so at another address.
func (d *peerDialer) forget(identity string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, c := range d.conns {
		if strings.HasPrefix(k, identity+" ") {
			_ = c.Close()
			delete(d.conns, k)
		}
	}
}

// close closes every connection.
func (d *peerDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, c := range d.conns {
		_ = c.Close()
		delete(d.conns, k)
	}
}
