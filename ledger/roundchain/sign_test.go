package roundchain_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger/roundchain"
)

const td = "test.local"

// mustLeaf issues a certificate for pub and id from ca, valid nb..na.
func mustLeaf(tb testing.TB, ca *certs.CA, pub crypto.PublicKey, id certs.ID, nb, na time.Time) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, URIs: []*url.URL{id.URL()}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return leaf
}

func mustCA(tb testing.TB) *certs.CA {
	tb.Helper()
	ca, err := certs.NewCA(td, time.Now().Add(-48*time.Hour), 365*24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

func TestSignVerify(t *testing.T) {
	ca := mustCA(t)
	hash := sha256.Sum256([]byte("round"))
	now := time.Now()
	ecKey, err := certs.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	coord := certs.CoordinatorID(td)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		cert *x509.Certificate
	}{
		{"OKECDSA", ecKey, mustLeaf(t, ca, ecKey.Public(), coord, now.Add(-time.Minute), now.Add(time.Hour))},
		{"OKEd25519", edKey, mustLeaf(t, ca, edPub, coord, now.Add(-time.Minute), now.Add(time.Hour))},
		// a round stays signed after its signer's certificate expires
		{"OKExpiredSigner", ecKey, mustLeaf(t, ca, ecKey.Public(), coord, now.Add(-30*time.Hour), now.Add(-24*time.Hour))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := roundchain.Sign(tt.key, hash[:])
			if err != nil {
				t.Fatal(err)
			}
			if err := roundchain.Verify(ca.Cert, tt.cert.Raw, hash[:], sig); err != nil {
				t.Fatal(err)
			}
			other := sha256.Sum256([]byte("another round"))
			if err := roundchain.Verify(ca.Cert, tt.cert.Raw, other[:], sig); !errors.Is(err, roundchain.ErrBadSignature) {
				t.Fatalf("signature of another hash: %v", err)
			}
			sig[len(sig)-1] ^= 1
			if err := roundchain.Verify(ca.Cert, tt.cert.Raw, hash[:], sig); !errors.Is(err, roundchain.ErrBadSignature) {
				t.Fatalf("altered signature: %v", err)
			}
		})
	}
	t.Run("ErrNotCoordinator", func(t *testing.T) {
		cert := mustLeaf(t, ca, ecKey.Public(), certs.PeerID(td, "alice"), now.Add(-time.Minute), now.Add(time.Hour))
		sig, _ := roundchain.Sign(ecKey, hash[:])
		if err := roundchain.Verify(ca.Cert, cert.Raw, hash[:], sig); !errors.Is(err, roundchain.ErrBadSignature) {
			t.Fatalf("a peer's signature: %v", err)
		}
	})
	t.Run("ErrOtherCA", func(t *testing.T) {
		cert := mustLeaf(t, mustCA(t), ecKey.Public(), coord, now.Add(-time.Minute), now.Add(time.Hour))
		sig, _ := roundchain.Sign(ecKey, hash[:])
		if err := roundchain.Verify(ca.Cert, cert.Raw, hash[:], sig); !errors.Is(err, roundchain.ErrBadSignature) {
			t.Fatalf("a signer from another CA: %v", err)
		}
	})
	t.Run("ErrNotACertificate", func(t *testing.T) {
		if err := roundchain.Verify(ca.Cert, []byte("junk"), hash[:], []byte("sig")); !errors.Is(err, roundchain.ErrBadSignature) {
			t.Fatalf("junk certificate: %v", err)
		}
	})
	t.Run("ErrUnsupportedKey", func(t *testing.T) {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := roundchain.Sign(k, hash[:]); err == nil {
			t.Fatal("an RSA key signed")
		}
	})
	t.Run("ErrHashLength", func(t *testing.T) {
		if _, err := roundchain.Sign(ecKey, hash[:31]); err == nil {
			t.Fatal("a 31-byte hash was signed")
		}
	})
}
