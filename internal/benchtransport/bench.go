package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"runtime"
	"time"
)

// side names one way of moving a size's answers.
type side int

const (
	sideRaw side = iota
	sideStream
	sideUnary
	numSides
)

func (s side) String() string { return [...]string{"raw TLS", "stream", "unary"}[s] }

// bench holds the servers and connections every repetition reuses, so no
// handshake is timed.
type bench struct {
	net          *network
	small, large *target
	raw          *rawServer
	rawConn      *tls.Conn
	out          []byte // the raw side's answer buffer
}

func newBench(ctx context.Context) (b *bench, err error) {
	b = &bench{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.net, err = newNetwork(); err != nil {
		return nil, err
	}
	if b.small, err = newTarget(b.net, newFakeModel(10, 1024)); err != nil {
		return nil, err
	}
	if b.large, err = newTarget(b.net, newFakeModel(16384, 64)); err != nil {
		return nil, err
	}
	if b.raw, err = newRawServer(b.net, 64*16384*4); err != nil {
		return nil, err
	}
	b.rawConn, err = dialRaw(ctx, b.net, b.raw.lis.Addr().String())
	return b, err
}

func (b *bench) Close() {
	if b.rawConn != nil {
		_ = b.rawConn.Close()
	}
	if b.raw != nil {
		_ = b.raw.Close()
	}
	for _, t := range []*target{b.small, b.large} {
		if t != nil {
			_ = t.Close()
		}
	}
}

func (b *bench) target(c sizeCase) *target {
	if c.classes == b.small.model.classes {
		return b.small
	}
	return b.large
}

// measure runs every side once for c, in an order rotated by rep so no side
// always runs first, with a garbage collection before each so that no side
// pays for another's garbage. Answers are checked bit-exact afterwards.
func (b *bench) measure(ctx context.Context, c sizeCase, round uint64, inflight, rep int) ([numSides]time.Duration, error) {
	var d [numSides]time.Duration
	t := b.target(c)
	t.server.OpenRound(round) // drops the inputs kept for Backward
	x := c.inputs()
	if len(b.out) < c.totalBytes() {
		b.out = make([]byte, c.totalBytes())
	}
	for i := range numSides {
		s := side((int(i) + rep) % int(numSides))
		runtime.GC()
		var got []float32
		var err error
		switch s {
		case sideRaw:
			d[s], err = runRaw(b.rawConn, c, x, b.out)
		case sideStream:
			d[s], got, err = runStream(ctx, t, c, round, x)
		case sideUnary:
			d[s], got, err = runUnary(ctx, t, c, round, x, inflight)
		}
		if err == nil && s != sideRaw {
			err = checkLogits(c, t.model, got)
		}
		if err != nil {
			return d, fmt.Errorf("%v: %w", s, err)
		}
	}
	return d, nil
}
