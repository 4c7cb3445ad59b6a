package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// streamSource is where the stream, Renew floods come from.
const streamSource = "127.0.0.2"

// openTimeout bounds how long one stream may take to be accepted or
// refused: a coordinator that accepted everything would fill every
// connection's stream quota and the client would wait for a free stream.
const openTimeout = 10 * time.Second

// streamKind opens one server stream of a flood on cc and says how to read
// its status when the coordinator ends it at once.
type streamKind struct {
	open   func(ctx context.Context, cc *grpc.ClientConn) (grpc.ClientStream, error)
	newMsg func() any
}

var (
	healthWatch = streamKind{
		open: func(ctx context.Context, cc *grpc.ClientConn) (grpc.ClientStream, error) {
			return grpc_health_v1.NewHealthClient(cc).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
		},
		newMsg: func() any { return new(grpc_health_v1.HealthCheckResponse) },
	}
	coordinatorWatch = streamKind{
		open: func(ctx context.Context, cc *grpc.ClientConn) (grpc.ClientStream, error) {
			return taonetv1.NewCoordinatorClient(cc).Watch(ctx, &taonetv1.WatchRequest{})
		},
		newMsg: func() any { return new(taonetv1.WatchResponse) },
	}
)

// healthWatchFlood opens n health Watch streams, anonymously or with the
// flooder peer's certificate.
func healthWatchFlood(ctx context.Context, t *target, s Settings, n int, withCert bool) (*outcome, error) {
	conf := t.flooder.tls
	if !withCert {
		var err error
		if conf, err = anonymousTLS(t.pin); err != nil {
			return nil, err
		}
	}
	return streamFlood(ctx, t.addr, conf, s, n, healthWatch)
}

// watchFlood opens s.Watches Coordinator/Watch streams as one peer.
func watchFlood(ctx context.Context, t *target, s Settings) (*outcome, error) {
	return streamFlood(ctx, t.addr, t.flooder.tls, s, s.Watches, coordinatorWatch)
}

// streamFlood opens n streams of kind over s.StreamConns connections from
// streamSource, s.Inflight at a time. A stream whose response headers
// arrive is accepted and held open; one the coordinator ends without
// headers is refused with the status it ends with. After the last one the
// accepted streams are held for s.Hold, then cancelled.
func streamFlood(ctx context.Context, addr string, conf *tls.Config, s Settings, n int, kind streamKind) (*outcome, error) {
	conns := make([]*grpc.ClientConn, s.StreamConns)
	for i := range conns {
		cc, err := newConn(addr, streamSource, conf)
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		conns[i] = cc
	}
	held, release := context.WithCancel(ctx)
	defer release()
	var t tally
	t.begin()
	next := make(chan int)
	var wg sync.WaitGroup
	for range s.Inflight {
		wg.Go(func() {
			for i := range next {
				openOne(held, conns[i%len(conns)], kind, &t)
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	t.finish()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sleep(ctx, s.Hold)
	return t.outcome(), nil
}

// openOne opens one stream under held and counts it. An accepted stream
// stays open until held ends.
func openOne(held context.Context, cc *grpc.ClientConn, kind streamKind, t *tally) {
	ctx, cancel := context.WithCancel(held)
	timer := time.AfterFunc(openTimeout, cancel)
	st, err := kind.open(ctx, cc)
	if err == nil {
		var md map[string][]string
		if md, err = st.Header(); err == nil && md != nil {
			timer.Stop()
			t.accept()
			context.AfterFunc(held, cancel) // ends it with the flood
			return
		}
		if err == nil {
			err = st.RecvMsg(kind.newMsg())
		}
	}
	timedOut := !timer.Stop() && held.Err() == nil
	cancel()
	switch {
	case timedOut:
		t.refuse("no answer within 10s")
	case errors.Is(err, io.EOF):
		t.refuse("ended at once with status OK")
	default:
		t.refuse(status.Code(err).String())
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
