package grpcsrv

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// ConnLimits bounds the connections a server holds open at once.
type ConnLimits struct {
	// PerHost is the most connections from one source IP address.
	PerHost int
	// Total is the most connections from everyone together.
	Total int
	// Refused, when set, is called (from Accept's goroutine) with the
	// source of each connection closed for being over a limit and which
	// limit it was over ("per-host" or "total").
	Refused func(remote net.Addr, limit string)
}

// LimitListener returns a listener whose Accept closes at once, without
// reading or writing a byte, every connection over lim.PerHost from its
// source address or over lim.Total in all, and hands the others on. A
// connection counts until it is closed. Unlike a listener that makes
// Accept wait (golang.org/x/net/netutil), a flood never holds up the
// backlog: legitimate callers from other addresses keep getting in while
// the flooder's connections are closed as fast as they arrive.
// A limit below 1 is not enforced.
func LimitListener(l net.Listener, lim ConnLimits) net.Listener {
	return &limitListener{Listener: l, lim: lim, byHost: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim    ConnLimits
	mu     sync.Mutex
	total  int
	byHost map[string]int
}

// Accept returns the next connection within the limits; errors are the
// wrapped listener's.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := sourceHost(c.RemoteAddr())
		if over := l.take(host); over != "" {
			_ = c.Close()
			if l.lim.Refused != nil {
				l.lim.Refused(c.RemoteAddr(), over)
			}
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

// take counts one more connection from host, or names the limit it is over.
func (l *limitListener) take(host string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lim.Total > 0 && l.total >= l.lim.Total:
		return "total"
	case l.lim.PerHost > 0 && l.byHost[host] >= l.lim.PerHost:
		return "per-host"
	}
	l.total++
	l.byHost[host]++
	return ""
}

func (l *limitListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
}

// limitedConn gives its slot back on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// sourceHost is the IP of addr, or the whole address when it has no port.
func sourceHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// LogRefused returns a ConnLimits.Refused that warns on log at most once
// every 10 seconds per source address and limit, and at most 10 times a
// second in all, so that a flood of refused connections does not become a
// flood of log lines.
func LogRefused(log *slog.Logger) func(net.Addr, string) {
	sampler := NewSampler(10*time.Second, 10)
	return func(remote net.Addr, limit string) {
		host := sourceHost(remote)
		if ok, dropped := sampler.Allow(host + " " + limit); ok {
			log.Warn("connections refused over the limit (logged once per 10s per source)", "source", host, "limit", limit, "similar_dropped", dropped)
		}
	}
}
