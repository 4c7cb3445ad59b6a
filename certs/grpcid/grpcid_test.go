package grpcid_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
)

// mustLeaf issues a certificate for id from a fresh CA.
func mustLeaf(tb testing.TB, id certs.ID) *x509.Certificate {
	tb.Helper()
	ca, err := certs.NewCA(id.TrustDomain, time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	nb, na := certs.Validity(time.Now(), time.Hour)
	iss, err := ca.Issue(csr, id, nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	return iss.Cert
}

// otherAuth is transport information that is not TLS.
type otherAuth struct{}

func (otherAuth) AuthType() string { return "other" }

func withAuth(info credentials.AuthInfo) context.Context {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: info})
}

func TestIDFromContext(t *testing.T) {
	alice := certs.PeerID("test.local", "alice")
	leaf := mustLeaf(t, alice)
	t.Run("OK", func(t *testing.T) {
		ctx := withAuth(credentials.TLSInfo{State: tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{leaf},
			VerifiedChains:   [][]*x509.Certificate{{leaf}},
		}})
		id, got, err := grpcid.IDFromContext(ctx)
		if err != nil || id != alice || got != leaf {
			t.Fatalf("IDFromContext = %v, %v, %v; want %v", id, got, err, alice)
		}
		if s, ok := grpcid.Identity(ctx); !ok || s != alice.String() {
			t.Fatalf("Identity = %q, %v", s, ok)
		}
	})
	cases := map[string]context.Context{
		"ErrNoPeer":              context.Background(),
		"ErrNoAuth":              withAuth(nil),
		"ErrNotTLS":              withAuth(otherAuth{}),
		"ErrNoClientCertificate": withAuth(credentials.TLSInfo{State: tls.ConnectionState{}}),
		// A presented but unverified certificate names no one.
		"ErrUnverified": withAuth(credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}}),
	}
	for name, ctx := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := grpcid.IDFromContext(ctx); !errors.Is(err, certs.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			if s, ok := grpcid.Identity(ctx); ok || s != "" {
				t.Fatalf("Identity = %q, %v; want none", s, ok)
			}
		})
	}
}
