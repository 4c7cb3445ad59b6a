package certs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTokenTTL is how long a join token stays valid.
const DefaultTokenTTL = 24 * time.Hour

// tokenPrefix marks taonet join tokens so a pasted secret is recognisable.
const tokenPrefix = "taonet_"

// Token errors. Each is returned wrapped; all but ErrNameTaken mean the
// caller is not authenticated.
var (
	ErrTokenUnknown   = errors.New("join token unknown")
	ErrTokenExpired   = errors.New("join token expired")
	ErrTokenCancelled = errors.New("join token cancelled")
	ErrTokenRedeemed  = errors.New("join token already redeemed")
	ErrNameTaken      = errors.New("name already enrolled")
)

// NewToken returns a fresh random join token: the prefix "taonet_" and 32
// random bytes in unpadded base64url.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 of token, the only form a store keeps.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// checkTokenSyntax refuses a string that cannot be a token before any
// store is touched.
func checkTokenSyntax(token string) error {
	body, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return fmt.Errorf("%w: token must start with %q", ErrTokenUnknown, tokenPrefix)
	}
	if b, err := base64.RawURLEncoding.DecodeString(body); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: token is malformed", ErrTokenUnknown)
	}
	return nil
}

// TokenStore keeps join tokens by hash. The ledger implements it on SQLite.
type TokenStore interface {
	// CreateToken stores a new token's hash for role/name, expiring at
	// expires. It returns ErrNameTaken when name is already enrolled in
	// that role.
	CreateToken(ctx context.Context, hash []byte, role Role, name string, created, expires time.Time) error
	// RedeemToken atomically (one transaction) finds the token with hash,
	// refuses it when unknown, expired at now, cancelled or redeemed (the
	// matching Err* above), calls issue with the token's role and name,
	// and records the redemption, the enrolled identity and the issued
	// certificate. If issue fails nothing is written. Of two concurrent
	// redemptions of one token exactly one succeeds.
	//
	// key is a hash of the requester's public key. A token already
	// redeemed with the same key returns the certificate issued then, if
	// it is still valid and its identity not revoked: a requester that
	// lost the answer retries with the same key and is not locked out.
	RedeemToken(ctx context.Context, hash, key []byte, now time.Time, issue func(role Role, name string) (*Issued, error)) (*Issued, error)
}

// Enroller redeems join tokens for leaf certificates.
type Enroller struct {
	CA       *CA
	Tokens   TokenStore
	Lifetime time.Duration    // leaf lifetime; DefaultLeafLifetime when 0
	Now      func() time.Time // time.Now when nil
}

// Enroll checks token and csrPEM, redeems the token and returns a
// certificate for the identity the token names. The CSR is parsed before
// the store is touched, and the certificate is signed inside the
// redemption, so a refused call writes nothing. Errors: the Err* token
// errors, ErrBadCSR, ErrCSRIdentity.
func (e *Enroller) Enroll(ctx context.Context, token string, csrPEM []byte) (*Issued, error) {
	if err := checkTokenSyntax(token); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	key := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	now := time.Now()
	if e.Now != nil {
		now = e.Now()
	}
	lifetime := e.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultLeafLifetime
	}
	nb, na := Validity(now, lifetime)
	iss, err := e.Tokens.RedeemToken(ctx, HashToken(token), key[:], now, func(role Role, name string) (*Issued, error) {
		return e.CA.Issue(csrPEM, ID{TrustDomain: e.CA.TrustDomain, Role: role, Name: name}, nb, na)
	})
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return iss, nil
}
