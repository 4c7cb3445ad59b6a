package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
)

// handshake runs one TLS handshake on loopback between server and client
// configurations and returns both sides' errors.
func handshake(tb testing.TB, server, client *tls.Config) (serverErr, clientErr error) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 clients finish before the server checks their
			// certificate: read so a refusal reaches the client.
			_, err = tc.Write([]byte{1})
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", lis.Addr().String(), client)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	return <-done, err
}

func TestMTLSServerConfig(t *testing.T) {
	ca := mustCA(t, td)
	serverSrc := mustValidLeaf(t, ca, certs.PeerID(td, "server"))
	alice := mustValidLeaf(t, ca, certs.PeerID(td, "alice"))
	revoked := certs.NewRevocations()
	revoked.Add(certs.PeerID(td, "mallory"))
	server := certs.MTLSServerConfig(serverSrc, ca.Pool(), certs.AuthorizeNotRevoked(revoked, certs.AuthorizeMemberOf(td)))
	clientFor := func(src *certs.Source) *tls.Config {
		return certs.MTLSClientConfig(src, ca.Pool(), certs.AuthorizeID(certs.PeerID(td, "server")))
	}
	t.Run("OK", func(t *testing.T) {
		if se, ce := handshake(t, server, clientFor(alice)); se != nil || ce != nil {
			t.Fatalf("server err %v, client err %v", se, ce)
		}
	})
	expiredNB := time.Now().Add(-2 * time.Hour)
	other := mustCA(t, td)
	cases := map[string]struct {
		client *tls.Config
		want   string
	}{
		"ErrNoClientCertificate": {&tls.Config{RootCAs: ca.Pool(), ServerName: "server.peer.test.local", MinVersion: tls.VersionTLS13}, "certificate"},
		"ErrOtherCA":             {clientFor(mustValidLeaf(t, other, certs.PeerID(td, "alice"))), "unknown authority"},
		"ErrExpired":             {clientFor(mustLeaf(t, ca, certs.PeerID(td, "alice"), expiredNB, expiredNB.Add(time.Hour))), "expired"},
		"ErrRevoked":             {clientFor(mustValidLeaf(t, ca, certs.PeerID(td, "mallory"))), "revoked"},
		"ErrTLS12": {func() *tls.Config {
			c := clientFor(alice)
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}(), "version"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			se, ce := handshake(t, server, c.client)
			if se == nil || ce == nil {
				t.Fatalf("handshake accepted: server err %v, client err %v", se, ce)
			}
			if !strings.Contains(se.Error(), c.want) {
				t.Fatalf("server err %q does not mention %q", se, c.want)
			}
		})
	}
}

func TestMTLSClientConfig(t *testing.T) {
	ca := mustCA(t, td)
	bob := mustValidLeaf(t, ca, certs.PeerID(td, "bob"))
	alice := mustValidLeaf(t, ca, certs.PeerID(td, "alice"))
	server := certs.MTLSServerConfig(bob, ca.Pool(), certs.AuthorizeAny())
	t.Run("OK", func(t *testing.T) {
		if se, ce := handshake(t, server, certs.MTLSClientConfig(alice, ca.Pool(), certs.AuthorizeID(certs.PeerID(td, "bob")))); se != nil || ce != nil {
			t.Fatalf("server err %v, client err %v", se, ce)
		}
	})
	t.Run("ErrOtherIdentityAnswers", func(t *testing.T) {
		_, ce := handshake(t, server, certs.MTLSClientConfig(alice, ca.Pool(), certs.AuthorizeID(certs.PeerID(td, "carol"))))
		if !errors.Is(ce, certs.ErrUnauthorized) {
			t.Fatalf("client err = %v, want ErrUnauthorized", ce)
		}
	})
	t.Run("ErrServerFromOtherCA", func(t *testing.T) {
		other := mustCA(t, td)
		fake := certs.MTLSServerConfig(mustValidLeaf(t, other, certs.PeerID(td, "bob")), ca.Pool(), certs.AuthorizeAny())
		_, ce := handshake(t, fake, certs.MTLSClientConfig(alice, ca.Pool(), certs.AuthorizeID(certs.PeerID(td, "bob"))))
		var ua x509.UnknownAuthorityError
		if !errors.As(ce, &ua) {
			t.Fatalf("client err = %v, want unknown authority", ce)
		}
	})
}

func TestPinnedClientConfig(t *testing.T) {
	ca := mustCA(t, td)
	coord := mustValidLeaf(t, ca, certs.CoordinatorID(td))
	server := certs.EnrollServerConfig(coord, ca.Pool(), certs.AuthorizeAny())
	t.Run("OK", func(t *testing.T) {
		var got *x509.Certificate
		conf, err := certs.PinnedClientConfig(ca.Pin(), &got)
		if err != nil {
			t.Fatal(err)
		}
		if se, ce := handshake(t, server, conf); se != nil || ce != nil {
			t.Fatalf("server err %v, client err %v", se, ce)
		}
		if got == nil || !got.Equal(ca.Cert) {
			t.Fatal("pinned CA not returned")
		}
	})
	t.Run("ErrWrongPin", func(t *testing.T) {
		conf, err := certs.PinnedClientConfig(mustCA(t, td).Pin(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ce := handshake(t, server, conf); !errors.Is(ce, certs.ErrBadPin) {
			t.Fatalf("client err = %v, want ErrBadPin", ce)
		}
	})
	t.Run("ErrNotCoordinator", func(t *testing.T) {
		peerServer := certs.EnrollServerConfig(mustValidLeaf(t, ca, certs.PeerID(td, "eve")), ca.Pool(), certs.AuthorizeAny())
		conf, _ := certs.PinnedClientConfig(ca.Pin(), nil)
		if _, ce := handshake(t, peerServer, conf); !errors.Is(ce, certs.ErrUnauthorized) {
			t.Fatalf("client err = %v, want ErrUnauthorized", ce)
		}
	})
	t.Run("ErrMalformedPin", func(t *testing.T) {
		if _, err := certs.PinnedClientConfig("sha256:xyz", nil); !errors.Is(err, certs.ErrBadPin) {
			t.Fatalf("err = %v, want ErrBadPin", err)
		}
	})
}
