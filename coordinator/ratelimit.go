package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/taonet/taonet/certs/grpcid"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// maxLimiterKeys bounds the memory of keyed limiters; idle keys are
// dropped first.
const maxLimiterKeys = 10000

// keyedLimiter is a token bucket per key (an address or an identity).
type keyedLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*keyedBucket
}

type keyedBucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newKeyedLimiter(limit rate.Limit, burst int) *keyedLimiter {
	return &keyedLimiter{limit: limit, burst: burst, keys: map[string]*keyedBucket{}}
}

// allow takes one token for key.
func (k *keyedLimiter) allow(key string) bool {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.keys[key]
	if !ok {
		if len(k.keys) >= maxLimiterKeys {
			k.evict(now)
		}
		b = &keyedBucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.keys[key] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

// evict drops keys idle long enough to have refilled their bucket.
func (k *keyedLimiter) evict(now time.Time) {
	full := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Second
	for key, b := range k.keys {
		if now.Sub(b.used) > full {
			delete(k.keys, key)
		}
	}
}

// limits implements ratelimit.Limiter for Enroll (per address) and Query
// (per address and per identity).
type limits struct {
	enrollByAddr *keyedLimiter
	queryByAddr  *keyedLimiter
	queryByID    *keyedLimiter
}

func newLimits(c Config) *limits {
	return &limits{
		enrollByAddr: newKeyedLimiter(c.EnrollRate, c.EnrollBurst),
		queryByAddr:  newKeyedLimiter(c.QueryRate, c.QueryBurst),
		queryByID:    newKeyedLimiter(c.QueryRate, c.QueryBurst),
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
		if !l.enrollByAddr.allow(host) {
			return fmt.Errorf("enroll rate limit for address %s", host)
		}
	case taonetv1.Coordinator_Query_FullMethodName:
		if !l.queryByAddr.allow(host) {
			return fmt.Errorf("query rate limit for address %s", host)
		}
		if id, ok := grpcid.Identity(ctx); ok && !l.queryByID.allow(id) {
			return fmt.Errorf("query rate limit for %s", id)
		}
	}
	return nil
}
