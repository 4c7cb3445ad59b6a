package grpcsrv_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taonet/taonet/internal/grpcsrv"
)

// healthStatus is what the health service answers a Check of "".
func healthStatus(t *testing.T, h *health.Server) grpc_health_v1.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := h.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStatus()
}

// TestReadiness walks readiness through its life and checks at each step
// that gRPC health and Err (what /readyz serves) say the same.
func TestReadiness(t *testing.T) {
	h := health.NewServer() // SERVING until told otherwise
	r := grpcsrv.NewReadiness(h, "starting")
	for _, step := range []struct {
		name   string
		do     func()
		ready  bool
		reason string
	}{
		{"ErrStarting", func() {}, false, "starting"},
		{"ErrLoading", func() { r.SetNotReady("loading the model") }, false, "loading the model"},
		{"ErrNoReason", func() { r.SetNotReady("") }, false, "not ready"},
		{"OKReady", r.SetReady, true, ""},
		{"ErrShutdown", r.Shutdown, false, "shutting down"},
		{"ErrShutdownSticky", r.SetReady, false, "shutting down"},
		{"ErrShutdownReasonSticky", func() { r.SetNotReady("other") }, false, "shutting down"},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.do()
			serving := healthStatus(t, h) == grpc_health_v1.HealthCheckResponse_SERVING
			if serving != step.ready || r.Ready() != step.ready {
				t.Fatalf("health serving %v, Ready %v; want %v", serving, r.Ready(), step.ready)
			}
			if err := r.Err(); (err == nil) != step.ready || (err != nil && !strings.Contains(err.Error(), step.reason)) {
				t.Fatalf("Err = %v, want reason %q", err, step.reason)
			}
		})
	}
}
