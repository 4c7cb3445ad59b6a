package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/peer"
)

// identity is an enrolled peer: its mutual-TLS client configuration and a
// CSR for its own key (what Renew takes).
type identity struct {
	name string
	tls  *tls.Config
	csr  []byte
}

// enroll makes a token for name with `coordinator token create` and
// redeems it with peer.Enroll into dir/name, as `peer join` does.
func enroll(ctx context.Context, c *process, name string) (*identity, joinToken, error) {
	tok, err := c.createToken(ctx, name)
	if err != nil {
		return nil, joinToken{}, err
	}
	home := filepath.Join(c.dir, name)
	if err := peer.Enroll(ctx, home, c.addr, tok.Token, tok.Pin); err != nil {
		return nil, joinToken{}, err
	}
	id, err := loadIdentity(name, home)
	return id, tok, err
}

// loadIdentity reads what peer.Enroll wrote into home.
func loadIdentity(name, home string) (*identity, error) {
	read := func(f string) ([]byte, error) { return os.ReadFile(filepath.Join(home, f)) }
	certPEM, err := read(peer.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(peer.KeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := read(peer.CAFile)
	if err != nil {
		return nil, err
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	ca, err := certs.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	conf := certs.MTLSClientConfig(src, pool, certs.AuthorizeID(certs.CoordinatorID(src.ID().TrustDomain)))
	return &identity{name: name, tls: conf, csr: csr}, nil
}

// anonymousTLS is the TLS configuration of a caller without a certificate
// that knows the CA pin (it is printed with every token).
func anonymousTLS(pin string) (*tls.Config, error) {
	return certs.PinnedClientConfig(pin, nil)
}

// dialFrom is a gRPC dialer whose connections leave from source, an
// address on loopback such as 127.0.0.2.
func dialFrom(source string) func(context.Context, string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
}

// newConn is a gRPC client connection (one TCP connection once used) to
// addr from source with conf.
func newConn(addr, source string, conf *tls.Config) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithContextDialer(dialFrom(source)),
		grpc.WithTransportCredentials(credentials.NewTLS(conf)))
}

// loopbackSources are n addresses 127.0.0.first, 127.0.0.first+1, ...;
// they must stay within 127.0.0.1-127.0.0.253 (.254 is the legitimate
// client's).
func loopbackSources(first, n int) ([]string, error) {
	if first < 1 || n < 1 || first+n-1 > 253 {
		return nil, fmt.Errorf("sources 127.0.0.%d and %d more do not fit in 127.0.0.1-127.0.0.253", first, n-1)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", first+i)
	}
	return out, nil
}

// legitSource is where the legitimate client's calls come from: an
// address no flood uses, as a real client's would be.
const legitSource = "127.0.0.254"
