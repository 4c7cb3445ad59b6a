package coordinator

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
)

// Files in a coordinator home folder.
const (
	CAFile       = "ca.pem"
	CAKeyFile    = "ca-key.pem"
	CertFile     = "coordinator.pem"
	KeyFile      = "coordinator-key.pem"
	DatabaseFile = "taonet.db"
)

// InitConfig configures Init.
type InitConfig struct {
	Home        string
	TrustDomain string
	Hosts       []string // host names and IPs in the coordinator's certificate
	Task        string
	// LeafLifetime is the coordinator certificate's lifetime;
	// certs.DefaultLeafLifetime when 0.
	LeafLifetime time.Duration
	// Emission is E0, the emission per round of the first era, in rao;
	// ledger.DefaultEmission (1 TAO) when 0. It is fixed for the life of the
	// network, since the schedule is replayed to verify the ledger.
	Emission uint64
}

// ErrCAExists is returned by Init when the home already holds a CA.
var ErrCAExists = errors.New("home already holds a CA; refusing to overwrite it")

// Init creates a network in cfg.Home: the CA (ca.pem, ca-key.pem 0600),
// the coordinator's certificate for cfg.Hosts (coordinator.pem,
// coordinator-key.pem 0600) and the database (taonet.db) with the trust
// domain and task. It refuses a home that already has a CA or a network,
// and removes what it wrote if a later step fails.
func Init(ctx context.Context, cfg InitConfig) (err error) {
	if err := certs.CheckTrustDomain(cfg.TrustDomain); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := LookupTask(cfg.Task); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if len(cfg.Hosts) == 0 {
		return errors.New("init: at least one host is needed for the coordinator certificate")
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	for _, f := range []string{CAFile, CAKeyFile} {
		if _, err := os.Stat(filepath.Join(cfg.Home, f)); err == nil {
			return fmt.Errorf("init %s: %w", cfg.Home, ErrCAExists)
		}
	}
	now := time.Now()
	ca, err := certs.NewCA(cfg.TrustDomain, now, certs.DefaultCALifetime)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	lifetime := cfg.LeafLifetime
	if lifetime <= 0 {
		lifetime = certs.DefaultLeafLifetime
	}
	key, err := certs.NewKey()
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	iss, err := issueCoordinator(ca, key, cfg.Hosts, now, lifetime)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	caKeyPEM, err := certs.EncodeKey(ca.Key)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	db, err := ledger.Open(ctx, filepath.Join(cfg.Home, DatabaseFile))
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer db.Close()
	if err := makePrivate(cfg.Home); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := db.Network(ctx); err == nil {
		return fmt.Errorf("init %s: %w", cfg.Home, ledger.ErrNetworkExists)
	}
	if cfg.Emission > 0 {
		if err := db.SetInitialEmission(ctx, cfg.Emission); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CAKeyFile, caKeyPEM, 0o600},
		{CAFile, ca.CertPEM(), 0o644},
		{KeyFile, keyPEM, 0o600},
		{CertFile, iss.PEM, 0o644},
	} {
		p := filepath.Join(cfg.Home, f.name)
		if err = certs.WriteFile(p, f.data, f.perm); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		written = append(written, p)
	}
	if err = db.InitNetwork(ctx, ledger.Network{TrustDomain: cfg.TrustDomain, Task: cfg.Task, CreatedAt: now}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err = db.EnrollIssued(ctx, iss, now); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// issueCoordinator issues a certificate for key with the coordinator
// identity, valid for hosts.
func issueCoordinator(ca *certs.CA, key *ecdsa.PrivateKey, hosts []string, now time.Time, lifetime time.Duration) (*certs.Issued, error) {
	csr, err := certs.NewCSR(key)
	if err != nil {
		return nil, err
	}
	nb, na := certs.Validity(now, lifetime)
	return ca.Issue(csr, certs.CoordinatorID(ca.TrustDomain), nb, na, hosts...)
}

// home is an opened coordinator home: database, CA and network settings.
type home struct {
	dir  string
	db   *ledger.DB
	ca   *certs.CA
	net  ledger.Network
	task Task
}

// openHome opens the database and loads the CA of a home made by Init.
func openHome(ctx context.Context, dir string) (*home, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("open home %s (run coordinator init first?): %w", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	db, err := ledger.Open(ctx, filepath.Join(dir, DatabaseFile))
	if err != nil {
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	if err := makePrivate(dir); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	h := &home{dir: dir, db: db}
	if h.net, err = db.Network(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	if h.ca, err = certs.LoadCA(certPEM, keyPEM, h.net.TrustDomain); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	if h.task, err = LookupTask(h.net.Task); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open home %s: %w", dir, err)
	}
	return h, nil
}

func (h *home) close() error { return h.db.Close() }

// makePrivate makes the home folder 0700 and the database files 0600: the
// ledger names every identity and holds every balance.
func makePrivate(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []string{DatabaseFile, DatabaseFile + "-wal", DatabaseFile + "-shm"} {
		if err := os.Chmod(filepath.Join(dir, f), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// coordinatorCert loads the coordinator's key and certificate and
// reissues the certificate when force is set, when it has passed its
// renewal point, or when it is not the key's. The key is kept across
// renewals, as a peer keeps its own: a renewal writes coordinator.pem
// alone, atomically, so a crash leaves the old or the new certificate
// beside the one key, never a pair that does not match. A certificate of
// another key (a home renewed by an earlier version, which wrote a new key
// and then its certificate and could stop between the two) is reissued for
// the key on disk: the coordinator is its own CA. A key file that cannot
// be read or parsed is an error.
func (h *home) coordinatorCert(ctx context.Context, lifetime time.Duration, force bool) (*certs.Source, error) {
	certPEM, err := os.ReadFile(filepath.Join(h.dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("coordinator certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(h.dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("coordinator certificate: %w", err)
	}
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("coordinator certificate: %s: %w", KeyFile, err)
	}
	leaf, err := certs.ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("coordinator certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	mismatch := !ok || !pub.Equal(&key.PublicKey)
	if force || mismatch || !time.Now().Before(certs.RenewAt(leaf)) {
		hosts := append([]string{}, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			hosts = append(hosts, ip.String())
		}
		now := time.Now()
		// DNSNames[0] is the identity's own name, which Issue adds again.
		iss, err := issueCoordinator(h.ca, key, hosts[min(1, len(hosts)):], now, lifetime)
		if err != nil {
			return nil, fmt.Errorf("renew coordinator certificate: %w", err)
		}
		if err := certs.WriteFile(filepath.Join(h.dir, CertFile), iss.PEM, 0o644); err != nil {
			return nil, fmt.Errorf("renew coordinator certificate: %w", err)
		}
		if err := h.db.EnrollIssued(ctx, iss, now); err != nil {
			return nil, fmt.Errorf("renew coordinator certificate: %w", err)
		}
		certPEM = iss.PEM
	}
	pair, err := certs.KeyPair(certPEM, keyPEM, h.ca.Cert)
	if err != nil {
		return nil, fmt.Errorf("coordinator certificate: %w", err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		return nil, err
	}
	// The ledger signs each settled round with the coordinator's key; each
	// round keeps the certificate it was signed under, so rounds signed
	// before a renewal still verify after it.
	if err := h.db.SignRoundsWith(ledger.RoundSigner{Key: key, Cert: src.Leaf()}); err != nil {
		return nil, fmt.Errorf("coordinator certificate: %w", err)
	}
	return src, nil
}

// ReadCA reads the CA certificate of the home folder dir: what the ledger's
// round signatures are checked against.
func ReadCA(dir string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("read CA of %s: %w", dir, err)
	}
	ca, err := certs.ParseCert(data)
	if err != nil {
		return nil, fmt.Errorf("read CA of %s: %w", dir, err)
	}
	return ca, nil
}
