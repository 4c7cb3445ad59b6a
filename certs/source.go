package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
)

// Source holds a node's current certificate and key. Renewal swaps in a new
// one with Set; TLS configurations built from the Source read it on every
// handshake (GetCertificate / GetClientCertificate), so a renewed
// certificate is used without restarting anything. Safe for concurrent use.
type Source struct {
	mu   sync.RWMutex
	cert *tls.Certificate
	id   ID
}

// NewSource returns a Source holding cert (see KeyPair).
func NewSource(cert tls.Certificate) (*Source, error) {
	s := &Source{}
	if err := s.Set(cert); err != nil {
		return nil, err
	}
	return s, nil
}

// KeyPair builds a tls.Certificate from a leaf PEM and key PEM, appending
// chain (normally the CA) so that a joining node can check the CA pin.
func KeyPair(certPEM, keyPEM []byte, chain ...*x509.Certificate) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key pair: %w", err)
	}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c, nil
}

// Set replaces the held certificate. The leaf must carry one identity.
func (s *Source) Set(cert tls.Certificate) error {
	if len(cert.Certificate) == 0 {
		return errors.New("source: empty certificate")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		cert.Leaf = leaf
	}
	id, err := IDFromCertificate(leaf)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cert, s.id = &cert, id
	return nil
}

// Certificate returns the current certificate.
func (s *Source) Certificate() *tls.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert
}

// Leaf returns the current leaf certificate.
func (s *Source) Leaf() *x509.Certificate { return s.Certificate().Leaf }

// ID returns the identity of the current certificate.
func (s *Source) ID() ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.id
}
