// Package grpcid reads the SPIFFE identity of a gRPC caller from the
// verified client certificate of its TLS connection. It is the one place
// that joins package certs (stdlib only) to gRPC.
package grpcid

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/taonet/taonet/certs"
)

// IDFromContext returns the caller's identity and verified leaf
// certificate. It returns certs.ErrUnauthenticated (wrapped) when the call
// did not arrive over TLS with a verified client certificate.
func IDFromContext(ctx context.Context) (certs.ID, *x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return certs.ID{}, nil, fmt.Errorf("%w: no transport information", certs.ErrUnauthenticated)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return certs.ID{}, nil, fmt.Errorf("%w: not a TLS connection", certs.ErrUnauthenticated)
	}
	return certs.IDFromState(info.State)
}

// Identity returns the caller's SPIFFE ID as a string, in the shape the
// Ledger service takes (ok is false without a verified certificate).
func Identity(ctx context.Context) (string, bool) {
	id, _, err := IDFromContext(ctx)
	if err != nil {
		return "", false
	}
	return id.String(), true
}
