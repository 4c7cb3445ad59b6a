package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
)

// dial opens a mutual-TLS connection to the coordinator at addr with the
// client identity in dir (cert.pem, key.pem, ca.pem, as `coordinator
// client-cert` writes them). The coordinator is accepted by its SPIFFE ID
// in the identity's trust domain, as peers accept it.
func dial(addr, dir string) (*grpc.ClientConn, error) {
	if addr == "" || dir == "" {
		return nil, fmt.Errorf("-coordinator and -client must be set")
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("client identity: %w", err)
		}
		return b, nil
	}
	certPEM, err := read("cert.pem")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("key.pem")
	if err != nil {
		return nil, err
	}
	caPEM, err := read("ca.pem")
	if err != nil {
		return nil, err
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client identity: %w", err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		return nil, fmt.Errorf("client identity: %w", err)
	}
	ca, err := certs.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("client identity: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	conf := certs.MTLSClientConfig(src, pool, certs.AuthorizeID(certs.CoordinatorID(src.ID().TrustDomain)))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		return nil, fmt.Errorf("coordinator %s: %w", addr, err)
	}
	return cc, nil
}
