package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrUnauthorized is returned (wrapped) by an Authorizer that refuses an
// identity.
var ErrUnauthorized = errors.New("identity not authorized")

// Authorizer decides whether a verified identity may connect or call. It
// receives the identity from the verified leaf and the verified chains, and
// returns nil to allow.
type Authorizer func(id ID, verifiedChains [][]*x509.Certificate) error

// AuthorizeAny allows every identity the CA pool verified.
func AuthorizeAny() Authorizer {
	return func(ID, [][]*x509.Certificate) error { return nil }
}

// AuthorizeID allows exactly want.
func AuthorizeID(want ID) Authorizer {
	return func(id ID, _ [][]*x509.Certificate) error {
		if id != want {
			return fmt.Errorf("%w: %s is not %s", ErrUnauthorized, id, want)
		}
		return nil
	}
}

// AuthorizeMemberOf allows any identity of trust domain td.
func AuthorizeMemberOf(td string) Authorizer {
	return func(id ID, _ [][]*x509.Certificate) error {
		if id.TrustDomain != td {
			return fmt.Errorf("%w: %s is not in trust domain %s", ErrUnauthorized, id, td)
		}
		return nil
	}
}

// AuthorizeRoles allows identities of trust domain td with one of roles.
func AuthorizeRoles(td string, roles ...Role) Authorizer {
	return func(id ID, _ [][]*x509.Certificate) error {
		if id.TrustDomain != td {
			return fmt.Errorf("%w: %s is not in trust domain %s", ErrUnauthorized, id, td)
		}
		for _, r := range roles {
			if id.Role == r {
				return nil
			}
		}
		return fmt.Errorf("%w: role %s of %s may not do this", ErrUnauthorized, id.Role, id)
	}
}

// AuthorizeIf allows identities for which member returns true; what names
// the set (e.g. "the directory") appears in the refusal.
func AuthorizeIf(what string, member func(ID) bool) Authorizer {
	return func(id ID, _ [][]*x509.Certificate) error {
		if !member(id) {
			return fmt.Errorf("%w: %s is not in %s", ErrUnauthorized, id, what)
		}
		return nil
	}
}

// AuthorizeAnyOf allows an identity that one of as allows; it returns the
// last refusal otherwise.
func AuthorizeAnyOf(as ...Authorizer) Authorizer {
	return func(id ID, chains [][]*x509.Certificate) error {
		err := fmt.Errorf("%w: %s", ErrUnauthorized, id)
		for _, a := range as {
			if err = a(id, chains); err == nil {
				return nil
			}
		}
		return err
	}
}

// AuthorizeNotRevoked refuses revoked identities with ErrRevoked and hands
// the rest to next.
func AuthorizeNotRevoked(revoked *Revocations, next Authorizer) Authorizer {
	return func(id ID, chains [][]*x509.Certificate) error {
		if revoked.Contains(id) {
			return fmt.Errorf("%w: %s", ErrRevoked, id)
		}
		return next(id, chains)
	}
}
