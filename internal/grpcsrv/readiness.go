package grpcsrv

import (
	"errors"
	"sync"

	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// Readiness is a process's readiness, kept in one place so that the gRPC
// health service ("" service) and the HTTP /readyz endpoint always agree:
// NOT_SERVING and 503 with a reason until the process says it is ready,
// SERVING and 200 from then on, and NOT_SERVING again for good once it
// shuts down. It is safe for concurrent use.
type Readiness struct {
	health *health.Server

	mu     sync.Mutex
	reason string // why not ready; "" when ready
	shut   bool
}

// NewReadiness starts h (and Err) at not ready, for reason.
func NewReadiness(h *health.Server, reason string) *Readiness {
	r := &Readiness{health: h}
	r.SetNotReady(reason)
	return r
}

// SetReady marks the process ready, unless it has shut down.
func (r *Readiness) SetReady() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return
	}
	r.reason = ""
	r.health.SetServingStatus("", grpc_health_v1.HealthCheckResponse_SERVING)
}

// SetNotReady marks the process not ready, for reason.
func (r *Readiness) SetNotReady(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return
	}
	if reason == "" {
		reason = "not ready"
	}
	r.reason = reason
	r.health.SetServingStatus("", grpc_health_v1.HealthCheckResponse_NOT_SERVING)
}

// Shutdown marks the process not ready for good: every health service
// reads NOT_SERVING, and later calls change nothing.
func (r *Readiness) Shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return
	}
	r.shut, r.reason = true, "shutting down"
	r.health.Shutdown()
}

// Err is nil while the process is ready, else an error saying why not.
func (r *Readiness) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == "" {
		return nil
	}
	return errors.New(r.reason)
}

// Ready reports whether the process is ready.
func (r *Readiness) Ready() bool { return r.Err() == nil }
