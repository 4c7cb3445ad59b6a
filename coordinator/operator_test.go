package coordinator_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
)

// TestOperatorMistakes: the coordinator cannot be revoked, client
// certificates have a capped lifetime, and the home and its database are
// private even in a folder that existed with looser permissions.
func TestOperatorMistakes(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "net")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := coordinator.Init(ctx, coordinator.InitConfig{Home: home, TrustDomain: "ops.local", Hosts: []string{"127.0.0.1"}, Task: "fmnist"}); err != nil {
		t.Fatal(err)
	}
	t.Run("OKPrivateFiles", func(t *testing.T) {
		for _, c := range []struct {
			path string
			mode os.FileMode
		}{{home, 0o700}, {filepath.Join(home, coordinator.DatabaseFile), 0o600}} {
			st, err := os.Stat(c.path)
			if err != nil || st.Mode().Perm() != c.mode {
				t.Fatalf("%s: mode %v (%v), want %v", c.path, st.Mode().Perm(), err, c.mode)
			}
		}
	})
	for _, name := range []string{"coordinator", "spiffe://ops.local/coordinator"} {
		t.Run("ErrRevokeCoordinator/"+name, func(t *testing.T) {
			_, err := coordinator.Revoke(ctx, home, name, "test")
			if err == nil || !strings.Contains(err.Error(), "coordinator's own") {
				t.Fatalf("revoke %q: %v, want a refusal", name, err)
			}
		})
	}
	t.Run("ErrClientLifetime", func(t *testing.T) {
		for _, d := range []time.Duration{10 * 365 * 24 * time.Hour, 31 * 24 * time.Hour, time.Second} {
			if _, err := coordinator.IssueClientCert(ctx, home, "ops", filepath.Join(t.TempDir(), "ops"), d); err == nil || !strings.Contains(err.Error(), "lifetime") {
				t.Fatalf("lifetime %v: %v, want a refusal", d, err)
			}
		}
		if _, err := coordinator.IssueClientCert(ctx, home, "ops", filepath.Join(t.TempDir(), "ops"), 30*24*time.Hour); err != nil {
			t.Fatalf("30 days: %v", err)
		}
	})
}
