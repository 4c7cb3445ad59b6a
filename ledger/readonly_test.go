package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/ledger"
)

// TestOpenReadOnly reads a ledger another connection keeps writing, as
// status commands do beside a running coordinator, and checks that the
// read-only handle cannot write.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "taonet.db")
	w, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustSigner(t, w)
	ids := mustPeers(t, w, "alice")
	mustSettle(t, w, 1, scored(ids, 1))
	t.Run("OK", func(t *testing.T) {
		r, err := ledger.OpenReadOnly(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		mustSettle(t, w, 2, scored(ids, 1)) // the writer goes on beside it
		s, err := r.GetSupply(ctx)
		if err != nil || s.Minted != 2*ledger.DefaultEmission {
			t.Fatalf("supply read = %+v, %v; want both rounds' emission", s, err)
		}
		if _, err := r.SQL().ExecContext(ctx, `UPDATE supply SET minted = 0`); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Fatalf("write through the read-only handle = %v", err)
		}
	})
	t.Run("ErrNoDatabase", func(t *testing.T) {
		if _, err := ledger.OpenReadOnly(ctx, filepath.Join(t.TempDir(), "none.db")); err == nil {
			t.Fatal("opened a database that does not exist")
		}
	})
	t.Run("ErrSchemaTooNew", func(t *testing.T) {
		if _, err := w.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.OpenReadOnly(ctx, path); !errors.Is(err, ledger.ErrSchemaTooNew) {
			t.Fatalf("open a newer schema = %v, want ErrSchemaTooNew", err)
		}
	})
}
