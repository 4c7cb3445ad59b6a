package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Role is the kind of identity a certificate carries.
type Role string

// The roles of docs/design.md "Identity and transport".
const (
	RolePeer        Role = "peer"
	RoleClient      Role = "client"
	RoleCoordinator Role = "coordinator"
)

// ID is a SPIFFE identity of the network:
// spiffe://<trust-domain>/peer/<name>, /client/<name> or /coordinator.
type ID struct {
	TrustDomain string
	Role        Role
	Name        string // empty for the coordinator
}

var (
	namePattern        = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	numericPattern     = regexp.MustCompile(`^[0-9]+$`)
	trustDomainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,250}[a-z0-9])?$`)
)

// ErrBadID is returned (wrapped) for a malformed identity, name or trust
// domain.
var ErrBadID = errors.New("bad identity")

// reservedNames may not name a peer or client: they read as roles or
// well-known hosts in a DNS name or a revoke argument.
var reservedNames = map[string]bool{"coordinator": true, "peer": true, "client": true, "ca": true, "localhost": true}

// CheckName reports whether name may name a peer or client: one DNS label
// (1-63 of a-z, 0-9 and '-', not starting or ending with '-'), not all
// digits, and not a reserved word (coordinator, peer, client, ca,
// localhost). The name becomes the first label of the certificate's DNS
// name, so '.' and '_' are refused. Errors wrap ErrBadID.
func CheckName(name string) error {
	switch {
	case len(name) > 63 || !namePattern.MatchString(name):
		return fmt.Errorf("%w: name %q must be a DNS label: 1-63 of a-z 0-9 -, not starting or ending with -", ErrBadID, truncate(name))
	case numericPattern.MatchString(name):
		return fmt.Errorf("%w: name %q must not be all digits", ErrBadID, name)
	case reservedNames[name]:
		return fmt.Errorf("%w: name %q is reserved", ErrBadID, name)
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// CheckTrustDomain reports whether td is a usable trust domain (lowercase
// DNS-like label sequence).
func CheckTrustDomain(td string) error {
	if !trustDomainPattern.MatchString(td) {
		return fmt.Errorf("%w: trust domain %q must be lowercase letters, digits, '.' and '-'", ErrBadID, td)
	}
	return nil
}

// PeerID returns spiffe://td/peer/name.
func PeerID(td, name string) ID { return ID{TrustDomain: td, Role: RolePeer, Name: name} }

// ClientID returns spiffe://td/client/name.
func ClientID(td, name string) ID { return ID{TrustDomain: td, Role: RoleClient, Name: name} }

// CoordinatorID returns spiffe://td/coordinator.
func CoordinatorID(td string) ID { return ID{TrustDomain: td, Role: RoleCoordinator} }

// Validate checks every part of the identity.
func (id ID) Validate() error {
	if err := CheckTrustDomain(id.TrustDomain); err != nil {
		return err
	}
	switch id.Role {
	case RoleCoordinator:
		if id.Name != "" {
			return fmt.Errorf("%w: the coordinator identity has no name", ErrBadID)
		}
		return nil
	case RolePeer, RoleClient:
		return CheckName(id.Name)
	default:
		return fmt.Errorf("%w: unknown role %q", ErrBadID, id.Role)
	}
}

// String returns the SPIFFE URI of the identity.
func (id ID) String() string {
	if id.Role == RoleCoordinator {
		return "spiffe://" + id.TrustDomain + "/coordinator"
	}
	return "spiffe://" + id.TrustDomain + "/" + string(id.Role) + "/" + id.Name
}

// URL returns the identity as a URL, for a certificate's URI SAN.
func (id ID) URL() *url.URL {
	u, _ := url.Parse(id.String()) // a validated ID always parses
	return u
}

// DNSName is a host name derived from the identity
// (<name>.<role>.<trust-domain>, or coordinator.<trust-domain>). Leaf
// certificates carry it so that ordinary TLS tools such as grpcurl can
// verify a peer with -servername; taonet itself trusts only the SPIFFE ID.
func (id ID) DNSName() string {
	if id.Role == RoleCoordinator {
		return "coordinator." + id.TrustDomain
	}
	return id.Name + "." + string(id.Role) + "." + id.TrustDomain
}

// ParseID parses a SPIFFE URI of the network's shape.
func ParseID(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return ID{}, fmt.Errorf("%w: %q is not a spiffe:// URI", ErrBadID, s)
	}
	parts := strings.Split(rest, "/")
	var id ID
	switch {
	case len(parts) == 2 && parts[1] == string(RoleCoordinator):
		id = CoordinatorID(parts[0])
	case len(parts) == 3 && (parts[1] == string(RolePeer) || parts[1] == string(RoleClient)):
		id = ID{TrustDomain: parts[0], Role: Role(parts[1]), Name: parts[2]}
	default:
		return ID{}, fmt.Errorf("%w: %q is not spiffe://<td>/peer/<name>, /client/<name> or /coordinator", ErrBadID, s)
	}
	if err := id.Validate(); err != nil {
		return ID{}, err
	}
	return id, nil
}

// IDFromCertificate returns the identity in the one URI SAN of cert. It
// does not verify the certificate; callers pass a verified leaf.
func IDFromCertificate(cert *x509.Certificate) (ID, error) {
	if cert == nil {
		return ID{}, fmt.Errorf("%w: no certificate", ErrBadID)
	}
	if len(cert.URIs) != 1 {
		return ID{}, fmt.Errorf("%w: certificate has %d URI SANs, want exactly 1", ErrBadID, len(cert.URIs))
	}
	return ParseID(cert.URIs[0].String())
}
