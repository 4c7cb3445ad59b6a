package grpcsrv

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
)

// Sampler thins a flood of similar log lines: it allows one line per key
// every interval and at most perSecond lines a second over all keys
// together (so that rotating keys gains nothing), and counts the lines it
// drops so that the next line allowed can say how many there were. It is
// safe for concurrent use.
type Sampler struct {
	perKey  *KeyedLimiter
	all     *rate.Limiter
	dropped atomic.Int64
}

// NewSampler allows a key once every interval and perSecond lines a
// second in all.
func NewSampler(interval time.Duration, perSecond int) *Sampler {
	return &Sampler{perKey: NewKeyedLimiter(rate.Every(interval), 1), all: rate.NewLimiter(rate.Limit(perSecond), perSecond)}
}

// Allow reports whether a line for key may be written now and, if so,
// how many lines were dropped since the last one allowed.
func (s *Sampler) Allow(key string) (ok bool, dropped int64) {
	if !s.perKey.Allow(key) || !s.all.Allow() {
		s.dropped.Add(1)
		return false, 0
	}
	return true, s.dropped.Swap(0)
}

// refusals are the codes of calls refused for who or how much the caller
// asked, which a hostile caller can produce at will.
var refusals = map[string]bool{
	codes.Unauthenticated.String():   true,
	codes.PermissionDenied.String():  true,
	codes.ResourceExhausted.String(): true,
}

// CallLogger is the request log of a server's logging interceptor: every
// call is logged, except that refused calls (Unauthenticated,
// PermissionDenied, ResourceExhausted) are sampled once every 10 seconds
// per code, method and source address, and at most 10 a second in all,
// each sampled line carrying how many were left out before it. A flood of
// refused calls costs a few lines a second, not one per call.
func CallLogger(log *slog.Logger) logging.Logger {
	sampler := NewSampler(10*time.Second, 10)
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		var code, method, addr string
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			v, _ := fields[i+1].(string)
			switch k {
			case "grpc.code":
				code = v
			case "grpc.method":
				method = v
			case "peer.address":
				addr = v
			}
		}
		if refusals[code] {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				addr = host
			}
			ok, dropped := sampler.Allow(code + " " + method + " " + addr)
			if !ok {
				return
			}
			fields = append(fields, "similar_dropped", dropped, "sampled", "once per 10s per code, method and source")
		}
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
