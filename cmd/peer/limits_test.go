package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinLimitFlags gives each limit flag of peer join a value it must
// refuse: join stops before it touches --home, with an error naming the
// value, so every flag reaches peer.Limits.
func TestJoinLimitFlags(t *testing.T) {
	for _, tc := range []struct {
		name, flag, value, want string
	}{
		{"ErrMaxBatch", "--max-batch", "0", "max batch 0,"},
		{"ErrMaxTensorBytes", "--max-tensor-bytes", "0", "max tensor bytes must be positive"},
		{"ErrChunkBytes", "--chunk-bytes", "0", "chunk bytes 0 must be positive"},
		{"ErrChunkBytesOverMessage", "--chunk-bytes", "4194304", "chunk bytes 4194304 must be positive and leave 4 KiB"},
		{"ErrMaxMessageBytes", "--max-message-bytes", "1048576", "under max message bytes 1048576"},
		{"ErrMaxStreams", "--max-streams", "0", "max streams 0 must be positive"},
		{"ErrInFlight", "--in-flight", "0", "in flight 0,"},
		{"ErrStreamBatches", "--stream-batches", "-1", "stream batches -1 "},
		{"ErrCallRate", "--call-rate", "0", "call rate 0/s burst 100 must be positive"},
		{"ErrCallRateNaN", "--call-rate", "NaN", "--call-rate NaN: want a positive number"},
		{"ErrCallRateInf", "--call-rate", "Inf", "--call-rate +Inf: want a positive number"},
		{"ErrCallBurst", "--call-burst", "0", "call rate 50/s burst 0 must be positive"},
		{"ErrRecordBytes", "--record-bytes", "-1", "record bytes -1 must not be negative"},
		{"ErrKeepaliveTime", "--keepalive-time", "0", "keepalive 0s/10s"},
		{"ErrKeepaliveTimeout", "--keepalive-timeout", "-1s", "keepalive 30s/-1s"},
		{"ErrHandshakeTimeout", "--handshake-timeout", "0", "handshake timeout 0s"},
		{"ErrIdleTimeout", "--idle-timeout", "0", "idle timeout 0s must be positive"},
		{"ErrMaxConns", "--max-conns", "0", "max conns 0 and max conns per host 64"},
		{"ErrMaxConnsPerHost", "--max-conns-per-host", "2048", "max conns 1024 and max conns per host 2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			out, err := runPeer("join", "--home", home, "--coordinator", "127.0.0.1:1", tc.flag, tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("join %s %s = %v\n%s\nwant an error containing %q", tc.flag, tc.value, err, out, tc.want)
			}
			if _, err := os.Stat(home); !os.IsNotExist(err) {
				t.Fatalf("a refused join touched --home: %v", err)
			}
		})
	}
}
