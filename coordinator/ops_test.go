package coordinator_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/httpops"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/internal/testnet"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// opsNet is a testnet coordinator, with the helpers of testNet.
type opsNet struct {
	*testNet
	*testnet.Network
	s *coordinator.Server
}

// mustOpsNetwork makes a network with testnet (HTTP on 127.0.0.1:0, an
// hourly round schedule, a tiny validation pool), not yet running.
func mustOpsNetwork(tb testing.TB) *opsNet {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "net")
	if err := coordinator.Init(context.Background(), coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"localhost", "127.0.0.1"}, Task: "fmnist"}); err != nil {
		tb.Fatal(err)
	}
	tn := testnet.New(tb, home)
	s := tn.Server
	n := &testNet{home: home, addr: s.Addr().String(), ca: mustLoadCA(tb, home), pin: s.CAPin(), logs: &syncBuffer{}}
	return &opsNet{testNet: n, Network: tn, s: s}
}

// get GETs url and returns the status code and body.
func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustValue is the sum of the series of name with labels, which must exist.
func mustValue(tb testing.TB, m testdata.Metrics, name string, labels map[string]string) float64 {
	tb.Helper()
	v, ok := m.Sum(name, labels)
	if !ok {
		tb.Fatalf("no series %s%v on /metrics", name, labels)
	}
	return v
}

// TestOperations runs a real coordinator with its HTTP server and one real
// peer through a real round, and checks readiness, /metrics (the round's
// phases, scores, payouts, supply, the exchange and gRPC codes, on both
// processes), the state the status command reads, and the end of it all.
func TestOperations(t *testing.T) {
	n := mustOpsNetwork(t)
	base := "http://" + n.s.HTTP().Addr().String()
	t.Run("ErrNotReadyBeforeRun", func(t *testing.T) {
		if err := n.s.Ready(); err == nil || !strings.Contains(err.Error(), "starting") {
			t.Fatalf("ready before Run = %v, want not ready (starting)", err)
		}
	})
	n.Network.Run(t)
	alice := certs.PeerID(testTD, "alice").String()
	coordID := certs.CoordinatorID(testTD).String()
	t.Run("OKReady", func(t *testing.T) {
		waitFor(t, 5*time.Second, "coordinator ready", func() bool { return n.s.Ready() == nil })
		if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
			t.Fatalf("/readyz = %d %q", code, body)
		}
		if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz = %d", code)
		}
		h, err := grpc_health_v1.NewHealthClient(n.dial(t, n.anonymous(t))).Check(tctx(t), &grpc_health_v1.HealthCheckRequest{})
		if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Fatalf("gRPC health = %v, %v while /readyz is 200", h, err)
		}
	})
	p, _ := n.Peer(t, t.TempDir(), "alice")
	// A client identity may not Join: refused by the auth interceptor,
	// after the metrics interceptor has seen the call.
	ops := n.coord(t, n.mtls(n.mustClient(t, "ops")))
	if _, err := ops.Join(tctx(t), &taonetv1.JoinRequest{}); err == nil {
		t.Fatal("a client identity joined")
	}
	rep, err := n.s.RunRound(tctx(t))
	if err != nil || rep.Skipped || len(rep.Results) != 1 {
		t.Fatalf("round = %+v, %v", rep, err)
	}
	res := rep.Results[0]
	t.Run("OKCoordinatorMetrics", func(t *testing.T) {
		m := testdata.Scrape(t, base+"/metrics")
		for _, phase := range []string{"open", "distill", "evaluate", "score", "settle"} {
			if v := mustValue(t, m, "taonet_round_phase_duration_seconds", map[string]string{"phase": phase}); v != 1 {
				t.Errorf("phase %s observed %v times, want 1", phase, v)
			}
		}
		peerL := map[string]string{"peer": alice}
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"taonet_rounds_total", map[string]string{"result": "settled"}, 1},
			{"taonet_rounds_total", map[string]string{"result": "aborted"}, 0},
			{"taonet_round_number", nil, 1},
			{"taonet_evaluation_loss", peerL, res.Loss},
			{"taonet_evaluation_accuracy_ratio", peerL, res.Accuracy},
			{"taonet_evaluation_weight_ratio", peerL, 1},
			{"taonet_evaluations_total", map[string]string{"peer": alice, "status": "scored"}, 1},
			{"taonet_payout_rao_total", peerL, 1e9},
			{"taonet_supply_minted_rao", nil, 1e9},
			{"taonet_emission_rao", nil, 1e9},
			{"taonet_exchange_batches_total", map[string]string{"rpc": "forward", "role": "client", "peer": alice}, 2},
			{"taonet_grpc_server_handled_total", map[string]string{"grpc_method": "Join", "grpc_code": "PermissionDenied"}, 1},
			{"taonet_watch_streams", nil, 1},
			{"taonet_watch_queue_capacity_events", nil, 256},
			{"taonet_ready", nil, 1},
		} {
			if got := mustValue(t, m, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if v := mustValue(t, m, "taonet_grpc_server_handled_total", map[string]string{"grpc_service": "taonet.v1.Coordinator", "grpc_method": "Join", "grpc_code": "OK"}); v < 1 {
			t.Errorf("Joins handled OK = %v, want alice's", v)
		}
		if res.Accuracy < 0.9 {
			t.Errorf("alice's accuracy %v: the band model should be right", res.Accuracy)
		}
		// 100 validation rows of 784 float32 went out, 100 rows of 10
		// logits came back, each with its message framing.
		if v := mustValue(t, m, "taonet_exchange_bytes_total", map[string]string{"rpc": "forward", "role": "client", "direction": "sent", "peer": alice}); v < 100*784*4 {
			t.Errorf("forward bytes sent to alice = %v, want at least the %d bytes of inputs", v, 100*784*4)
		}
		if v := mustValue(t, m, "taonet_exchange_bytes_total", map[string]string{"rpc": "forward", "role": "client", "direction": "received", "peer": alice}); v < 100*10*4 {
			t.Errorf("forward bytes received from alice = %v, want at least the %d bytes of logits", v, 100*10*4)
		}
		if _, ok := m.Sum("go_goroutines", nil); !ok {
			t.Error("no Go collector on /metrics")
		}
	})
	t.Run("OKPeerMetrics", func(t *testing.T) {
		url := "http://" + p.HTTP().Addr().String() + "/metrics"
		// The coordinator has every answer before the peer's handler
		// returns and counts the call: wait for that.
		var m testdata.Metrics
		waitFor(t, 5*time.Second, "the peer's Forward handled", func() bool {
			m = testdata.Scrape(t, url)
			v, _ := m.Sum("taonet_grpc_server_handled_total", map[string]string{"grpc_method": "Forward"})
			return v == 1
		})
		from := map[string]string{"rpc": "forward", "role": "server", "peer": coordID}
		if v := mustValue(t, m, "taonet_exchange_batches_total", from); v != 2 {
			t.Errorf("batches answered to the coordinator = %v, want 2", v)
		}
		for dir, least := range map[string]float64{"received": 100 * 784 * 4, "sent": 100 * 10 * 4} {
			l := map[string]string{"rpc": "forward", "role": "server", "peer": coordID, "direction": dir}
			if v := mustValue(t, m, "taonet_exchange_bytes_total", l); v < least {
				t.Errorf("forward bytes %s by alice = %v, want at least %v", dir, v, least)
			}
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"taonet_model_forward_duration_seconds", nil, 2},
			{"taonet_grpc_server_handled_total", map[string]string{"grpc_service": "taonet.v1.Peer", "grpc_method": "Forward", "grpc_code": "OK"}, 1},
			{"taonet_forward_streams", nil, 0},
			{"taonet_forward_queued_batches", nil, 0},
			{"taonet_round_number", nil, 1},
			{"taonet_ready", nil, 1},
		} {
			if got := mustValue(t, m, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
	t.Run("OKLiveStatus", func(t *testing.T) {
		st, err := n.s.Status(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Process.Running || !st.Process.Ready || st.Round.Number != 1 || st.Round.Phase != runstate.PhaseSettled || st.LastSettled == nil || len(st.Balances) != 1 {
			t.Fatalf("live status = %+v", st)
		}
	})
	t.Run("OKStatusBesideServe", func(t *testing.T) {
		st, err := coordinator.ReadStatus(tctx(t), n.home)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Process.Running || !st.Process.Ready || st.Process.Listen != n.addr || st.Process.HTTP != n.s.HTTP().Addr().String() {
			t.Errorf("process = %+v, want running and ready on %s", st.Process, n.addr)
		}
		if st.Certificate.Identity != coordID || st.Certificate.Expired || st.CAPin != n.pin {
			t.Errorf("certificate = %+v, pin %s", st.Certificate, st.CAPin)
		}
		if st.Round.Number != 1 || st.Round.State != "settled" || st.Round.Phase != runstate.PhaseSettled {
			t.Errorf("round = %+v, want 1 settled", st.Round)
		}
		if st.LastSettled == nil || len(st.LastSettled.Evaluations) != 1 || st.LastSettled.Evaluations[0].Identity != alice ||
			st.LastSettled.Evaluations[0].PayoutRao != 1e9 || st.LastSettled.Evaluations[0].Status != "scored" {
			t.Errorf("last settled = %+v", st.LastSettled)
		}
		if len(st.Balances) != 1 || st.Balances[0].Account != alice || st.Balances[0].Rao != 1e9 || st.Supply.MintedRao != 1e9 || st.ActivePeers != 1 {
			t.Errorf("balances %+v, supply %+v, active peers %d", st.Balances, st.Supply, st.ActivePeers)
		}
	})
	n.Stop()
	t.Run("OKStopped", func(t *testing.T) {
		if err := n.s.Ready(); err == nil || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("ready after Run = %v, want shutting down", err)
		}
		st, err := coordinator.ReadStatus(tctx(t), n.home)
		if err != nil {
			t.Fatal(err)
		}
		if st.Process.Running || st.Process.Stopped.IsZero() {
			t.Fatalf("process after stop = %+v", st.Process)
		}
	})
}

// TestHTTPAddress checks that the HTTP server binds loopback only unless
// told otherwise, before the coordinator takes its home.
func TestHTTPAddress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   string
		public bool
		err    error
	}{
		{"ErrAllInterfaces", ":9090", false, httpops.ErrNotLoopback},
		{"ErrUnspecified", "0.0.0.0:9090", false, httpops.ErrNotLoopback},
		{"ErrLAN", "192.168.1.10:9090", false, httpops.ErrNotLoopback},
		{"ErrHostName", "metrics.example.com:9090", false, httpops.ErrNotLoopback},
		{"OKPublic", "0.0.0.0:9090", true, nil},
		{"OKLoopback", "127.0.0.1:9090", false, nil},
		{"OKLoopbackV6", "[::1]:9090", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := coordinator.DefaultConfig()
			cfg.HTTP, cfg.HTTPPublic = tc.addr, tc.public
			err := cfg.Validate()
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("validate with http %s (public %v) = %v, want %v", tc.addr, tc.public, err, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), "--http-public") {
				t.Fatalf("error %q does not say how to allow it", err)
			}
		})
	}
}
