package coordinator_test

import (
	"context"
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
