package coordinator

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/grpcsrv"
	"github.com/taonet/taonet/ledger"
)

// Domain errors of the coordinator's services.
var (
	errCardMismatch    = errors.New("model card does not fit the network")
	errBadCard         = errors.New("bad model card")
	errProtocolVersion = errors.New("unsupported protocol version")
	errBadAddress      = errors.New("bad advertise address")
	errBadPage         = errors.New("bad page")
	errBadQuery        = errors.New("bad query")
	errNoPeerAnswered  = errors.New("no peer answered")
)

// errorCodes is the one table from domain errors to gRPC status codes. The
// first match wins; an error matching none is Internal and its details go
// to the log only.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{certs.ErrTokenUnknown, codes.Unauthenticated},
	{certs.ErrTokenExpired, codes.Unauthenticated},
	{certs.ErrTokenCancelled, codes.Unauthenticated},
	{certs.ErrTokenRedeemed, codes.Unauthenticated},
	{certs.ErrUnauthenticated, codes.Unauthenticated},
	{certs.ErrRevoked, codes.PermissionDenied},
	{certs.ErrUnauthorized, codes.PermissionDenied},
	{certs.ErrBadCSR, codes.InvalidArgument},
	{certs.ErrCSRIdentity, codes.InvalidArgument},
	{certs.ErrBadID, codes.InvalidArgument},
	{certs.ErrNameTaken, codes.AlreadyExists},
	{ledger.ErrNotFound, codes.NotFound},
	{ledger.ErrInvalid, codes.InvalidArgument},
	{ledger.ErrConflict, codes.FailedPrecondition},
	{errCardMismatch, codes.FailedPrecondition},
	{errBadCard, codes.InvalidArgument},
	{errProtocolVersion, codes.FailedPrecondition},
	{errBadAddress, codes.InvalidArgument},
	{errBadPage, codes.InvalidArgument},
	{errBadQuery, codes.InvalidArgument},
	{errNoPeerAnswered, codes.Unavailable},
	{errRoundRunning, codes.FailedPrecondition},
	{errSlowWatcher, codes.ResourceExhausted},
	{errTooManyWatches, codes.ResourceExhausted},
	{grpcsrv.ErrCertExpired, codes.Unauthenticated},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns err into a status error with a one-line reason.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, "internal error")
}
