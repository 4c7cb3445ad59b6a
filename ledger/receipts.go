package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/taonet/taonet/ledger/receipt"
)

// ErrReceiptContradicted is returned (wrapped) when the ledger disagrees
// with a receipt a peer kept: the round is missing, not settled, or has
// another chain hash. The receipt's signature was checked when the peer
// kept it, so the ledger was rewritten or cut short since.
var ErrReceiptContradicted = errors.New("the ledger contradicts a kept receipt")

// CheckReceipts compares kept receipts with the settled rounds: each must
// exist, be settled and have the receipt's chain hash. It returns the
// number checked, or an error naming the first contradiction.
func (db *DB) CheckReceipts(ctx context.Context, kept []receipt.Kept) (int, error) {
	for i, k := range kept {
		r, err := db.GetRound(ctx, k.Round)
		switch {
		case ErrorCodeOf(err) == ENOTFOUND:
			return i, fmt.Errorf("%w: round %d is not in the ledger, but a receipt of it (hash %s) exists", ErrReceiptContradicted, k.Round, k.Hash)
		case err != nil:
			return i, err
		case r.State != RoundSettled:
			return i, fmt.Errorf("%w: round %d is %s in the ledger, but a receipt of it as settled (hash %s) exists", ErrReceiptContradicted, k.Round, r.State, k.Hash)
		case hex.EncodeToString(r.Hash) != k.Hash:
			return i, fmt.Errorf("%w: round %d has hash %x in the ledger, the receipt %s", ErrReceiptContradicted, k.Round, r.Hash, k.Hash)
		}
	}
	return len(kept), nil
}
