package testdata

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// DialFrom opens a TCP connection to addr from source (an IP on loopback,
// such as 127.0.0.2) that never says a word; it closes when the test ends.
func DialFrom(tb testing.TB, source, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial from %s: %v", source, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// ClosedWithin reports whether the server closes c within wait.
func ClosedWithin(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// HealthWatch opens a health Watch on h and reads its first status.
func HealthWatch(ctx context.Context, h grpc_health_v1.HealthClient) error {
	w, err := h.Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = w.Recv()
	return err
}
