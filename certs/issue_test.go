package certs_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
)

func csrWith(tb testing.TB, tmpl *x509.CertificateRequest) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, mustKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestIssue(t *testing.T) {
	ca := mustCA(t, td)
	id := certs.PeerID(td, "alice")
	nb, na := certs.Validity(time.Now(), time.Hour)
	t.Run("OK", func(t *testing.T) {
		iss, err := ca.Issue(mustCSR(t, mustKey(t)), id, nb, na)
		if err != nil {
			t.Fatal(err)
		}
		got, err := certs.IDFromCertificate(iss.Cert)
		if err != nil || got != id {
			t.Fatalf("identity = %v, %v; want %v", got, err, id)
		}
		for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			if !slices.Contains(iss.Cert.ExtKeyUsage, u) {
				t.Errorf("ext key usage %v missing", u)
			}
		}
		if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("verify against the CA: %v", err)
		}
		if !iss.Cert.NotAfter.Equal(na.Truncate(time.Second)) {
			t.Errorf("not after = %v, want %v", iss.Cert.NotAfter, na)
		}
	})
	t.Run("OKMatchingCSRNames", func(t *testing.T) {
		csr := csrWith(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}, URIs: []*url.URL{id.URL()}})
		if _, err := ca.Issue(csr, id, nb, na); err != nil {
			t.Fatal(err)
		}
	})
	bob, _ := url.Parse("spiffe://test.local/peer/bob")
	for name, tmpl := range map[string]*x509.CertificateRequest{
		"URI":        {URIs: []*url.URL{bob}},
		"DNS":        {DNSNames: []string{"bob.peer.test.local"}},
		"IP":         {IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
		"CommonName": {Subject: pkix.Name{CommonName: "bob"}},
	} {
		t.Run("ErrCSRIdentity"+name, func(t *testing.T) {
			_, err := ca.Issue(csrWith(t, tmpl), id, nb, na)
			if !errors.Is(err, certs.ErrCSRIdentity) {
				t.Fatalf("err = %v, want ErrCSRIdentity", err)
			}
		})
	}
	t.Run("ErrBadCSR", func(t *testing.T) {
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, rsaKey)
		if err != nil {
			t.Fatal(err)
		}
		good := mustCSR(t, mustKey(t))
		tampered := []byte(strings.Replace(string(good), string(good[70:74]), "AAAA", 1))
		for name, csr := range map[string][]byte{
			"garbage":  []byte("not a csr"),
			"rsa":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			"tampered": tampered,
		} {
			if _, err := ca.Issue(csr, id, nb, na); !errors.Is(err, certs.ErrBadCSR) {
				t.Errorf("%s: err = %v, want ErrBadCSR", name, err)
			}
		}
	})
	t.Run("ErrOtherTrustDomain", func(t *testing.T) {
		if _, err := ca.Issue(mustCSR(t, mustKey(t)), certs.PeerID("other.local", "alice"), nb, na); !errors.Is(err, certs.ErrBadID) {
			t.Fatalf("err = %v, want ErrBadID", err)
		}
	})
}

func TestPin(t *testing.T) {
	ca := mustCA(t, td)
	other := mustCA(t, td)
	pin := ca.Pin()
	t.Run("OK", func(t *testing.T) {
		if !strings.HasPrefix(pin, "sha256:") || len(pin) != len("sha256:")+64 {
			t.Fatalf("pin %q is not sha256:<64 hex>", pin)
		}
		if err := certs.MatchPin(ca.Cert, pin); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrBadPin", func(t *testing.T) {
		for _, p := range []string{other.Pin(), "sha256:00", "md5:" + pin[7:], ""} {
			if err := certs.MatchPin(ca.Cert, p); !errors.Is(err, certs.ErrBadPin) {
				t.Errorf("MatchPin(%q) = %v, want ErrBadPin", p, err)
			}
		}
	})
}

func TestLoadCA(t *testing.T) {
	ca := mustCA(t, td)
	keyPEM, err := certs.EncodeKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		got, err := certs.LoadCA(ca.CertPEM(), keyPEM, td)
		if err != nil || got.Pin() != ca.Pin() {
			t.Fatalf("LoadCA = %v, %v", got, err)
		}
	})
	t.Run("ErrKeyMismatch", func(t *testing.T) {
		otherKey, _ := certs.EncodeKey(mustKey(t))
		if _, err := certs.LoadCA(ca.CertPEM(), otherKey, td); err == nil {
			t.Fatal("a CA with someone else's key loaded")
		}
	})
}
