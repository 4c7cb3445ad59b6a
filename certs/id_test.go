package certs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taonet/taonet/certs"
)

func TestParseID(t *testing.T) {
	ok := []struct {
		in   string
		want certs.ID
	}{
		{"spiffe://test.local/peer/alice", certs.PeerID(td, "alice")},
		{"spiffe://test.local/client/ops-1", certs.ClientID(td, "ops-1")},
		{"spiffe://test.local/coordinator", certs.CoordinatorID(td)},
	}
	for _, c := range ok {
		t.Run("OK", func(t *testing.T) {
			got, err := certs.ParseID(c.in)
			if err != nil || got != c.want {
				t.Fatalf("ParseID(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
			if got.String() != c.in {
				t.Fatalf("String() = %q, want %q", got.String(), c.in)
			}
		})
	}
	for _, in := range []string{
		"", "https://test.local/peer/a", "spiffe://test.local/peer", "spiffe://test.local/admin/a",
		"spiffe://test.local/peer/a/b", "spiffe://test.local/peer/A", "spiffe://Test/peer/a",
		"spiffe://test.local/coordinator/x", "spiffe:///peer/a", "spiffe://test.local/peer/-a",
	} {
		t.Run("ErrBadID", func(t *testing.T) {
			if _, err := certs.ParseID(in); !errors.Is(err, certs.ErrBadID) {
				t.Fatalf("ParseID(%q) err = %v, want ErrBadID", in, err)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for _, name := range []string{"a", "alice", "ops-1", "p00", "0a", "a0-b", strings.Repeat("a", 63)} {
		t.Run("OK", func(t *testing.T) {
			if err := certs.CheckName(name); err != nil {
				t.Fatalf("CheckName(%q) = %v", name, err)
			}
		})
	}
	for _, name := range []string{
		"", "a.", "a..", "a.b", "a_", "a_b", "-a", "a-", "A", "a b", "a/b", "é",
		strings.Repeat("a", 64), "0", "123", "coordinator", "peer", "client", "ca", "localhost",
	} {
		t.Run("ErrBadID", func(t *testing.T) {
			if err := certs.CheckName(name); !errors.Is(err, certs.ErrBadID) {
				t.Fatalf("CheckName(%q) = %v, want ErrBadID", name, err)
			}
			if _, err := certs.ParseID("spiffe://test.local/peer/" + name); !errors.Is(err, certs.ErrBadID) {
				t.Fatalf("ParseID of peer %q = %v, want ErrBadID", name, err)
			}
		})
	}
}
