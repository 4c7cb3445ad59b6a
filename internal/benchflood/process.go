package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildCoordinator builds cmd/coordinator of the repository at repo into
// dir and returns the binary's path.
func buildCoordinator(ctx context.Context, repo, dir string) (string, error) {
	bin, err := filepath.Abs(filepath.Join(dir, "coordinator"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "libsqlite3", "-o", bin, "./cmd/coordinator")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build coordinator in %s: %w\n%s", repo, err, out)
	}
	return bin, nil
}

// process is one `coordinator serve` process in its own home, with its
// stderr (the log) in a file.
type process struct {
	bin, dir, home, logPath string
	addr                    string
	cmd                     *exec.Cmd
	exited                  chan struct{} // closed once cmd.Wait returned
	waitErr                 error
}

// listeningRE matches serve's ready line on stdout.
var listeningRE = regexp.MustCompile(`^coordinator listening on (\S+)`)

// parseListening returns the address in serve's ready line, or "" if line
// is not that line.
func parseListening(line string) string {
	if m := listeningRE.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// startCoordinator runs `coordinator init` in dir/home, then `coordinator
// serve` on 127.0.0.1 with an ephemeral port, no round schedule and the
// default limits, with GOMAXPROCS procs, and waits for its ready line.
func startCoordinator(ctx context.Context, bin, dir string, procs int) (*process, error) {
	c := &process{bin: bin, dir: dir, home: filepath.Join(dir, "home"), logPath: filepath.Join(dir, "coordinator.log"), exited: make(chan struct{})}
	if _, err := c.run(ctx, "init", "--home", c.home, "--trust-domain", "flood.local", "--hosts", "127.0.0.1"); err != nil {
		return nil, err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "serve", "--home", c.home, "--listen", "127.0.0.1:0", "--round-every", "0")
	c.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	c.cmd.Stderr = logf
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start coordinator serve: %w", err)
	}
	logf.Close() // the child holds its own copy
	ready := make(chan string, 1)
	go func() { // ends when the child's stdout closes, that is when it exits
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a := parseListening(sc.Text()); a != "" {
				select {
				case ready <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case c.addr = <-ready:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("coordinator serve exited before listening: %v\n%s", c.waitErr, c.logTail(20))
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("coordinator serve printed no listening line in 30s\n%s", c.logTail(20))
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// pid is the serve process's id.
func (c *process) pid() int { return c.cmd.Process.Pid }

// run runs a one-shot coordinator subcommand and returns its stdout.
func (c *process) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("coordinator %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return string(out), nil
}

// joinToken is what `coordinator token create` prints.
type joinToken struct{ Token, Pin string }

var (
	tokenRE = regexp.MustCompile(`(?m)^token:\s+(\S+)`)
	pinRE   = regexp.MustCompile(`(?m)^ca-pin:\s+(\S+)`)
)

// parseToken reads the token and CA pin from token create's output.
func parseToken(out string) (joinToken, error) {
	t, p := tokenRE.FindStringSubmatch(out), pinRE.FindStringSubmatch(out)
	if t == nil || p == nil {
		return joinToken{}, fmt.Errorf("token create printed no token and ca-pin lines: %q", out)
	}
	return joinToken{Token: t[1], Pin: p[1]}, nil
}

// createToken runs `coordinator token create --name name` beside serve.
func (c *process) createToken(ctx context.Context, name string) (joinToken, error) {
	out, err := c.run(ctx, "token", "create", "--home", c.home, "--name", name, "--coordinator", c.addr)
	if err != nil {
		return joinToken{}, err
	}
	return parseToken(out)
}

// logBytes is the size of the coordinator's log so far.
func (c *process) logBytes() (int64, error) {
	fi, err := os.Stat(c.logPath)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// logLines counts the lines of the log from byte offset from on.
func (c *process) logLines(from int64) (int, error) {
	f, err := os.Open(c.logPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, err
	}
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		for _, b := range buf[:k] {
			if b == '\n' {
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// logTail is the last n lines of the log, for error messages.
func (c *process) logTail(n int) string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// maxOpenFiles is the serve process's soft descriptor limit (-1: none).
func (c *process) maxOpenFiles() (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", c.pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMaxOpenFiles(f)
}

// stop ends serve with SIGTERM, sent to its pid only, and SIGKILL after
// 15s; it returns how serve exited (nil for a clean stop).
func (c *process) stop() error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("coordinator did not stop within 15s of SIGTERM; killed")
	}
}
