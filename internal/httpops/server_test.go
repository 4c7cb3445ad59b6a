package httpops_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taonet/taonet/internal/httpops"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   string
		public bool
		err    error // nil: accepted; errAny: refused, not for being public
	}{
		{"OKLoopback", "127.0.0.1:9090", false, nil},
		{"OKLoopbackOther", "127.0.0.2:0", false, nil},
		{"OKLoopbackV6", "[::1]:9090", false, nil},
		{"OKLocalhost", "localhost:9090", false, nil},
		{"OKPublicAllInterfaces", ":9090", true, nil},
		{"OKPublicLAN", "10.0.0.5:9090", true, nil},
		{"ErrAllInterfaces", ":9090", false, httpops.ErrNotLoopback},
		{"ErrUnspecified", "0.0.0.0:9090", false, httpops.ErrNotLoopback},
		{"ErrUnspecifiedV6", "[::]:9090", false, httpops.ErrNotLoopback},
		{"ErrLAN", "192.168.1.10:9090", false, httpops.ErrNotLoopback},
		{"ErrHostName", "metrics.example.com:9090", false, httpops.ErrNotLoopback},
		{"ErrNoPort", "127.0.0.1", false, errAny},
		{"ErrEmptyPort", "127.0.0.1:", true, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := httpops.CheckAddr(tc.addr, tc.public)
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("CheckAddr(%q, %v) = %v, want accepted", tc.addr, tc.public, err)
			case tc.err == errAny && (err == nil || errors.Is(err, httpops.ErrNotLoopback)):
				t.Fatalf("CheckAddr(%q, %v) = %v, want refused as not HOST:PORT", tc.addr, tc.public, err)
			case tc.err == httpops.ErrNotLoopback && (!errors.Is(err, tc.err) || !strings.Contains(err.Error(), "--http-public")):
				t.Fatalf("CheckAddr(%q, %v) = %v, want %v naming --http-public", tc.addr, tc.public, err, tc.err)
			}
		})
	}
}

var errAny = errors.New("any error")

// mustServer runs a server on 127.0.0.1:0 with one counter in its
// registry and ready as its readiness; stop ends Serve and returns its
// result.
func mustServer(t *testing.T, ready func() error) (s *httpops.Server, base string, stop func() error) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "taonet_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := httpops.Listen(httpops.Config{Addr: "127.0.0.1:0", Gatherer: reg, Ready: ready,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ShutdownGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return s, "http://" + s.Addr().String(), stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServer serves the three endpoints and mounted handlers on a real
// listener, follows readiness as it changes, and shuts down gracefully.
func TestServer(t *testing.T) {
	var notReady atomic.Pointer[string]
	reason := "loading the model"
	notReady.Store(&reason)
	s, base, stop := mustServer(t, func() error {
		if r := notReady.Load(); r != nil {
			return errors.New(*r)
		}
		return nil
	})
	t.Run("OKHealthz", func(t *testing.T) {
		if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Fatalf("/healthz = %d %q", code, body)
		}
	})
	t.Run("ErrNotReady", func(t *testing.T) {
		if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: loading the model\n" {
			t.Fatalf("/readyz = %d %q, want 503 with the reason", code, body)
		}
	})
	t.Run("OKReady", func(t *testing.T) {
		notReady.Store(nil)
		if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
			t.Fatalf("/readyz = %d %q", code, body)
		}
	})
	t.Run("OKMetrics", func(t *testing.T) {
		code, body := get(t, base+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, "\ntaonet_test_total 3\n") {
			t.Fatalf("/metrics = %d\n%s", code, body)
		}
	})
	t.Run("ErrMethod", func(t *testing.T) {
		resp, err := http.Post(base+"/healthz", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST /healthz = %d, want 405", resp.StatusCode)
		}
	})
	t.Run("OKMounted", func(t *testing.T) {
		s.HandleFunc("GET /api/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
		s.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dashboard") }))
		for path, want := range map[string]string{"/api/hello": "hello", "/": "dashboard", "/anything": "dashboard", "/healthz": "ok\n"} {
			if code, body := get(t, base+path); code != http.StatusOK || body != want {
				t.Errorf("GET %s = %d %q, want %q", path, code, body, want)
			}
		}
	})
	t.Run("OKGracefulShutdown", func(t *testing.T) {
		started := make(chan struct{})
		s.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
			close(started)
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "done")
		})
		answered := make(chan string, 1)
		go func() {
			resp, err := http.Get(base + "/slow")
			if err != nil {
				answered <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answered <- string(b)
		}()
		<-started
		if err := stop(); err != nil {
			t.Fatalf("Serve = %v after a shutdown", err)
		}
		if got := <-answered; got != "done" {
			t.Fatalf("the request in flight got %q, want it finished", got)
		}
		if _, err := (&http.Client{Timeout: time.Second}).Get(base + "/healthz"); err == nil {
			t.Fatal("the server still answers after Serve returned")
		}
	})
}

// TestListenRefusesPublic checks that Listen itself refuses a non-loopback
// address: nothing binds it.
func TestListenRefusesPublic(t *testing.T) {
	_, err := httpops.Listen(httpops.Config{Addr: "0.0.0.0:0", Gatherer: prometheus.NewRegistry(), Logger: slog.Default()})
	if !errors.Is(err, httpops.ErrNotLoopback) {
		t.Fatalf("Listen on 0.0.0.0 = %v, want %v", err, httpops.ErrNotLoopback)
	}
}
