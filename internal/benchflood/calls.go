package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// callFlood makes n calls, s.Inflight at a time; call i runs call(ctx, i).
// A call that returns nil is accepted, the others are refused with their
// gRPC code.
func callFlood(ctx context.Context, s Settings, n int, call func(ctx context.Context, i int) error) (*outcome, error) {
	var t tally
	t.begin()
	next := make(chan int)
	var wg sync.WaitGroup
	for range s.Inflight {
		wg.Go(func() {
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, openTimeout)
				err := call(cctx, i)
				cancel()
				if err == nil {
					t.accept()
				} else {
					t.refuse(status.Code(err).String())
				}
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
	return t.outcome(), nil
}

// renewFlood makes s.Renews Renew calls as the flooder peer, each with a
// valid CSR for its own key, on one connection.
func renewFlood(ctx context.Context, t *target, s Settings) (*outcome, error) {
	cc, err := newConn(t.addr, streamSource, t.flooder.tls)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	client := taonetv1.NewCoordinatorClient(cc)
	return callFlood(ctx, s, s.Renews, func(ctx context.Context, _ int) error {
		_, err := client.Renew(ctx, &taonetv1.RenewRequest{Csr: t.flooder.csr})
		return err
	})
}

// enrollFlood makes s.Enrolls Enroll calls with garbage tokens and CSRs
// and no client certificate, call i on the connection from source
// i mod s.EnrollSources (127.0.0.2 up).
func enrollFlood(ctx context.Context, t *target, s Settings) (*outcome, error) {
	sources, err := loopbackSources(2, s.EnrollSources)
	if err != nil {
		return nil, err
	}
	conf, err := anonymousTLS(t.pin)
	if err != nil {
		return nil, err
	}
	clients := make([]taonetv1.CoordinatorClient, len(sources))
	for i, src := range sources {
		var cc *grpc.ClientConn
		if cc, err = newConn(t.addr, src, conf); err != nil {
			return nil, err
		}
		defer cc.Close()
		clients[i] = taonetv1.NewCoordinatorClient(cc)
	}
	return callFlood(ctx, s, s.Enrolls, func(ctx context.Context, i int) error {
		_, err := clients[i%len(clients)].Enroll(ctx, &taonetv1.EnrollRequest{Token: garbage(32), Csr: []byte(garbage(200))})
		return err
	})
}

// garbage is n random bytes in base64: neither a token nor a CSR.
func garbage(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
