package grpcsrv_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/internal/grpcsrv"
	"github.com/taonet/taonet/internal/testdata"
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

func TestLimitListener(t *testing.T) {
	t.Run("ErrPerHost", func(t *testing.T) {
		addr, refused := mustLimited(t, grpcsrv.ConnLimits{PerHost: 3, Total: 100})
		var conns []net.Conn
		for range 3 + 10 {
			conns = append(conns, testdata.DialFrom(t, "127.0.0.2", addr))
		}
		for i, c := range conns {
			if got, want := testdata.ClosedWithin(c, 300*time.Millisecond), i >= 3; got != want {
				t.Fatalf("connection %d from 127.0.0.2: closed %v, want %v", i, got, want)
			}
		}
		if n := refused("per-host"); n != 10 {
			t.Fatalf("refused per host = %d, want 10", n)
		}
		// Another address still gets in.
		if testdata.ClosedWithin(testdata.DialFrom(t, "127.0.0.3", addr), 300*time.Millisecond) {
			t.Fatal("127.0.0.3 was refused while only 127.0.0.2 was over its limit")
		}
	})
	t.Run("ErrTotal", func(t *testing.T) {
		addr, refused := mustLimited(t, grpcsrv.ConnLimits{PerHost: 2, Total: 5})
		var conns []net.Conn
		for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
			conns = append(conns, testdata.DialFrom(t, src, addr), testdata.DialFrom(t, src, addr))
		}
		closed := 0
		for _, c := range conns {
			if testdata.ClosedWithin(c, 300*time.Millisecond) {
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
		first := testdata.DialFrom(t, "127.0.0.1", l.Addr().String())
		srv := <-accepted
		second := testdata.DialFrom(t, "127.0.0.1", l.Addr().String())
		if !testdata.ClosedWithin(second, time.Second) {
			t.Fatal("second connection over a limit of 1 was not closed")
		}
		_ = srv.Close()
		_ = first.Close()
		testdata.DialFrom(t, "127.0.0.1", l.Addr().String())
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
