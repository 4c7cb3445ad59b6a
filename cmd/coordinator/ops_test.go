package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects what a command writes from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeOperations runs coordinator serve with --http and --log-format
// json: it prints the HTTP address, /readyz answers 200 while it serves,
// and every line on stderr is a JSON object.
func TestServeOperations(t *testing.T) {
	home := mustHome(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	root := newRoot()
	root.SetOut(pw)
	root.SetErr(stderr)
	root.SetArgs([]string{"--home", home, "--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--round-every", "0", "--http", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); _ = pw.Close() }()
	lines := bufio.NewReader(pr)
	var addr string
	for addr == "" {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("serve printed %q: %v (exit %v)\n%s", line, err, <-done, stderr)
		}
		if m := regexp.MustCompile(`^coordinator http on http://(\S+) \(/metrics, /healthz, /readyz\)`).FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, lines) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	msgs := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("stderr line %q is not JSON: %v", sc.Text(), err)
		}
		msg, _ := rec["msg"].(string)
		msgs[msg] = true
		if msg == "coordinator serving" && rec["http"] != addr {
			t.Errorf("serving line %v does not name the http address %s", rec, addr)
		}
	}
	if !msgs["coordinator serving"] || !msgs["coordinator stopped"] {
		t.Fatalf("stderr lacks the serving and stopped lines:\n%s", stderr)
	}
}

// TestServeOperationsInvalid gives --http and --log-format values serve
// must refuse before it takes the home.
func TestServeOperationsInvalid(t *testing.T) {
	home := mustHome(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ErrHTTPAllInterfaces", []string{"--http", "0.0.0.0:9090"}, "host 0.0.0.0 is not a loopback address"},
		{"ErrHTTPEmptyHost", []string{"--http", ":9090"}, "pass --http-public"},
		{"ErrHTTPNotHostPort", []string{"--http", "9090"}, `http address "9090" is not HOST:PORT`},
		{"ErrLogFormat", []string{"--log-format", "yaml"}, `--log-format "yaml": want text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--home", home, "--listen", "127.0.0.1:0", "--round-every", "0"}, tc.args...)
			_, err := runCoordinator(args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %v = %v; want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
