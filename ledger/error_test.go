package ledger_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/taonet/taonet/ledger"
)

// TestErrorModel: every ledger sentinel carries one of the ledger's codes,
// so the services map it through the one table by code, and a sentinel
// still names itself alone.
func TestErrorModel(t *testing.T) {
	cases := []struct {
		err  error
		code ledger.ErrorCode
		kind error
	}{
		{ledger.ErrNoIdentity, ledger.ENOTFOUND, ledger.ErrNotFound},
		{ledger.ErrAlreadyRevoked, ledger.ECONFLICT, ledger.ErrConflict},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("revoke x: %w", c.err)
		if ledger.ErrorCodeOf(wrapped) != c.code || !errors.Is(wrapped, c.kind) || !errors.Is(wrapped, c.err) {
			t.Errorf("%v: code %q, is %v %v", c.err, ledger.ErrorCodeOf(wrapped), errors.Is(wrapped, c.kind), errors.Is(wrapped, c.err))
		}
	}
	other := fmt.Errorf("round 9: %w", &ledger.Error{Code: ledger.ENOTFOUND, Msg: "round 9 not found"})
	if errors.Is(other, ledger.ErrNoIdentity) {
		t.Error("another not-found error reads as ErrNoIdentity")
	}
}
