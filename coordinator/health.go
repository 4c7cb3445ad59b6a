package coordinator

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// boundedHealth is the standard health service with at most a fixed number
// of Watch streams open at once, from every caller together; Check and List
// are unchanged.
type boundedHealth struct {
	*health.Server
	watches chan struct{} // one token per open Watch
}

var _ grpc_health_v1.HealthServer = (*boundedHealth)(nil)

func newBoundedHealth(s *health.Server, max int) *boundedHealth {
	return &boundedHealth{Server: s, watches: make(chan struct{}, max)}
}

// Watch is health.Server's Watch, or ResourceExhausted when max Watch
// streams are already open.
func (h *boundedHealth) Watch(req *grpc_health_v1.HealthCheckRequest, stream grpc_health_v1.Health_WatchServer) error {
	select {
	case h.watches <- struct{}{}:
	default:
		return status.Errorf(codes.ResourceExhausted, "%d health Watch streams are open, the most this coordinator allows; use Check", cap(h.watches))
	}
	defer func() { <-h.watches }()
	return h.Server.Watch(req, stream)
}
