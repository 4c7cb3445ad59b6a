package peer

import (
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Dialer opens mutual-TLS connections to other peers. It dials the
// advertised address but accepts the server only if its certificate carries
// the SPIFFE ID of the directory entry the caller meant to reach: whoever
// else answers at that address fails the handshake.
type Dialer struct {
	src  *certs.Source
	pool *x509.CertPool
}

// NewDialer returns a Dialer presenting src's certificate and trusting
// pool.
func NewDialer(src *certs.Source, pool *x509.CertPool) *Dialer {
	return &Dialer{src: src, pool: pool}
}

// Dial returns a connection to the peer described by info. The connection
// is lazy: a wrong identity surfaces on the first call as Unavailable.
func (d *Dialer) Dial(info *taonetv1.PeerInfo, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	id, err := certs.ParseID(info.GetIdentity())
	if err != nil {
		return nil, fmt.Errorf("dial peer: %w", err)
	}
	if id.Role != certs.RolePeer {
		return nil, fmt.Errorf("dial peer: %s is not a peer", id)
	}
	conf := certs.MTLSClientConfig(d.src, d.pool, certs.AuthorizeID(id))
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(conf))}, opts...)
	conn, err := grpc.NewClient(info.GetAddress(), opts...)
	if err != nil {
		return nil, fmt.Errorf("dial peer %s at %s: %w", id, info.GetAddress(), err)
	}
	return conn, nil
}
