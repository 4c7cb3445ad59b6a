package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
)

// NewToken is a join token just created by CreateToken.
type NewToken struct {
	Token     string
	Identity  certs.ID
	CAPin     string
	ExpiresAt time.Time
}

// CreateToken makes a single-use join token for the peer name, valid for
// ttl, and stores only its hash. It refuses a name already enrolled.
func CreateToken(ctx context.Context, dir, name string, ttl time.Duration) (*NewToken, error) {
	if err := certs.CheckName(name); err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("token create: ttl %v must be positive", ttl)
	}
	h, err := openHome(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer h.close()
	tok, err := certs.NewToken()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := h.db.CreateToken(ctx, certs.HashToken(tok), certs.RolePeer, name, now, now.Add(ttl)); err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	return &NewToken{Token: tok, Identity: certs.PeerID(h.net.TrustDomain, name), CAPin: h.ca.Pin(), ExpiresAt: now.Add(ttl)}, nil
}

// ListTokens lists the join tokens of the home (never the tokens
// themselves).
func ListTokens(ctx context.Context, dir string) ([]ledger.TokenInfo, error) {
	h, err := openHome(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer h.close()
	return h.db.Tokens(ctx)
}

// CancelTokens cancels the unredeemed tokens of name and returns how many.
func CancelTokens(ctx context.Context, dir, name string) (int, error) {
	h, err := openHome(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer h.close()
	return h.db.CancelTokens(ctx, name, time.Now())
}

// IssueClientCert issues the client identity /client/NAME with a key made
// here and writes out/cert.pem, out/key.pem (0600) and out/ca.pem. It
// refuses a name that is already enrolled.
// MaxClientLifetime caps a client certificate's lifetime: a client
// certificate cannot be renewed, and one that leaks stays usable until it
// expires or is revoked.
const MaxClientLifetime = 30 * 24 * time.Hour

func IssueClientCert(ctx context.Context, dir, name, out string, lifetime time.Duration) (certs.ID, error) {
	if err := certs.CheckName(name); err != nil {
		return certs.ID{}, fmt.Errorf("client-cert: %w", err)
	}
	if out == "" {
		return certs.ID{}, errors.New("client-cert: --out is required")
	}
	if lifetime < time.Minute || lifetime > MaxClientLifetime {
		return certs.ID{}, fmt.Errorf("client-cert: lifetime %v is not between 1m and %v", lifetime, MaxClientLifetime)
	}
	h, err := openHome(ctx, dir)
	if err != nil {
		return certs.ID{}, err
	}
	defer h.close()
	id := certs.ClientID(h.net.TrustDomain, name)
	key, err := certs.NewKey()
	if err != nil {
		return certs.ID{}, err
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return certs.ID{}, err
	}
	now := time.Now()
	nb, na := certs.Validity(now, lifetime)
	iss, err := h.ca.Issue(csr, id, nb, na)
	if err != nil {
		return certs.ID{}, fmt.Errorf("client-cert: %w", err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return certs.ID{}, err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return certs.ID{}, fmt.Errorf("client-cert: %w", err)
	}
	if err := h.db.EnrollIssued(ctx, iss, now); err != nil {
		return certs.ID{}, fmt.Errorf("client-cert: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{{"key.pem", keyPEM, 0o600}, {"cert.pem", iss.PEM, 0o644}, {"ca.pem", h.ca.CertPEM(), 0o644}} {
		if err := certs.WriteFile(filepath.Join(out, f.name), f.data, f.perm); err != nil {
			return certs.ID{}, fmt.Errorf("client-cert: %w", err)
		}
	}
	return id, nil
}

// Revoke revokes every certificate of the identity called name. name is a
// bare name, "peer/NAME", "client/NAME" or a full SPIFFE ID; a bare name
// held by both a peer and a client must be qualified. A running
// coordinator on the same home notices within Config.RevocationPoll.
func Revoke(ctx context.Context, dir, name, reason string) (certs.ID, error) {
	h, err := openHome(ctx, dir)
	if err != nil {
		return certs.ID{}, err
	}
	defer h.close()
	if name == "coordinator" {
		return certs.ID{}, errors.New("revoke: the coordinator's own identity cannot be revoked (name a peer or client: peer/NAME, client/NAME)")
	}
	id, err := resolveName(ctx, h, name)
	if err != nil {
		return certs.ID{}, fmt.Errorf("revoke: %w", err)
	}
	if id.Role != certs.RolePeer && id.Role != certs.RoleClient {
		return certs.ID{}, fmt.Errorf("revoke: %s is not a peer or client identity; the coordinator's own cannot be revoked", id)
	}
	if _, err := h.db.Revoke(ctx, id.String(), reason, time.Now()); err != nil {
		return certs.ID{}, err
	}
	return id, nil
}

func resolveName(ctx context.Context, h *home, name string) (certs.ID, error) {
	if strings.HasPrefix(name, "spiffe://") {
		return certs.ParseID(name)
	}
	if role, n, ok := strings.Cut(name, "/"); ok {
		return certs.ParseID("spiffe://" + h.net.TrustDomain + "/" + role + "/" + n)
	}
	entries, err := h.db.EntriesByName(ctx, name)
	if err != nil {
		return certs.ID{}, err
	}
	var ids []certs.ID
	for _, e := range entries {
		if e.Role == certs.RolePeer || e.Role == certs.RoleClient {
			id, err := certs.ParseID(e.Identity)
			if err != nil {
				return certs.ID{}, err
			}
			ids = append(ids, id)
		}
	}
	switch len(ids) {
	case 0:
		return certs.ID{}, fmt.Errorf("%q: %w", name, ledger.ErrNoIdentity)
	case 1:
		return ids[0], nil
	default:
		return certs.ID{}, fmt.Errorf("%q names both a peer and a client; say peer/%s or client/%s", name, name, name)
	}
}
