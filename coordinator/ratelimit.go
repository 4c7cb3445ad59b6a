package coordinator

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/grpcsrv"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// limits implements ratelimit.Limiter for Enroll (per address and
// globally), Renew (per identity) and Query (per address and per
// identity).
type limits struct {
	enrollByAddr *grpcsrv.KeyedLimiter
	enrollAll    *rate.Limiter
	renewByID    *grpcsrv.KeyedLimiter
	queryByAddr  *grpcsrv.KeyedLimiter
	queryByID    *grpcsrv.KeyedLimiter
}

func newLimits(c Config) *limits {
	return &limits{
		enrollByAddr: grpcsrv.NewKeyedLimiter(c.EnrollRate, c.EnrollBurst),
		enrollAll:    rate.NewLimiter(c.EnrollGlobalRate, c.EnrollGlobalBurst),
		renewByID:    grpcsrv.NewKeyedLimiter(c.RenewRate, c.RenewBurst),
		queryByAddr:  grpcsrv.NewKeyedLimiter(c.QueryRate, c.QueryBurst),
		queryByID:    grpcsrv.NewKeyedLimiter(c.QueryRate, c.QueryBurst),
	}
}

// Limit refuses a call over its method's rate.
func (l *limits) Limit(ctx context.Context) error {
	method, _ := grpc.Method(ctx)
	host := "unknown"
	if p, ok := peer.FromContext(ctx); ok {
		host = remoteHost(p.Addr)
	}
	switch method {
	case taonetv1.Coordinator_Enroll_FullMethodName:
		if !l.enrollByAddr.Allow(host) {
			return fmt.Errorf("enroll rate limit for address %s", host)
		}
		if !l.enrollAll.Allow() {
			return errors.New("enroll rate limit for all addresses")
		}
	case taonetv1.Coordinator_Renew_FullMethodName:
		if id, ok := grpcid.Identity(ctx); ok && !l.renewByID.Allow(id) {
			return fmt.Errorf("renew rate limit for %s", id)
		}
	case taonetv1.Coordinator_Query_FullMethodName:
		if !l.queryByAddr.Allow(host) {
			return fmt.Errorf("query rate limit for address %s", host)
		}
		if id, ok := grpcid.Identity(ctx); ok && !l.queryByID.Allow(id) {
			return fmt.Errorf("query rate limit for %s", id)
		}
	}
	return nil
}
