package grpcsrv_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/internal/grpcsrv"
)

// mustLimited listens on 127.0.0.1:0 behind lim and holds every accepted
// connection open until the test ends. It returns the address and a count
// of refusals per limit.
func mustLimited(tb testing.TB, lim grpcsrv.ConnLimits) (string, func(string) int) {
	tb.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	lim.Refused = func(_ net.Addr, limit string) {
		mu.Lock()
		refused[limit]++
		mu.Unlock()
	}
	l := grpcsrv.LimitListener(raw, lim)
	var wg sync.WaitGroup
	var held []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	})
	tb.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return raw.Addr().String(), func(limit string) int {
		mu.Lock()
		defer mu.Unlock()
		return refused[limit]
	}
}

// dialFrom opens a TCP connection from source (an IP on loopback).
func dialFrom(tb testing.TB, source, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial from %s: %v", source, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reports whether the server closed c: a read ends with EOF
// or a reset instead of waiting out the deadline.
func closedByServer(tb testing.TB, c net.Conn, wait time.Duration) bool {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestLimitListener(t *testing.T) {
	t.Run("ErrPerHost", func(t *testing.T) {
		addr, refused := mustLimited(t, grpcsrv.ConnLimits{PerHost: 3, Total: 100})
		var conns []net.Conn
		for range 3 + 10 {
			conns = append(conns, dialFrom(t, "127.0.0.2", addr))
		}
		for i, c := range conns {
			if got, want := closedByServer(t, c, 300*time.Millisecond), i >= 3; got != want {
				t.Fatalf("connection %d from 127.0.0.2: closed %v, want %v", i, got, want)
			}
		}
		if n := refused("per-host"); n != 10 {
			t.Fatalf("refused per host = %d, want 10", n)
		}
		// Another address still gets in.
		if closedByServer(t, dialFrom(t, "127.0.0.3", addr), 300*time.Millisecond) {
			t.Fatal("127.0.0.3 was refused while only 127.0.0.2 was over its limit")
		}
	})
	t.Run("ErrTotal", func(t *testing.T) {
		addr, refused := mustLimited(t, grpcsrv.ConnLimits{PerHost: 2, Total: 5})
		var conns []net.Conn
		for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
			conns = append(conns, dialFrom(t, src, addr), dialFrom(t, src, addr))
		}
		closed := 0
		for _, c := range conns {
			if closedByServer(t, c, 300*time.Millisecond) {
				closed++
			}
		}
		if closed != 3 || refused("total") != 3 {
			t.Fatalf("closed %d, refused over total %d; want 3 of 8 over a total of 5", closed, refused("total"))
		}
	})
	t.Run("OKSlotFreedOnClose", func(t *testing.T) {
		// The server side holds its end; closing it is what frees the slot.
		l := grpcsrv.LimitListener(mustListen(t), grpcsrv.ConnLimits{PerHost: 1, Total: 1})
		accepted := make(chan net.Conn, 4)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		t.Cleanup(func() { _ = l.Close() })
		first := dialFrom(t, "127.0.0.1", l.Addr().String())
		srv := <-accepted
		second := dialFrom(t, "127.0.0.1", l.Addr().String())
		if !closedByServer(t, second, time.Second) {
			t.Fatal("second connection over a limit of 1 was not closed")
		}
		_ = srv.Close()
		_ = first.Close()
		dialFrom(t, "127.0.0.1", l.Addr().String())
		select {
		case c := <-accepted:
			_ = c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("a connection after the first closed was not accepted")
		}
	})
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
