// Package grpcsrv holds small helpers shared by the taonet gRPC servers
// (coordinator and peer).
package grpcsrv

import (
	"time"

	"google.golang.org/grpc"
)

// Stop stops s gracefully, letting calls in flight finish, and falls back
// to a hard Stop (which ends them) when that takes longer than grace. It
// returns once s has stopped.
func Stop(s *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
		<-done
	}
}
