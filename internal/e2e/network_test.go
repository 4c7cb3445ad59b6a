// Package e2e runs the real binaries, bin/coordinator and bin/peer as a
// user runs them, on loopback: whole rounds, kills at the worst moment,
// restarts.
package e2e_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/testdata"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// bin holds the binaries TestMain builds.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taonet-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, name := range []string{"coordinator", "peer"} {
		out, err := exec.Command("go", "build", "-tags", "libsqlite3", "-o", filepath.Join(dir, name), "../../cmd/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// shim is the libtorch shim `make shim` built.
func shim(tb testing.TB) string {
	tb.Helper()
	p, err := filepath.Abs("../../build/libtaonet_torch.so")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("the peers need the libtorch shim: run make shim: %v", err)
	}
	return p
}

// proc is a running binary whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process has exited
}

// start runs bin/name args with its output in dir/logName.
func start(tb testing.TB, dir, logName string, env []string, name string, args ...string) *proc {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, log: f.Name(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	tb.Cleanup(func() { p.stop(tb) })
	return p
}

// stop ends p with SIGTERM (SIGKILL after 10s) if it still runs.
func (p *proc) stop(tb testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends p with SIGKILL, as a crash would.
func (p *proc) kill(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		tb.Fatal(err)
	}
	<-p.done
}

// grep waits until p's log has a line matching re and returns its groups.
func (p *proc) grep(tb testing.TB, re string, d time.Duration) []string {
	tb.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		if m := rx.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(p.log)
	tb.Fatalf("no %q in %s after %v:\n%s", re, p.log, d, tail(string(b), 40))
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// run runs bin/name args to completion and returns its output.
func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(filepath.Join(bin, name), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// net is a network of real processes in one folder.
type net struct {
	dir, home, data, addr string
	serveArgs             []string
	coord                 *proc
	peers                 map[string]*proc
	client                taonetv1.CoordinatorClient
}

// mustNet initialises a network on tiny data and starts the coordinator
// with short rounds.
func mustNet(t *testing.T) *net {
	t.Helper()
	n := &net{dir: t.TempDir(), data: testdata.TinyFashion(t, 1800, 600), peers: map[string]*proc{}}
	n.home = filepath.Join(n.dir, "net")
	run(t, "coordinator", "init", "--home", n.home, "--trust-domain", "e2e.local", "--hosts", "127.0.0.1")
	n.serveArgs = []string{"serve", "--home", n.home, "--round-every", "3s", "--distill-timeout", "1500ms",
		"--eval-timeout", "1s", "--transfer", "200", "--transfer-batch", "100", "--validation", n.data, "--validation-samples", "250"}
	n.startCoordinator(t, "127.0.0.1:0")
	out := filepath.Join(n.dir, "ops")
	run(t, "coordinator", "client-cert", "--home", n.home, "--name", "ops", "--out", out)
	n.client = mustClient(t, n.addr, out)
	return n
}

// startCoordinator runs `coordinator serve` on listen and waits until it
// is listening.
func (n *net) startCoordinator(t *testing.T, listen string) {
	t.Helper()
	n.coord = start(t, n.dir, fmt.Sprintf("coordinator-%d.log", time.Now().UnixNano()), nil, "coordinator",
		append(n.serveArgs, "--listen", listen)...)
	n.addr = n.coord.grep(t, `coordinator listening on (\S+)`, 20*time.Second)[1]
}

var tokenRE = regexp.MustCompile(`(?m)^token:\s+(\S+)\n^ca-pin:\s+(\S+)`)

// join enrolls and starts peer name with model on shard; a peer that has
// enrolled before restarts from its home without a token.
func (n *net) join(t *testing.T, name, model, shard string) *proc {
	t.Helper()
	home := filepath.Join(n.dir, name)
	args := []string{"join", "--coordinator", n.addr, "--home", home, "--listen", "127.0.0.1:0",
		"--model", model, "--shard", shard, "--alpha", "0.1", "--seed", "7", "--data", n.data,
		"--threads", "1", "--local-steps", "15", "--batch", "32", "--warmup-epochs", "1"}
	if _, err := os.Stat(filepath.Join(home, "cert.pem")); err != nil {
		m := tokenRE.FindStringSubmatch(run(t, "coordinator", "token", "create", "--home", n.home, "--name", name))
		if m == nil {
			t.Fatal("token create printed no token")
		}
		args = append(args, "--token", m[1], "--ca-pin", m[2])
	}
	p := start(t, n.dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()), []string{"TAONET_TORCH_SHIM=" + shim(t)}, "peer", args...)
	n.peers[name] = p
	return p
}

// mustClient dials the coordinator with the client certificate in dir.
func mustClient(t *testing.T, addr, dir string) taonetv1.CoordinatorClient {
	t.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pair, err := certs.KeyPair(read("cert.pem"), read("key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.ParseCert(read("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	conf := certs.MTLSClientConfig(src, pool, certs.AuthorizeID(certs.CoordinatorID(src.ID().TrustDomain)))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return taonetv1.NewCoordinatorClient(conn)
}

// rounds lists every round, oldest first.
func (n *net) rounds(t *testing.T) []*taonetv1.Round {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var all []*taonetv1.Round
	token := ""
	for {
		resp, err := n.client.ListRounds(ctx, &taonetv1.ListRoundsRequest{PageSize: 100, PageToken: token})
		if err != nil {
			return nil // the coordinator may be restarting
		}
		all = append(resp.GetRounds(), all...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// waitRounds waits until cond holds of the rounds.
func (n *net) waitRounds(t *testing.T, d time.Duration, what string, cond func([]*taonetv1.Round) bool) []*taonetv1.Round {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		rs := n.rounds(t)
		if rs != nil && cond(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(n.coord.log)
			t.Fatalf("after %v: %s; rounds %v\ncoordinator log:\n%s", d, what, summary(rs), tail(string(b), 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled counts settled rounds.
func settled(rs []*taonetv1.Round) int {
	k := 0
	for _, r := range rs {
		if r.GetState() == taonetv1.RoundState_ROUND_STATE_SETTLED {
			k++
		}
	}
	return k
}

func summary(rs []*taonetv1.Round) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  round %d %v:", r.GetNumber(), r.GetState())
		for _, e := range r.GetEvaluations() {
			fmt.Fprintf(&b, " %s %v loss %.3f acc %.3f w %.2f paid %d;", e.GetIdentity()[strings.LastIndex(e.GetIdentity(), "/")+1:],
				e.GetStatus(), e.GetLoss(), e.GetAccuracy(), e.GetWeight(), e.GetPayoutRao())
		}
	}
	return b.String()
}

// evaluation returns name's evaluation in r.
func evaluation(r *taonetv1.Round, name string) *taonetv1.Evaluation {
	for _, e := range r.GetEvaluations() {
		if strings.HasSuffix(e.GetIdentity(), "/peer/"+name) {
			return e
		}
	}
	return nil
}
