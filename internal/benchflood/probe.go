package main

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// probeTimeout bounds one legitimate call; the unhardened coordinator let
// them time out under a connection flood.
const probeTimeout = 5 * time.Second

// probeResult is one legitimate ListPeers call on a fresh connection.
type probeResult struct {
	Latency time.Duration // dial, TLS handshake and the call
	Code    string        // "OK" or the gRPC code of the failure
}

// probeOnce times ListPeers from the legitimate peer on a new connection
// from legitSource, so that it needs the coordinator to accept a
// connection and finish a handshake as well as answer.
func probeOnce(ctx context.Context, addr string, id *identity) probeResult {
	start := time.Now()
	cc, err := newConn(addr, legitSource, id.tls)
	if err != nil {
		return probeResult{Latency: time.Since(start), Code: "dial: " + err.Error()}
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err = taonetv1.NewCoordinatorClient(cc).ListPeers(ctx, &taonetv1.ListPeersRequest{})
	return probeResult{Latency: time.Since(start), Code: status.Code(err).String()}
}

// prober calls probeOnce every interval, one call at a time, until
// stopped.
type prober struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []probeResult
}

func startProber(ctx context.Context, addr string, id *identity, interval time.Duration) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{cancel: cancel}
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			r := probeOnce(context.WithoutCancel(ctx), addr, id)
			p.mu.Lock()
			p.results = append(p.results, r)
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return p
}

// stop waits for the call in flight (a probe is never cut short by the
// end of a flood) and returns every result.
func (p *prober) stop() []probeResult {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results
}
