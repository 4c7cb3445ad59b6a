package peer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// httpGet GETs url and returns the status code and body.
func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
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

// healthOf asks p's gRPC health service, as the client identity of d.
func healthOf(tb testing.TB, d *peer.Dialer, p *peer.Peer) grpc_health_v1.HealthCheckResponse_ServingStatus {
	tb.Helper()
	conn, err := d.Dial(&taonetv1.PeerInfo{Identity: p.ID().String(), Address: p.Addr().String()})
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(tctx(tb), &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		tb.Fatalf("health of %s: %v", p.ID(), err)
	}
	return resp.GetStatus()
}

// TestPeerOperations runs a peer with its HTTP server and JSON logs and
// checks its readiness (before, during and after Run, over HTTP and gRPC
// health alike), that every log line names it, and the status read beside
// it and after it.
func TestPeerOperations(t *testing.T) {
	n := mustCoordinator(t, 0)
	logs := &lockedBuffer{}
	cfg := n.config(filepath.Join(t.TempDir(), "alice"))
	cfg.Token, cfg.CAPin = n.token(t, "alice"), n.pin
	cfg.ServeModel, cfg.HTTP = uniformModel{}, "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := peer.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.HTTP().Addr().String()
	t.Run("ErrNotReadyBeforeRun", func(t *testing.T) {
		if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "model is not loaded") {
			t.Fatalf("ready before Run = %v", err)
		}
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, 10*time.Second, "alice in the directory", func() bool { return len(p.Directory()) == 1 })
	ops := n.clientDialer(t, "ops")
	t.Run("OKReady", func(t *testing.T) {
		waitFor(t, 5*time.Second, "alice ready", func() bool { return p.Ready() == nil })
		if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
			t.Fatalf("/readyz = %d %q", code, body)
		}
		if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz = %d", code)
		}
		if s := healthOf(t, ops, p); s != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Fatalf("gRPC health = %v while /readyz is 200", s)
		}
		m := testdata.Scrape(t, base+"/metrics")
		if v, ok := m.Sum("taonet_ready", nil); !ok || v != 1 {
			t.Fatalf("taonet_ready = %v (%v)", v, ok)
		}
	})
	// A call, so that the gRPC logs have a line too.
	if _, err := peerClient(t, ops, p.ID().String(), p.Addr().String()).Describe(tctx(t), &taonetv1.DescribeRequest{}); err != nil {
		t.Fatal(err)
	}
	t.Run("OKStatusBesideJoin", func(t *testing.T) {
		st, err := peer.ReadStatus(tctx(t), peer.StatusConfig{Home: cfg.Home})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Process.Running || !st.Process.Ready || st.Process.Listen != p.Addr().String() || st.Process.HTTP != p.HTTP().Addr().String() {
			t.Errorf("process = %+v", st.Process)
		}
		if st.Certificate.Identity != p.ID().String() || st.Certificate.Expired {
			t.Errorf("certificate = %+v", st.Certificate)
		}
		c := st.Coordinator
		if c.Address != n.addr || !c.Reachable || c.Error != "" || c.Round != 0 || c.BalanceRao != 0 || c.LastScore != nil {
			t.Errorf("coordinator = %+v, want %s reachable, no round yet", c, n.addr)
		}
	})
	t.Run("OKLiveStatus", func(t *testing.T) {
		st, err := p.Status(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Process.Running || !st.Process.Ready || !st.Coordinator.Reachable || st.Coordinator.Address != n.addr || st.Certificate.Identity != p.ID().String() {
			t.Fatalf("live status = %+v", st)
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Run("OKStopped", func(t *testing.T) {
		if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("ready after Run = %v", err)
		}
		st, err := peer.ReadStatus(tctx(t), peer.StatusConfig{Home: cfg.Home})
		if err != nil {
			t.Fatal(err)
		}
		if st.Process.Running || st.Process.Stopped.IsZero() {
			t.Errorf("process after stop = %+v", st.Process)
		}
	})
	t.Run("OKStatusCoordinatorDown", func(t *testing.T) {
		n.stop()
		st, err := peer.ReadStatus(tctx(t), peer.StatusConfig{Home: cfg.Home, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if c := st.Coordinator; c.Reachable || !strings.Contains(c.Error, "connection refused") || c.Address != n.addr {
			t.Fatalf("coordinator = %+v, want unreachable at %s", c, n.addr)
		}
	})
	t.Run("OKLogsNameThePeer", func(t *testing.T) {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		lines, calls := 0, 0
		sc := bufio.NewScanner(strings.NewReader(logs.b.String()))
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
			}
			if rec["peer"] != p.ID().String() {
				t.Errorf("log line without the peer's identity: %s", sc.Text())
			}
			if rec["grpc.method"] == "Describe" {
				calls++
			}
			lines++
		}
		if lines < 3 || calls != 1 {
			t.Fatalf("%d log lines, %d of the Describe call:\n%s", lines, calls, logs.b.String())
		}
	})
}

// TestPeerMetricsAfterRound runs a round between two libtorch peers with
// their HTTP servers and reads both sides of the exchange and the training
// steps on their /metrics.
func TestPeerMetricsAfterRound(t *testing.T) {
	n := mustCoordinator(t, 0)
	dir := t.TempDir()
	withHTTP := func(c *peer.Config) {
		fastRounds(c)
		c.HTTP = "127.0.0.1:0"
	}
	alice := n.mustPeerWith(t, filepath.Join(dir, "alice"), n.token(t, "alice"), withHTTP)
	bob := n.mustPeerWith(t, filepath.Join(dir, "bob"), n.token(t, "bob"), withHTTP)
	directory := mustSeeAll(t, alice, bob)
	ev := roundEvent(1, directory, roundWindow)
	openRounds(ev, []*running{alice, bob}, []*running{alice})
	rep := waitRound(t, alice, 1)
	if rep.Err != nil || len(rep.Teachers) != 1 || rep.Steps == 0 || rep.Accepted != 1 {
		t.Fatalf("alice's round = %+v", rep)
	}
	// 40 transfer rows and 32 hidden checks in batches of 16.
	const batches = 5
	aliceID, bobID := alice.ID().String(), bob.ID().String()
	scrape := func(r *running) testdata.Metrics {
		return testdata.Scrape(t, "http://"+r.HTTP().Addr().String()+"/metrics")
	}
	check := func(t *testing.T, m testdata.Metrics, name string, labels map[string]string, want float64) {
		t.Helper()
		if got, ok := m.Sum(name, labels); !ok || got != want {
			t.Errorf("%s%v = %v (found %v), want %v", name, labels, got, ok, want)
		}
	}
	t.Run("OKStudent", func(t *testing.T) {
		m := scrape(alice)
		check(t, m, "taonet_train_step_duration_seconds", map[string]string{"kind": "round"}, float64(rep.Steps))
		check(t, m, "taonet_exchange_batches_total", map[string]string{"rpc": "forward", "role": "client", "peer": bobID}, batches)
		check(t, m, "taonet_exchange_batches_total", map[string]string{"rpc": "backward", "role": "client", "peer": bobID}, batches)
		check(t, m, "taonet_student_rounds_total", map[string]string{"result": "ok"}, 1)
		check(t, m, "taonet_student_round_duration_seconds", nil, 1)
		check(t, m, "taonet_student_teachers_total", map[string]string{"teacher": bobID, "outcome": "used"}, 1)
		check(t, m, "taonet_student_loss", nil, rep.Loss)
		if v, _ := m.Sum("taonet_exchange_bytes_total", map[string]string{"rpc": "forward", "role": "client", "direction": "sent", "peer": bobID}); v < 72*784*4 {
			t.Errorf("forward bytes sent to bob = %v, want at least the %d bytes of inputs", v, 72*784*4)
		}
		if v, _ := m.Sum("taonet_exchange_bytes_total", map[string]string{"rpc": "backward", "role": "client", "direction": "sent", "peer": bobID}); v < 72*10*4 {
			t.Errorf("backward bytes sent to bob = %v, want at least the %d bytes of gradients", v, 72*10*4)
		}
		if v, _ := m.Sum("taonet_train_step_duration_seconds", map[string]string{"kind": "warmup"}); v == 0 {
			t.Error("no warmup step timed, though alice warmed up")
		}
	})
	t.Run("OKTeacher", func(t *testing.T) {
		m := scrape(bob)
		check(t, m, "taonet_exchange_batches_total", map[string]string{"rpc": "forward", "role": "server", "peer": aliceID}, batches)
		check(t, m, "taonet_exchange_batches_total", map[string]string{"rpc": "backward", "role": "server", "peer": aliceID}, batches)
		check(t, m, "taonet_train_step_duration_seconds", map[string]string{"kind": "gradients"}, 1)
		check(t, m, "taonet_model_forward_duration_seconds", nil, batches)
		check(t, m, "taonet_round_number", nil, 1)
		if v, _ := m.Sum("taonet_exchange_bytes_total", map[string]string{"rpc": "backward", "role": "server", "direction": "received", "peer": aliceID}); v < 72*10*4 {
			t.Errorf("backward bytes received from alice = %v", v)
		}
	})
}

// TestPeerReadyAfterWarmup checks that a libtorch peer without a
// checkpoint is not ready (over HTTP and gRPC health alike) while it warms
// up, though it serves and is healthy, and is ready once warmed up.
func TestPeerReadyAfterWarmup(t *testing.T) {
	n := mustCoordinator(t, 0)
	ops := n.clientDialer(t, "ops")
	alice := n.mustPeerWith(t, filepath.Join(t.TempDir(), "alice"), n.token(t, "alice"), func(c *peer.Config) {
		c.HTTP, c.WarmupEpochs, c.Batch = "127.0.0.1:0", 100, 8 // a few seconds of warmup on the tiny shard
	})
	base := "http://" + alice.HTTP().Addr().String()
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "loading the model") {
		t.Fatalf("/readyz during warmup = %d %q", code, body)
	}
	if s := healthOf(t, ops, alice.Peer); s != grpc_health_v1.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health during warmup = %v", s)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during warmup = %d", code)
	}
	waitFor(t, 2*time.Minute, "alice warmed up", func() bool { return alice.Ready() == nil })
	if code, _ := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after warmup = %d", code)
	}
	if s := healthOf(t, ops, alice.Peer); s != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health after warmup = %v", s)
	}
	m := testdata.Scrape(t, base+"/metrics")
	// 300 private examples at most (the whole tiny pool), batches of 8.
	if v, _ := m.Sum("taonet_train_step_duration_seconds", map[string]string{"kind": "warmup"}); v < 100 {
		t.Fatalf("%v warmup steps timed, want one per step of 100 epochs", v)
	}
}
