package grpcsrv_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"

	"github.com/taonet/taonet/internal/grpcsrv"
)

// TestSampler: one line per key per interval, a global ceiling over
// rotating keys, and the count of what was dropped on the next line.
func TestSampler(t *testing.T) {
	s := grpcsrv.NewSampler(time.Hour, 5)
	allowed := 0
	for range 1000 {
		if ok, _ := s.Allow("same"); ok {
			allowed++
		}
	}
	if allowed != 1 {
		t.Fatalf("one key: %d of 1000 allowed, want 1", allowed)
	}
	allowed = 0
	for i := range 1000 {
		if ok, _ := s.Allow(fmt.Sprintf("key-%d", i)); ok {
			allowed++
		}
	}
	if allowed > 6 {
		t.Fatalf("rotating keys: %d of 1000 allowed, want the ceiling of 5 a second", allowed)
	}
	time.Sleep(250 * time.Millisecond)
	ok, dropped := s.Allow("fresh")
	if !ok || dropped < 990 {
		t.Fatalf("after the flood: allowed %v, dropped %d, want about 1994", ok, dropped)
	}
}

// TestCallLogger: refused calls are sampled, other calls all logged.
func TestCallLogger(t *testing.T) {
	var buf bytes.Buffer
	log := grpcsrv.CallLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	call := func(code string) {
		log.Log(context.Background(), logging.LevelInfo, "finished call",
			"grpc.method", "Join", "grpc.code", code, "peer.address", "127.0.0.9:4000")
	}
	for range 500 {
		call("PermissionDenied")
	}
	for range 20 {
		call("OK")
	}
	if n := strings.Count(buf.String(), "PermissionDenied"); n != 1 {
		t.Fatalf("500 refused calls wrote %d lines, want 1", n)
	}
	if n := strings.Count(buf.String(), "grpc.code=OK"); n != 20 {
		t.Fatalf("20 calls that succeeded wrote %d lines", n)
	}
}
