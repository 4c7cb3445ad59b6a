package grpcsrv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
)

// ErrCertExpired ends a stream whose caller's certificate expired while it
// was open (a renewed certificate needs a new connection).
var ErrCertExpired = errors.New("client certificate expired; reconnect with the renewed one")

// Caller names the authenticated caller of a stream and when its
// certificate expires; ok is false for a stream without one (health).
type Caller func(ctx context.Context) (identity string, notAfter time.Time, ok bool)

// Streams tracks open server streams by caller identity, so that a
// revocation can end every stream of that identity at once. The coordinator
// and every peer run one. It is safe for concurrent use.
type Streams struct {
	mu   sync.Mutex
	byID map[string]map[*context.CancelCauseFunc]struct{}
}

// NewStreams returns an empty tracker.
func NewStreams() *Streams {
	return &Streams{byID: map[string]map[*context.CancelCauseFunc]struct{}{}}
}

// Track derives a context for one stream of identity; done must be called
// when the stream ends.
func (s *Streams) Track(ctx context.Context, identity string) (_ context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	key := &cancel
	s.mu.Lock()
	if s.byID[identity] == nil {
		s.byID[identity] = map[*context.CancelCauseFunc]struct{}{}
	}
	s.byID[identity][key] = struct{}{}
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.byID[identity], key)
		if len(s.byID[identity]) == 0 {
			delete(s.byID, identity)
		}
		s.mu.Unlock()
		cancel(context.Canceled)
	}
}

// Cut cancels every open stream of identity with cause and returns how
// many it cut.
func (s *Streams) Cut(identity string, cause error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.byID[identity] {
		(*c)(cause)
		n++
	}
	return n
}

// Open returns how many streams of identity are open.
func (s *Streams) Open(identity string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID[identity])
}

// Interceptor tracks every stream that caller names, and ends it with
// ErrCertExpired when the caller's certificate expires. It belongs after
// the auth interceptor, so only authenticated streams are tracked.
func (s *Streams) Interceptor(caller Caller) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		id, notAfter, ok := caller(ss.Context())
		if !ok {
			return handler(srv, ss)
		}
		ctx, done := s.Track(ss.Context(), id)
		defer done()
		ctx, cancel := context.WithDeadlineCause(ctx, notAfter,
			fmt.Errorf("%w: %s at %s", ErrCertExpired, id, notAfter.UTC().Format(time.RFC3339)))
		defer cancel()
		w := middleware.WrapServerStream(ss)
		w.WrappedContext = ctx
		return handler(srv, w)
	}
}
