package coordinator

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ledgerServer serves taonet.v1.Ledger from the coordinator's database.
// It only reads: nothing in a request decides who gets paid.
type ledgerServer struct {
	taonetv1.UnimplementedLedgerServer
	db       *ledger.DB
	callerID func(ctx context.Context) (string, bool)
	log      *slog.Logger
}

var _ taonetv1.LedgerServer = (*ledgerServer)(nil)

// NewLedgerServer returns the read-only Ledger service over db. callerID
// returns the verified identity of the caller (a SPIFFE ID); GetBalance with
// an empty account reads the caller's own account. Internal errors go to
// log.
func NewLedgerServer(db *ledger.DB, callerID func(ctx context.Context) (identity string, ok bool), log *slog.Logger) taonetv1.LedgerServer {
	return &ledgerServer{db: db, callerID: callerID, log: log}
}

// ledgerStatus turns err into a status error through the one error table
// (errors.go): a ledger error keeps its one-line message, anything else is
// logged and reported as Internal.
func (s *ledgerServer) ledgerStatus(ctx context.Context, err error) error {
	return toStatus(ctx, s.log, err)
}

func balanceProto(b ledger.Balance) *taonetv1.Balance {
	return &taonetv1.Balance{Account: b.Account, Rao: b.Rao, Tao: ledger.FormatTAO(b.Rao)}
}

// GetBalance returns one account's balance; an empty account is the
// caller's. Errors: NotFound for an unknown account, Unauthenticated when
// an empty account is asked for without a verified caller.
func (s *ledgerServer) GetBalance(ctx context.Context, req *taonetv1.GetBalanceRequest) (*taonetv1.GetBalanceResponse, error) {
	account := req.GetAccount()
	if account == "" {
		id, ok := s.callerID(ctx)
		if !ok || id == "" {
			return nil, status.Error(codes.Unauthenticated, "no account given and the caller has no verified identity")
		}
		account = id
	}
	b, err := s.db.GetBalance(ctx, account)
	if err != nil {
		return nil, s.ledgerStatus(ctx, err)
	}
	return &taonetv1.GetBalanceResponse{Balance: balanceProto(b)}, nil
}

// ListAccounts lists accounts by balance, largest first, paged.
// Errors: InvalidArgument for a bad page size or token.
func (s *ledgerServer) ListAccounts(ctx context.Context, req *taonetv1.ListAccountsRequest) (*taonetv1.ListAccountsResponse, error) {
	accounts, next, err := s.db.ListAccounts(ctx, ledger.Page{Size: req.GetPageSize(), Token: req.GetPageToken()})
	if err != nil {
		return nil, s.ledgerStatus(ctx, err)
	}
	resp := &taonetv1.ListAccountsResponse{NextPageToken: next, Accounts: make([]*taonetv1.Balance, len(accounts))}
	for i, b := range accounts {
		resp.Accounts[i] = balanceProto(b)
	}
	return resp, nil
}

// ListPayouts lists payouts by account and/or round, newest round first,
// paged. Errors: InvalidArgument for a bad page size or token, or a token
// from a listing with another filter.
func (s *ledgerServer) ListPayouts(ctx context.Context, req *taonetv1.ListPayoutsRequest) (*taonetv1.ListPayoutsResponse, error) {
	payouts, next, err := s.db.ListPayouts(ctx,
		ledger.PayoutFilter{Account: req.GetAccount(), Round: req.GetRound()},
		ledger.Page{Size: req.GetPageSize(), Token: req.GetPageToken()})
	if err != nil {
		return nil, s.ledgerStatus(ctx, err)
	}
	resp := &taonetv1.ListPayoutsResponse{NextPageToken: next, Payouts: make([]*taonetv1.Payout, len(payouts))}
	for i, p := range payouts {
		resp.Payouts[i] = &taonetv1.Payout{Round: p.Round, Account: p.Account, Rao: p.Rao, Tao: ledger.FormatTAO(p.Rao)}
	}
	return resp, nil
}

// GetSupply returns minted supply, the cap, the next round's emission and
// the minted supply at which the emission halves next.
func (s *ledgerServer) GetSupply(ctx context.Context, _ *taonetv1.GetSupplyRequest) (*taonetv1.GetSupplyResponse, error) {
	sup, err := s.db.GetSupply(ctx)
	if err != nil {
		return nil, s.ledgerStatus(ctx, err)
	}
	return &taonetv1.GetSupplyResponse{
		MintedRao:        sup.Minted,
		CapRao:           sup.Cap,
		EmissionRao:      sup.Emission,
		NextHalvingAtRao: sup.NextHalvingAt,
		MintedTao:        ledger.FormatTAO(sup.Minted),
		EmissionTao:      ledger.FormatTAO(sup.Emission),
	}, nil
}
