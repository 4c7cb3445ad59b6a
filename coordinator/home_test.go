package coordinator_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

func mustInit(tb testing.TB) string {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "net")
	if err := coordinator.Init(context.Background(), coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"localhost", "127.0.0.1"}, Task: "fmnist"}); err != nil {
		tb.Fatal(err)
	}
	return home
}

func mustMode(tb testing.TB, path string, want os.FileMode) {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if st.Mode().Perm() != want {
		tb.Fatalf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

func TestInit(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		home := mustInit(t)
		mustMode(t, filepath.Join(home, coordinator.CAKeyFile), 0o600)
		mustMode(t, filepath.Join(home, coordinator.KeyFile), 0o600)
		db, err := ledger.Open(ctx, filepath.Join(home, "taonet.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nw, err := db.Network(ctx)
		if err != nil || nw.TrustDomain != testTD || nw.Task != "fmnist" {
			t.Fatalf("network = %+v, %v", nw, err)
		}
	})
	t.Run("ErrCAExists", func(t *testing.T) {
		home := mustInit(t)
		before, _ := os.ReadFile(filepath.Join(home, coordinator.CAFile))
		err := coordinator.Init(ctx, coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"localhost"}, Task: "fmnist"})
		if !errors.Is(err, coordinator.ErrCAExists) {
			t.Fatalf("err = %v, want ErrCAExists", err)
		}
		if after, _ := os.ReadFile(filepath.Join(home, coordinator.CAFile)); string(after) != string(before) {
			t.Fatal("the CA was overwritten")
		}
	})
	for name, cfg := range map[string]coordinator.InitConfig{
		"ErrTask":        {TrustDomain: testTD, Hosts: []string{"localhost"}, Task: "imagenet"},
		"ErrTrustDomain": {TrustDomain: "Bad Domain", Hosts: []string{"localhost"}, Task: "fmnist"},
		"ErrNoHosts":     {TrustDomain: testTD, Task: "fmnist"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Home = filepath.Join(t.TempDir(), "net")
			if err := coordinator.Init(ctx, cfg); err == nil {
				t.Fatal("accepted")
			}
			if _, err := os.Stat(filepath.Join(cfg.Home, coordinator.CAFile)); err == nil {
				t.Fatal("a refused init wrote a CA")
			}
		})
	}
}

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	home := mustInit(t)
	t.Run("OKClientCert", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ops")
		id, err := coordinator.IssueClientCert(ctx, home, "ops", out, time.Hour)
		if err != nil || id.String() != "spiffe://test.local/client/ops" {
			t.Fatalf("client-cert = %v, %v", id, err)
		}
		mustMode(t, filepath.Join(out, "key.pem"), 0o600)
		for _, f := range []string{"cert.pem", "ca.pem"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := coordinator.IssueClientCert(ctx, home, "ops", out, time.Hour); !errors.Is(err, certs.ErrNameTaken) {
			t.Fatalf("second client-cert err = %v, want ErrNameTaken", err)
		}
	})
	t.Run("OKTokenLifecycle", func(t *testing.T) {
		tok, err := coordinator.CreateToken(ctx, home, "alice", time.Hour)
		if err != nil || !strings.HasPrefix(tok.CAPin, "sha256:") {
			t.Fatalf("token = %+v, %v", tok, err)
		}
		list, err := coordinator.ListTokens(ctx, home)
		if err != nil || len(list) != 1 || list[0].State(time.Now()) != "valid" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if k, err := coordinator.CancelTokens(ctx, home, "alice"); err != nil || k != 1 {
			t.Fatalf("cancel = %d, %v", k, err)
		}
	})
	t.Run("ErrTokenBadName", func(t *testing.T) {
		if _, err := coordinator.CreateToken(ctx, home, "Not/A/Name", time.Hour); !errors.Is(err, certs.ErrBadID) {
			t.Fatalf("err = %v, want ErrBadID", err)
		}
	})
	t.Run("ErrRevokeUnknown", func(t *testing.T) {
		if _, err := coordinator.Revoke(ctx, home, "ghost", ""); !errors.Is(err, ledger.ErrNoIdentity) {
			t.Fatalf("err = %v, want ErrNoIdentity", err)
		}
	})
	t.Run("OKRevokeClient", func(t *testing.T) {
		id, err := coordinator.Revoke(ctx, home, "client/ops", "")
		if err != nil || id.String() != "spiffe://test.local/client/ops" {
			t.Fatalf("revoke = %v, %v", id, err)
		}
		if _, err := coordinator.Revoke(ctx, home, "ops", ""); !errors.Is(err, ledger.ErrAlreadyRevoked) {
			t.Fatalf("second revoke err = %v, want ErrAlreadyRevoked", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	if err := coordinator.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, edit := range map[string]func(*coordinator.Config){
		"ErrListen":   func(c *coordinator.Config) { c.Listen = "nope" },
		"ErrPoll":     func(c *coordinator.Config) { c.RevocationPoll = 2 * time.Second },
		"ErrLifetime": func(c *coordinator.Config) { c.LeafLifetime = 0 },
		"ErrHome":     func(c *coordinator.Config) { c.Home = "" },
	} {
		t.Run(name, func(t *testing.T) {
			c := coordinator.DefaultConfig()
			edit(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestCoordinatorCertificate checks the coordinator's own key and
// certificate across a renewal and after a crash in the middle of one.
func TestCoordinatorCertificate(t *testing.T) {
	t.Run("OKRenewalKeepsKey", func(t *testing.T) {
		home := mustInit(t)
		ca := mustLoadCA(t, home)
		keyPEM := mustReadHome(t, home, coordinator.KeyFile)
		// A certificate for the home's key past its renewal point: the
		// coordinator renews it as it starts.
		csr, err := certs.NewCSR(mustParseKey(t, keyPEM))
		if err != nil {
			t.Fatal(err)
		}
		stale, err := ca.Issue(csr, certs.CoordinatorID(testTD), time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "localhost", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		mustWriteHome(t, home, coordinator.CertFile, stale.PEM, 0o644)
		served := mustServedLeaf(t, home, ca)
		if served.SerialNumber.Cmp(stale.Cert.SerialNumber) == 0 {
			t.Fatal("the stale certificate was not renewed")
		}
		if got := mustReadHome(t, home, coordinator.KeyFile); string(got) != string(keyPEM) {
			t.Fatal("the renewal replaced the key")
		}
		mustMatchingHome(t, home, served)
	})
	t.Run("OKMismatchReissued", func(t *testing.T) {
		home := mustInit(t)
		ca := mustLoadCA(t, home)
		// What an earlier version left when it stopped between writing a
		// renewal's new key and its certificate: a key beside the
		// certificate of another key.
		newKey, err := certs.EncodeKey(mustNewKey(t))
		if err != nil {
			t.Fatal(err)
		}
		mustWriteHome(t, home, coordinator.KeyFile, newKey, 0o600)
		mustMatchingHome(t, home, mustServedLeaf(t, home, ca))
	})
}

// mustServedLeaf runs a coordinator on home and returns the certificate
// it presents in a TLS handshake that chains to ca.
func mustServedLeaf(tb testing.TB, home string, ca *certs.CA) *x509.Certificate {
	tb.Helper()
	n := &testNet{home: home, logs: &syncBuffer{}, ca: ca, pin: ca.Pin()}
	n.start(tb, nil)
	conf := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}}
	conn, err := tls.Dial("tcp", n.addr, conf)
	if err != nil {
		tb.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// mustMatchingHome checks that the home's certificate file and the
// certificate served are both for the home's key.
func mustMatchingHome(tb testing.TB, home string, served *x509.Certificate) {
	tb.Helper()
	key := mustParseKey(tb, mustReadHome(tb, home, coordinator.KeyFile))
	onDisk, err := certs.ParseCert(mustReadHome(tb, home, coordinator.CertFile))
	if err != nil {
		tb.Fatal(err)
	}
	for what, c := range map[string]*x509.Certificate{"on disk": onDisk, "served": served} {
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
			tb.Errorf("the certificate %s is not for the key on disk", what)
		}
	}
}

func mustReadHome(tb testing.TB, home, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(home, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustWriteHome(tb testing.TB, home, name string, data []byte, perm os.FileMode) {
	tb.Helper()
	if err := certs.WriteFile(filepath.Join(home, name), data, perm); err != nil {
		tb.Fatal(err)
	}
}

func mustParseKey(tb testing.TB, keyPEM []byte) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func mustNewKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return key
}
