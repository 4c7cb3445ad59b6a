package peer

import (
	"crypto/tls"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// coordConn is the peer's connection to the coordinator. A TLS connection
// keeps the certificate it was opened with, and the coordinator refuses a
// certificate once it expires, so after each renewal the peer opens a new
// connection (presenting the new certificate) and closes the old one; the
// Watch stream on it ends and the session reconnects on the new one.
type coordConn struct {
	addr string
	conf *tls.Config
	mu   sync.Mutex
	conn *grpc.ClientConn
}

// dialCoordinator returns a coordConn to addr (lazy, like grpc.NewClient).
func dialCoordinator(addr string, conf *tls.Config) (*coordConn, error) {
	c := &coordConn{addr: addr, conf: conf}
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return c, nil
}

func (c *coordConn) dial() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(c.conf)))
	if err != nil {
		return nil, fmt.Errorf("coordinator %s: %w", c.addr, err)
	}
	return conn, nil
}

// client returns a Coordinator client on the current connection.
func (c *coordConn) client() taonetv1.CoordinatorClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	return taonetv1.NewCoordinatorClient(c.conn)
}

// current returns the current connection.
func (c *coordConn) current() *grpc.ClientConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// redial replaces the connection with a new one and closes the old one,
// ending the calls still open on it.
func (c *coordConn) redial() error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.conn
	c.conn = conn
	c.mu.Unlock()
	return old.Close()
}

// close closes the current connection.
func (c *coordConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Close()
}
