package peer

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Files in a peer home folder.
const (
	KeyFile  = "key.pem"
	CertFile = "cert.pem"
	CAFile   = "ca.pem"
)

// enrollPatience is how long enrollment retries a coordinator that refuses
// connections (one that is still starting).
const enrollPatience = 30 * time.Second

// ErrHomeEnrolled is returned when a token is given for a home that is
// already enrolled: running on as the home's identity would ignore the
// token's, and its Leave would take the other identity out.
var ErrHomeEnrolled = errors.New("home is already enrolled")

// ErrNotEnrolled is returned when the home has no certificate and no token
// was given.
var ErrNotEnrolled = errors.New("not enrolled: pass --token and --ca-pin from 'coordinator token create'")

// identity is a node's certificate source and its network's CA.
type identity struct {
	src  *certs.Source
	ca   *x509.Certificate
	pool *x509.CertPool
}

// loadOrEnroll reuses the certificate stored in home, or, with a token and
// CA pin, enrolls: it makes a key (key.pem, 0600) and a CSR, calls Enroll
// over TLS checking the CA pin, and stores cert.pem and ca.pem.
func loadOrEnroll(ctx context.Context, cfg Config) (*identity, error) {
	_, err := os.Stat(filepath.Join(cfg.Home, CertFile))
	switch {
	case err == nil && cfg.Token != "":
		return nil, fmt.Errorf("%w: %s already holds a certificate; a token is only for a new home (restart without --token, or use another --home)", ErrHomeEnrolled, cfg.Home)
	case err == nil:
		return loadIdentity(cfg.Home)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load identity: %w", err)
	case cfg.Token == "":
		return nil, ErrNotEnrolled
	}
	// A coordinator that is still starting refuses connections: retry
	// those for a while, as a peer started beside it would need.
	wait, deadline := cfg.BackoffMin, time.Now().Add(enrollPatience)
	for {
		err := Enroll(ctx, cfg.Home, cfg.Coordinator, cfg.Token, cfg.CAPin)
		if err == nil {
			break
		}
		// Only a refused connection is retried: a wrong CA pin also reads
		// Unavailable (a failed handshake) and must fail at once.
		refused := status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "connection refused")
		if !refused || time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		cfg.Logger.Warn("coordinator not reachable yet; retrying enrollment", "err", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, cfg.BackoffMax)
	}
	return loadIdentity(cfg.Home)
}

// Enroll redeems token at the coordinator addr, checking the CA pin before
// anything is sent, and writes key.pem (0600), cert.pem and ca.pem into
// home. A wrong pin fails the TLS handshake: the token never leaves.
//
// key.pem is written before the token is sent, and an enrollment that
// finds key.pem without cert.pem reuses it: if the answer was lost (a
// crash, a cut connection) after the coordinator redeemed the token, the
// retry sends the same key and the coordinator answers with the same
// certificate.
func Enroll(ctx context.Context, home, addr, token, pin string) error {
	var pinned *x509.Certificate
	tlsConf, err := certs.PinnedClientConfig(pin, &pinned)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	keyPEM, key, err := enrollmentKey(home)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConf)))
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	defer conn.Close()
	resp, err := taonetv1.NewCoordinatorClient(conn).Enroll(ctx, &taonetv1.EnrollRequest{Token: token, Csr: csr})
	if err != nil {
		return fmt.Errorf("enroll at %s: %w", addr, err)
	}
	ca, err := certs.ParseCert(resp.GetCa())
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := certs.MatchPin(ca, pin); err != nil {
		return fmt.Errorf("enroll: response CA: %w", err)
	}
	if _, err := certs.KeyPair(resp.GetCertificate(), keyPEM); err != nil {
		return fmt.Errorf("enroll: certificate does not match the key: %w", err)
	}
	// cert.pem last: its presence marks a finished enrollment.
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{{CAFile, resp.GetCa(), 0o644}, {CertFile, resp.GetCertificate(), 0o644}} {
		if err := certs.WriteFile(filepath.Join(home, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
	}
	return nil
}

// enrollmentKey returns the key of an enrollment in home: the one an
// interrupted enrollment left in key.pem, or a new one, written there
// before it is used.
func enrollmentKey(home string) ([]byte, *ecdsa.PrivateKey, error) {
	path := filepath.Join(home, KeyFile)
	keyPEM, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := certs.ParseKey(keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("%s from an interrupted enrollment: %w", path, err)
		}
		return keyPEM, key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	key, err := certs.NewKey()
	if err != nil {
		return nil, nil, err
	}
	if keyPEM, err = certs.EncodeKey(key); err != nil {
		return nil, nil, err
	}
	if err := certs.WriteFile(path, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	return keyPEM, key, nil
}

// loadIdentity reads key.pem, cert.pem and ca.pem from home.
func loadIdentity(home string) (*identity, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			return nil, fmt.Errorf("load identity: %w", err)
		}
		return b, nil
	}
	certPEM, err := read(CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(KeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := read(CAFile)
	if err != nil {
		return nil, err
	}
	ca, err := certs.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &identity{src: src, ca: ca, pool: pool}, nil
}

// renew asks the coordinator for a fresh certificate for the same key and
// swaps it in (and into cert.pem). Servers and clients built on the Source
// use it from their next handshake.
func (id *identity) renew(ctx context.Context, home string, client taonetv1.CoordinatorClient) error {
	keyPEM, err := os.ReadFile(filepath.Join(home, KeyFile))
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	priv, err := certs.ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	csr, err := certs.NewCSR(priv)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	resp, err := client.Renew(ctx, &taonetv1.RenewRequest{Csr: csr})
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	pair, err := certs.KeyPair(resp.GetCertificate(), keyPEM)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	if err := certs.WriteFile(filepath.Join(home, CertFile), resp.GetCertificate(), 0o644); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	return id.src.Set(pair)
}
