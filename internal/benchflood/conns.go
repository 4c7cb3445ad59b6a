package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idleConn is one flood connection and when the server closed it.
type idleConn struct {
	c        net.Conn
	dialed   time.Time
	closedAt atomic.Int64 // UnixNano; 0 while open
	done     chan struct{}
}

// connFlood opens s.Conns TCP connections to the coordinator, rotating
// over s.ConnSources loopback addresses from 127.0.0.1, s.Inflight dials
// at a time, and never sends a byte on them. A connection the coordinator
// closes within half its handshake deadline was refused on accept (it
// closes those at once); the rest were accepted. After the last dial it
// holds them for s.Hold (at least that half), then waits until the
// accepted ones are closed by the handshake deadline (up to the deadline
// and 3s more after the last dial), and closes what is left.
func connFlood(ctx context.Context, t *target, s Settings) (*outcome, error) {
	sources, err := loopbackSources(1, s.ConnSources)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		conns []*idleConn
		tl    tally
	)
	tl.begin()
	defer func() {
		for _, c := range conns {
			_ = c.c.Close()
			<-c.done
		}
	}()
	next := make(chan int)
	var wg sync.WaitGroup
	for range s.Inflight {
		wg.Go(func() {
			for i := range next {
				c, err := dialIdle(ctx, t.addr, sources[i%len(sources)])
				if err != nil {
					tl.refuse(dialFailure(err))
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	for i := range s.Conns {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	tl.finish()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lastDial := time.Now()
	refuseWindow := s.Limits.HandshakeTimeout / 2
	sleep(ctx, max(s.Hold, refuseWindow))
	var accepted []*idleConn
	for _, c := range conns {
		if at := c.closedAt.Load(); at != 0 && time.Unix(0, at).Sub(c.dialed) < refuseWindow {
			tl.refuse("closed at once by the server")
			continue
		}
		tl.accept()
		accepted = append(accepted, c)
	}
	deadline := time.After(time.Until(lastDial.Add(s.Limits.HandshakeTimeout + 3*time.Second)))
	for _, c := range accepted {
		select {
		case <-c.done:
		case <-deadline:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, c := range accepted {
		at := c.closedAt.Load()
		switch {
		case at == 0:
			tl.note("still open at the end", 1)
		case time.Unix(0, at).Sub(c.dialed) >= s.Limits.HandshakeTimeout*9/10:
			tl.note(fmt.Sprintf("closed by the server at the %v handshake deadline", s.Limits.HandshakeTimeout), 1)
		default:
			tl.note("closed by the server before the handshake deadline", 1)
		}
	}
	return tl.outcome(), nil
}

// dialIdle connects from source and starts a reader that records when the
// server closes the connection and then closes this end too, so that the
// refused connections of a large flood do not use up this process's
// descriptors.
func dialIdle(ctx context.Context, addr, source string) (*idleConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	ic := &idleConn{c: c, dialed: time.Now(), done: make(chan struct{})}
	go func() { // ends when either side closes c; the flood waits for it
		defer close(ic.done)
		_, _ = c.Read(make([]byte, 1))
		ic.closedAt.Store(time.Now().UnixNano())
		_ = c.Close()
	}()
	return ic, nil
}

// dialFailure names why a dial failed, briefly.
func dialFailure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial: connection refused"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "dial: out of descriptors here"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "dial: no free local port"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "dial: timeout"
	}
	return "dial: " + err.Error()
}
