package certs

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// DefaultLeafLifetime is how long a peer, client or coordinator certificate
// is valid. Leaves are renewed over mutual TLS at RenewFraction of their
// lifetime.
const DefaultLeafLifetime = 7 * 24 * time.Hour

// RenewFraction is the share of a leaf's lifetime after which its holder
// asks for a new one.
const RenewFraction = 2.0 / 3.0

var (
	// ErrBadCSR is returned (wrapped) for a CSR that cannot be parsed, has a
	// bad signature or an unsupported key.
	ErrBadCSR = errors.New("bad certificate request")
	// ErrCSRIdentity is returned (wrapped) for a CSR that asks for an
	// identity, host or name other than the one the CA assigns.
	ErrCSRIdentity = errors.New("certificate request asks for another identity")
)

// Issued is a certificate just signed by the CA.
type Issued struct {
	ID   ID
	Cert *x509.Certificate
	PEM  []byte
}

// Issue signs a leaf certificate for id from csrPEM, valid from notBefore
// to notAfter, for both client and server use. The identity comes from id
// alone: a CSR that names any other URI, DNS name, IP, e-mail or common
// name is refused with ErrCSRIdentity. The leaf carries id's SPIFFE URI and
// id.DNSName(); extraHosts adds host names or IPs (used only for the
// coordinator's own server certificate).
func (ca *CA) Issue(csrPEM []byte, id ID, notBefore, notAfter time.Time, extraHosts ...string) (*Issued, error) {
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	if id.TrustDomain != ca.TrustDomain {
		return nil, fmt.Errorf("issue: %w: trust domain %q is not the CA's %q", ErrBadID, id.TrustDomain, ca.TrustDomain)
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("issue: not after %v is not after not before %v", notAfter, notBefore)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	if err := csrAsksOnlyFor(csr, id); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: id.String(), Organization: []string{"taonet"}},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:           []*url.URL{id.URL()},
		DNSNames:       []string{id.DNSName()},
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	tmpl.BasicConstraintsValid = true
	for _, h := range extraHosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue: sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	return &Issued{ID: id, Cert: cert, PEM: EncodeCert(der)}, nil
}

// csrAsksOnlyFor refuses a CSR that requests any name but id's.
func csrAsksOnlyFor(csr *x509.CertificateRequest, id ID) error {
	for _, u := range csr.URIs {
		if u.String() != id.String() {
			return fmt.Errorf("%w: csr asks for %s, the token is for %s", ErrCSRIdentity, u, id)
		}
	}
	for _, d := range csr.DNSNames {
		if d != id.DNSName() {
			return fmt.Errorf("%w: csr asks for host %q, the token is for %s", ErrCSRIdentity, d, id)
		}
	}
	if len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("%w: csr asks for IP or e-mail names, the token is for %s", ErrCSRIdentity, id)
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != id.Name && cn != id.String() {
		return fmt.Errorf("%w: csr common name %q, the token is for %s", ErrCSRIdentity, cn, id)
	}
	return nil
}

// Validity returns the notBefore/notAfter pair for a leaf issued at now
// with lifetime: notBefore is backdated by a tenth of the lifetime (at most
// a minute) to absorb clock skew between nodes.
func Validity(now time.Time, lifetime time.Duration) (time.Time, time.Time) {
	skew := min(lifetime/10, time.Minute)
	return now.Add(-skew), now.Add(lifetime)
}

// RenewAt returns when the holder of cert should renew it: after
// RenewFraction of its validity period.
func RenewAt(cert *x509.Certificate) time.Time {
	span := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(time.Duration(float64(span) * RenewFraction))
}
