package coordinator

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ledgerServer serves taonet.v1.Ledger from the coordinator's database.
type ledgerServer struct {
	taonetv1.UnimplementedLedgerServer
	db       *ledger.DB
	callerID func(ctx context.Context) (string, bool)
}

var _ taonetv1.LedgerServer = (*ledgerServer)(nil)

// NewLedgerServer returns the read-only Ledger service over db. callerID
// returns the verified identity of the caller (a SPIFFE ID); GetBalance with
// an empty account reads the caller's own account.
func NewLedgerServer(db *ledger.DB, callerID func(ctx context.Context) (identity string, ok bool)) taonetv1.LedgerServer {
	return &ledgerServer{db: db, callerID: callerID}
}

// GetSupply is not built yet.
func (s *ledgerServer) GetSupply(context.Context, *taonetv1.GetSupplyRequest) (*taonetv1.GetSupplyResponse, error) {
	return nil, status.Error(codes.Unimplemented, "ledger: not built yet")
}
