package peer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

const testTD = "test.local"

// lockedBuffer collects logs from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// network is a real coordinator on 127.0.0.1:0.
type network struct {
	home     string
	data     string // a tiny Fashion-MNIST look-alike the peers train on
	addr     string
	pin      string
	lifetime time.Duration
	edit     func(*coordinator.Config) // applied last at every start; nil for none
	stop     func()
}

func mustCoordinator(tb testing.TB, lifetime time.Duration) *network {
	tb.Helper()
	return mustCoordinatorWith(tb, lifetime, "", nil)
}

// mustCoordinatorWith is mustCoordinator on data (a new tiny data set when
// empty) with edit applied to the configuration after the tests' defaults,
// at every start: a test that wants scheduled rounds sets RoundEvery there.
func mustCoordinatorWith(tb testing.TB, lifetime time.Duration, data string, edit func(*coordinator.Config)) *network {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "net")
	if err := coordinator.Init(context.Background(), coordinator.InitConfig{Home: home, TrustDomain: testTD, Hosts: []string{"127.0.0.1"}, Task: "fmnist"}); err != nil {
		tb.Fatal(err)
	}
	if data == "" {
		data = testdata.TinyFashion(tb, 300, 60)
	}
	n := &network{home: home, lifetime: lifetime, data: data, edit: edit}
	n.start(tb, "127.0.0.1:0")
	return n
}

// start runs the coordinator on listen until the test ends or n.stop.
func (n *network) start(tb testing.TB, listen string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := coordinator.DefaultConfig()
	cfg.Home, cfg.Listen, cfg.Logger = n.home, listen, slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))
	cfg.EnrollRate, cfg.EnrollBurst = 1000, 1000
	cfg.RoundEvery = 0 // tests that want rounds run them themselves
	if n.lifetime > 0 {
		cfg.LeafLifetime = n.lifetime
	}
	if n.edit != nil {
		n.edit(&cfg)
	}
	s, err := coordinator.New(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("coordinator: %v", err)
			}
		})
	}
	tb.Cleanup(n.stop)
	n.addr, n.pin = s.Addr().String(), s.CAPin()
}

func (n *network) token(tb testing.TB, name string) string {
	tb.Helper()
	t, err := coordinator.CreateToken(context.Background(), n.home, name, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return t.Token
}

// running is a peer started with Run; stop cancels it and returns Run's
// result.
type running struct {
	*peer.Peer
	home string
	stop func() error
	done chan error
}

func (n *network) config(home string) peer.Config {
	cfg := peer.DefaultConfig()
	cfg.Home, cfg.Coordinator, cfg.Data, cfg.Device = home, n.addr, n.data, "cpu"
	cfg.Gradients.Accept = true // the exchange tests apply gradients unless they say otherwise
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))
	cfg.BackoffMin, cfg.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	return cfg
}

// mustPeer enrolls (when token is set) and runs a peer in home.
func (n *network) mustPeer(tb testing.TB, home, token string) *running {
	tb.Helper()
	return n.mustPeerWith(tb, home, token, nil)
}

// mustPeerWith is mustPeer with edit applied to the configuration.
func (n *network) mustPeerWith(tb testing.TB, home, token string, edit func(*peer.Config)) *running {
	tb.Helper()
	cfg := n.config(home)
	if edit != nil {
		edit(&cfg)
	}
	if token != "" {
		cfg.Token, cfg.CAPin = token, n.pin
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := peer.New(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatalf("new peer: %v", err)
	}
	r := &running{Peer: p, home: home, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-r.done:
			case <-time.After(10 * time.Second):
				tb.Errorf("peer did not stop")
			}
		})
		return runErr
	}
	tb.Cleanup(func() { _ = r.stop() })
	return r
}

// sees reports whether r's directory lists identity.
func (r *running) sees(identity string) bool {
	_, ok := r.find(identity)
	return ok
}

func (r *running) find(identity string) (*taonetv1.PeerInfo, bool) {
	for _, p := range r.Directory() {
		if p.GetIdentity() == identity {
			return p, true
		}
	}
	return nil, false
}

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

// peerClient dials identity at addr with d.
func peerClient(tb testing.TB, d *peer.Dialer, identity, addr string) taonetv1.PeerClient {
	tb.Helper()
	conn, err := d.Dial(&taonetv1.PeerInfo{Identity: identity, Address: addr})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return taonetv1.NewPeerClient(conn)
}

func tctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// clientDialer issues a /client/NAME identity and returns a Dialer for it.
func (n *network) clientDialer(tb testing.TB, name string) *peer.Dialer {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), name)
	if _, err := coordinator.IssueClientCert(context.Background(), n.home, name, out, time.Hour); err != nil {
		tb.Fatal(err)
	}
	return dialerFrom(tb, out)
}

// dialerFrom loads cert.pem, key.pem and ca.pem from dir.
func dialerFrom(tb testing.TB, dir string) *peer.Dialer {
	tb.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	pair, err := certs.KeyPair(read("cert.pem"), read("key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := certs.ParseCert(read("ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return peer.NewDialer(src, pool)
}
