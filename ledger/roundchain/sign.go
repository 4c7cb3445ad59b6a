package roundchain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/taonet/taonet/certs"
)

// ErrBadSignature is returned (wrapped) when a signature does not check
// out: a malformed or mismatched signature, or a signing certificate that
// is not the network coordinator's.
var ErrBadSignature = errors.New("bad round signature")

// Sign signs a chain hash with key, an ECDSA or Ed25519 private key.
func Sign(key crypto.Signer, hash []byte) ([]byte, error) {
	if len(hash) != HashSize {
		return nil, fmt.Errorf("sign round: hash is %d bytes, want %d", len(hash), HashSize)
	}
	var opts crypto.SignerOpts
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		opts = crypto.SHA256
	case ed25519.PublicKey:
		opts = crypto.Hash(0)
	default:
		return nil, fmt.Errorf("sign round: unsupported key type %T (want ECDSA or Ed25519)", key.Public())
	}
	sig, err := key.Sign(rand.Reader, hash, opts)
	if err != nil {
		return nil, fmt.Errorf("sign round: %w", err)
	}
	return sig, nil
}

// CheckSignature reports whether sig is pub's signature of hash, as Sign
// makes it. Errors wrap ErrBadSignature.
func CheckSignature(pub crypto.PublicKey, hash, sig []byte) error {
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, hash, sig)
	case ed25519.PublicKey:
		ok = len(k) == ed25519.PublicKeySize && ed25519.Verify(k, hash, sig)
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrBadSignature, pub)
	}
	if !ok {
		return fmt.Errorf("%w: the signature does not match the hash", ErrBadSignature)
	}
	return nil
}

// CheckSigner parses the DER certificate of a round's signer and checks
// that it chains to ca and names the coordinator of ca's network. Expiry is
// not checked: a round signed by a certificate that has since expired
// stays signed. Errors wrap ErrBadSignature.
func CheckSigner(ca *x509.Certificate, der []byte) (*x509.Certificate, error) {
	if ca == nil {
		return nil, fmt.Errorf("%w: no CA certificate to check the signer against", ErrBadSignature)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: signer certificate: %v", ErrBadSignature, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	// Verify at the middle of the leaf's life, so that a certificate that
	// was valid when it signed still counts once it has expired.
	at := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: signer certificate %s is not the network CA's: %v", ErrBadSignature, leaf.SerialNumber.Text(16), err)
	}
	id, err := certs.IDFromCertificate(leaf)
	if err != nil || id.Role != certs.RoleCoordinator {
		return nil, fmt.Errorf("%w: signer certificate %s does not name the coordinator", ErrBadSignature, leaf.SerialNumber.Text(16))
	}
	return leaf, nil
}

// Verify checks that sig is a signature of hash by the certificate signer
// (DER), and that signer is the coordinator's, issued by ca. Errors wrap
// ErrBadSignature.
func Verify(ca *x509.Certificate, signer, hash, sig []byte) error {
	leaf, err := CheckSigner(ca, signer)
	if err != nil {
		return err
	}
	return CheckSignature(leaf.PublicKey, hash, sig)
}
