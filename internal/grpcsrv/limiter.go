package grpcsrv

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterKeys bounds the memory of keyed limiters; idle keys are
// dropped first.
const maxLimiterKeys = 10000

// KeyedLimiter is a token bucket per key (an address or an identity).
type KeyedLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*keyedBucket
}

type keyedBucket struct {
	lim  *rate.Limiter
	used time.Time
}

// NewKeyedLimiter allows limit calls a second per key, in bursts of burst.
func NewKeyedLimiter(limit rate.Limit, burst int) *KeyedLimiter {
	return &KeyedLimiter{limit: limit, burst: burst, keys: map[string]*keyedBucket{}}
}

// Allow takes one token for key.
func (k *KeyedLimiter) Allow(key string) bool {
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
func (k *KeyedLimiter) evict(now time.Time) {
	full := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Second
	for key, b := range k.keys {
		if now.Sub(b.used) > full {
			delete(k.keys, key)
		}
	}
}
