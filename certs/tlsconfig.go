package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// MTLSServerConfig is a TLS 1.3 server configuration that requires a
// client certificate verified against bundle and allowed by authorize. It
// serves src's current certificate. Peers use it.
func MTLSServerConfig(src *Source, bundle *x509.CertPool, authorize Authorizer) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		MaxVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src.Certificate(), nil },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      bundle,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			return authorizeChains(chains, authorize)
		},
	}
}

// EnrollServerConfig is a TLS 1.3 server configuration for the coordinator:
// a client certificate is optional (so Enroll works without one), but one
// that is presented must verify against bundle and pass authorize, or the
// handshake fails. Handlers must still require an identity for every call
// but Enroll and health (see the coordinator's auth interceptor).
func EnrollServerConfig(src *Source, bundle *x509.CertPool, authorize Authorizer) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		MaxVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src.Certificate(), nil },
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      bundle,
		VerifyPeerCertificate: func(raw [][]byte, chains [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return nil
			}
			return authorizeChains(chains, authorize)
		},
	}
}

// MTLSClientConfig is a TLS 1.3 client configuration that presents src's
// current certificate and accepts a server only if its certificate verifies
// against bundle for server use and authorize allows its SPIFFE ID. Host
// names are not checked: the identity is the SPIFFE ID (e.g. AuthorizeID of
// the peer the caller meant to reach).
func MTLSClientConfig(src *Source, bundle *x509.CertPool, authorize Authorizer) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		MaxVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return src.Certificate(), nil },
		// Verification happens in VerifyPeerCertificate below, against the
		// SPIFFE ID rather than a host name.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			chains, err := verifyServer(raw, bundle)
			if err != nil {
				return err
			}
			return authorizeChains(chains, authorize)
		},
	}
}

// PinnedClientConfig is the joining node's TLS 1.3 configuration: it has no
// certificate and no CA yet, so it accepts the server only if the chain the
// server presents contains a CA whose public key has pin, the leaf verifies
// against that CA for server use, and the leaf is the coordinator of the
// CA's network. A wrong pin fails the handshake, before any request (and so
// any token) is sent. The accepted CA is stored in *ca when ca is not nil.
func PinnedClientConfig(pin string, ca **x509.Certificate) (*tls.Config, error) {
	if _, err := ParsePin(pin); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		// Verification happens in VerifyPeerCertificate below, against the
		// pinned CA rather than the system roots.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			found, err := pinnedCA(raw, pin)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(found)
			chains, err := verifyServer(raw, pool)
			if err != nil {
				return err
			}
			id, err := IDFromCertificate(chains[0][0])
			if err != nil {
				return err
			}
			if id.Role != RoleCoordinator {
				return fmt.Errorf("%w: server is %s, not a coordinator", ErrUnauthorized, id)
			}
			if ca != nil {
				*ca = found
			}
			return nil
		},
	}, nil
}

func pinnedCA(raw [][]byte, pin string) (*x509.Certificate, error) {
	for _, der := range raw[min(1, len(raw)):] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("pinned ca: %w", err)
		}
		if c.IsCA && MatchPin(c, pin) == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: the server presented no CA with pin %s", ErrBadPin, pin)
}

// verifyServer verifies a server's raw chain against bundle for server use.
func verifyServer(raw [][]byte, bundle *x509.CertPool) ([][]*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         bundle,
		Intermediates: inter,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return chains, nil
}

// authorizeChains reads the identity of a verified leaf and authorizes it.
func authorizeChains(chains [][]*x509.Certificate, authorize Authorizer) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("no verified certificate chain")
	}
	id, err := IDFromCertificate(chains[0][0])
	if err != nil {
		return err
	}
	return authorize(id, chains)
}

// IDFromState returns the identity of the verified peer certificate of a
// TLS connection. It returns ErrUnauthenticated when the peer presented no
// verified certificate.
func IDFromState(cs tls.ConnectionState) (ID, *x509.Certificate, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ID{}, nil, ErrUnauthenticated
	}
	leaf := cs.VerifiedChains[0][0]
	id, err := IDFromCertificate(leaf)
	if err != nil {
		return ID{}, nil, err
	}
	return id, leaf, nil
}

// ErrUnauthenticated is returned when a connection carries no verified
// client certificate.
var ErrUnauthenticated = errors.New("no verified client certificate")
