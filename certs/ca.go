package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// DefaultCALifetime is how long a new CA certificate is valid.
const DefaultCALifetime = 10 * 365 * 24 * time.Hour

// CA is the network's certificate authority: an ECDSA P-256 key and its
// self-signed certificate, whose URI name constraint (critical) is the
// trust domain, so that chain verification refuses a leaf with a URI in
// any other host. (Go's x509 lets subdomains of the trust domain through;
// the authorizers compare the trust domain exactly.) A CA made before the
// constraint was added lacks it and keeps working: Issue never signs a URI
// outside the trust domain.
type CA struct {
	Cert        *x509.Certificate
	Key         *ecdsa.PrivateKey
	TrustDomain string
}

// NewCA makes a fresh CA for trustDomain, valid from now for lifetime.
func NewCA(trustDomain string, now time.Time, lifetime time.Duration) (*CA, error) {
	if err := CheckTrustDomain(trustDomain); err != nil {
		return nil, fmt.Errorf("new ca: %w", err)
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("new ca: lifetime %v must be positive", lifetime)
	}
	key, err := NewKey()
	if err != nil {
		return nil, fmt.Errorf("new ca: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new ca: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "taonet CA " + trustDomain, Organization: []string{"taonet"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// PermittedDNSDomainsCritical marks the whole name constraints
		// extension critical, as RFC 5280 4.2.1.10 asks of a CA.
		PermittedURIDomains:         []string{trustDomain},
		PermittedDNSDomainsCritical: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("new ca: sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new ca: %w", err)
	}
	return &CA{Cert: cert, Key: key, TrustDomain: trustDomain}, nil
}

// LoadCA reads a CA from its certificate and key PEM. It checks that the
// key matches the certificate and that the certificate is a CA.
func LoadCA(certPEM, keyPEM []byte, trustDomain string) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("load ca: certificate is not a CA")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("load ca: key does not match the CA certificate")
	}
	if err := CheckTrustDomain(trustDomain); err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	return &CA{Cert: cert, Key: key, TrustDomain: trustDomain}, nil
}

// CertPEM returns the CA certificate as PEM.
func (ca *CA) CertPEM() []byte { return EncodeCert(ca.Cert.Raw) }

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Pin returns the CA pin of docs/design.md: "sha256:" + hex(SHA-256 of the CA
// certificate's SubjectPublicKeyInfo).
func (ca *CA) Pin() string { return Pin(ca.Cert) }

// Pin returns "sha256:" + hex(SHA-256(cert.RawSubjectPublicKeyInfo)).
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrBadPin is returned (wrapped) for a malformed or non-matching CA pin.
var ErrBadPin = errors.New("bad ca pin")

// ParsePin checks the syntax of a pin ("sha256:" and 64 hex digits) and
// returns its digest.
func ParsePin(pin string) ([]byte, error) {
	h, ok := strings.CutPrefix(pin, "sha256:")
	if !ok {
		return nil, fmt.Errorf("%w: %q must start with sha256:", ErrBadPin, pin)
	}
	sum, err := hex.DecodeString(h)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%w: %q must be sha256: and 64 hex digits", ErrBadPin, pin)
	}
	return sum, nil
}

// MatchPin reports whether cert's public key has the given pin.
func MatchPin(cert *x509.Certificate, pin string) error {
	want, err := ParsePin(pin)
	if err != nil {
		return err
	}
	got := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: the CA presented has pin %s, not %s", ErrBadPin, Pin(cert), pin)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}
