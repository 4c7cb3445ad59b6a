package certs_test

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
)

// TestCANameConstraint signs leaves with the CA key directly, bypassing
// Issue's checks, and verifies them with crypto/x509: the CA's URI name
// constraint alone must refuse a URI outside the trust domain.
func TestCANameConstraint(t *testing.T) {
	ca := mustCA(t, td)
	for _, tc := range []struct {
		name, uri string
		ok        bool
	}{
		{"OK", "spiffe://" + td + "/peer/alice", true},
		{"ErrOtherTrustDomain", "spiffe://evil.example/peer/alice", false},
		{"ErrSuffix", "spiffe://eviltest.local/peer/alice", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := mustSignDirectly(t, ca, tc.uri)
			_, err := leaf.Verify(x509.VerifyOptions{
				Roots:     ca.Pool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
			})
			if tc.ok {
				if err != nil {
					t.Fatalf("verify %s: %v", tc.uri, err)
				}
				return
			}
			var inv x509.CertificateInvalidError
			if !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
				t.Fatalf("verify %s: err = %v, want CANotAuthorizedForThisName", tc.uri, err)
			}
		})
	}
	if !ca.Cert.PermittedDNSDomainsCritical {
		t.Error("the name constraints extension is not critical")
	}
}

// mustSignDirectly signs a leaf for uri with ca's key, as a CA key used
// outside Issue could.
func mustSignDirectly(tb testing.TB, ca *certs.CA, uri string) *x509.Certificate {
	tb.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		tb.Fatal(err)
	}
	key := mustKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return leaf
}
