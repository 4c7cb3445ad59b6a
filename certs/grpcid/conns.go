package grpcid

import (
	"net"
	"sync"
	"time"

	"github.com/taonet/taonet/certs"
)

// Conns tracks a server's connections by the identity of their client
// certificate, so that a revocation closes every connection of that
// identity at once, and each connection closes when its client
// certificate expires. Closing the connection ends its calls whatever
// their handlers are blocked on: a handler waiting in Recv on a stream
// never sees a cancelled context of its own. It is safe for concurrent
// use.
type Conns struct {
	mu   sync.Mutex
	byID map[string]map[*trackedConn]struct{}
}

// NewConns returns an empty tracker.
func NewConns() *Conns { return &Conns{byID: map[string]map[*trackedConn]struct{}{}} }

// Close closes every connection of identity and returns how many.
func (c *Conns) Close(identity string) int {
	c.mu.Lock()
	list := make([]*trackedConn, 0, len(c.byID[identity]))
	for t := range c.byID[identity] {
		list = append(list, t)
	}
	c.mu.Unlock()
	for _, t := range list {
		_ = t.Close()
	}
	return len(list)
}

// Open returns how many connections of identity are open.
func (c *Conns) Open(identity string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID[identity])
}

// track registers conn, authenticated as id until notAfter.
func (c *Conns) track(conn net.Conn, id certs.ID, notAfter time.Time) net.Conn {
	t := &trackedConn{Conn: conn, owner: c, identity: id.String()}
	c.mu.Lock()
	if c.byID[t.identity] == nil {
		c.byID[t.identity] = map[*trackedConn]struct{}{}
	}
	c.byID[t.identity][t] = struct{}{}
	c.mu.Unlock()
	t.expiry = time.AfterFunc(time.Until(notAfter), func() { _ = t.Close() })
	return t
}

func (c *Conns) forget(t *trackedConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID[t.identity], t)
	if len(c.byID[t.identity]) == 0 {
		delete(c.byID, t.identity)
	}
}

// trackedConn is a connection in Conns until it closes.
type trackedConn struct {
	net.Conn
	owner    *Conns
	identity string
	expiry   *time.Timer
	once     sync.Once
}

// Close closes the connection and forgets it.
func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.expiry.Stop()
		t.owner.forget(t)
	})
	return t.Conn.Close()
}
