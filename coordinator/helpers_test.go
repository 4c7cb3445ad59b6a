package coordinator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"

	_ "github.com/mattn/go-sqlite3"
)

const testTD = "test.local"

// syncBuffer collects the coordinator's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testNet is a real coordinator on 127.0.0.1:0 over a home made by Init.
type testNet struct {
	home string
	addr string
	ca   *certs.CA
	pin  string
	logs *syncBuffer
	stop func()
}

// mustNetwork initialises a network in a temporary home and runs a
// coordinator on it until the test ends. edit adjusts the config.
func mustNetwork(tb testing.TB, edit func(*coordinator.Config)) *testNet {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "net")
	ctx := context.Background()
	if err := coordinator.Init(ctx, coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"localhost", "127.0.0.1"}, Task: "fmnist"}); err != nil {
		tb.Fatalf("init: %v", err)
	}
	n := &testNet{home: home, logs: &syncBuffer{}}
	n.ca = mustLoadCA(tb, home)
	n.pin = n.ca.Pin()
	n.start(tb, edit)
	return n
}

// start runs a coordinator on n.home; n.stop stops it and checks Run's
// result.
func (n *testNet) start(tb testing.TB, edit func(*coordinator.Config)) {
	tb.Helper()
	cfg := coordinator.DefaultConfig()
	cfg.Home, cfg.Listen = n.home, "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(n.logs, nil))
	cfg.EnrollRate, cfg.EnrollBurst = 1000, 1000
	cfg.RoundEvery = 0 // tests that want rounds run them themselves
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := coordinator.New(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatalf("new coordinator: %v", err)
	}
	n.addr = s.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("coordinator run: %v", err)
				}
			case <-time.After(10 * time.Second):
				tb.Errorf("coordinator did not stop")
			}
		})
	}
	tb.Cleanup(n.stop)
}

func mustLoadCA(tb testing.TB, home string) *certs.CA {
	tb.Helper()
	certPEM, err := os.ReadFile(filepath.Join(home, coordinator.CAFile))
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, coordinator.CAKeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM, testTD)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// mustToken creates a join token for a peer name.
func (n *testNet) mustToken(tb testing.TB, name string) string {
	tb.Helper()
	t, err := coordinator.CreateToken(context.Background(), n.home, name, time.Hour)
	if err != nil {
		tb.Fatalf("token create %s: %v", name, err)
	}
	return t.Token
}

// mustEnroll enrolls a peer name over the real Enroll path and returns
// its certificate source.
func (n *testNet) mustEnroll(tb testing.TB, name string) *certs.Source {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), name)
	if err := peer.Enroll(context.Background(), dir, n.addr, n.mustToken(tb, name), n.pin); err != nil {
		tb.Fatalf("enroll %s: %v", name, err)
	}
	return mustSourceFiles(tb, filepath.Join(dir, peer.CertFile), filepath.Join(dir, peer.KeyFile))
}

// mustClient issues a client identity with coordinator client-cert.
func (n *testNet) mustClient(tb testing.TB, name string) *certs.Source {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), name)
	if _, err := coordinator.IssueClientCert(context.Background(), n.home, name, out, time.Hour); err != nil {
		tb.Fatalf("client-cert %s: %v", name, err)
	}
	return mustSourceFiles(tb, filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem"))
}

// mustRogue signs a certificate for id with ca (any CA), valid nb..na,
// without telling the database.
func mustRogue(tb testing.TB, ca *certs.CA, id certs.ID, nb, na time.Time) *certs.Source {
	tb.Helper()
	iss, key := testdata.Issue(tb, ca, id, nb, na)
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return mustSourcePEM(tb, iss.PEM, keyPEM)
}

func mustSourceFiles(tb testing.TB, certPath, keyPath string) *certs.Source {
	tb.Helper()
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		tb.Fatal(err)
	}
	return mustSourcePEM(tb, certPEM, keyPEM)
}

// mustSourcePEM makes a certificate source from PEM certificate and key.
func mustSourcePEM(tb testing.TB, certPEM, keyPEM []byte) *certs.Source {
	tb.Helper()
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// mtls returns the client TLS config of src towards this coordinator.
func (n *testNet) mtls(src *certs.Source) *tls.Config {
	return certs.MTLSClientConfig(src, n.ca.Pool(), certs.AuthorizeID(certs.CoordinatorID(testTD)))
}

// dial connects with conf; the connection closes when the test ends.
func (n *testNet) dial(tb testing.TB, conf *tls.Config) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (n *testNet) coord(tb testing.TB, conf *tls.Config) taonetv1.CoordinatorClient {
	return taonetv1.NewCoordinatorClient(n.dial(tb, conf))
}

// anonymous is TLS towards the coordinator with no client certificate.
func (n *testNet) anonymous(tb testing.TB) *tls.Config {
	tb.Helper()
	conf, err := certs.PinnedClientConfig(n.pin, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return conf
}

func tctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// mustServing checks the coordinator still answers health (no
// certificate) and an authorized ListPeers.
func (n *testNet) mustServing(tb testing.TB) {
	tb.Helper()
	ctx := tctx(tb)
	h, err := grpc_health_v1.NewHealthClient(n.dial(tb, n.anonymous(tb))).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		tb.Fatalf("health = %v, %v", h, err)
	}
	ops := n.mustClient(tb, fmt.Sprintf("probe-%d", time.Now().UnixNano()))
	if _, err := n.coord(tb, n.mtls(ops)).ListPeers(ctx, &taonetv1.ListPeersRequest{}); err != nil {
		tb.Fatalf("list peers after the attack: %v", err)
	}
}

// snapshot summarises every identity-table row (probe clients excluded).
func (n *testNet) snapshot(tb testing.TB) string {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(n.home, coordinator.DatabaseFile)+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var parts []string
	for _, q := range []string{
		`SELECT identity || ' ' || state || ' ' || address || ' ' || hex(coalesce(card, '')) || ' ' || coalesce(joined_at, 0) FROM directory WHERE name NOT LIKE 'probe-%' ORDER BY identity`,
		`SELECT serial FROM certificates WHERE identity NOT LIKE '%/client/probe-%' AND identity NOT LIKE '%/coordinator' ORDER BY serial`,
		`SELECT name || ' ' || coalesce(redeemed_at, '-') || ' ' || coalesce(cancelled_at, '-') FROM join_tokens ORDER BY name, created_at`,
		`SELECT identity FROM revocations ORDER BY identity`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				tb.Fatal(err)
			}
			parts = append(parts, s)
		}
		rows.Close()
		parts = append(parts, "|")
	}
	return strings.Join(parts, "\n")
}

// mustCard is a model card that fits fmnist.
func mustCard(tb testing.TB) *taonetv1.ModelCard {
	tb.Helper()
	return &taonetv1.ModelCard{Task: "fmnist", Architecture: "mlp", InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu", Parameters: 235146}
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
