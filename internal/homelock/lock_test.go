package homelock_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/internal/homelock"
)

// holdEnv makes the test binary a lock holder (see TestMain).
const holdEnv = "HOMELOCK_TEST_HOLD"

// TestMain runs the tests, or, with holdEnv set to a home, holds that
// home's lock until killed.
func TestMain(m *testing.M) {
	if home := os.Getenv(holdEnv); home != "" {
		if _, err := homelock.Acquire(home); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAcquire: a second holder is refused, also from another process, and
// the lock is free again after Release or after the holder dies.
func TestAcquire(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	l, err := homelock.Acquire(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrHeldInProcess", func(t *testing.T) {
		if _, err := homelock.Acquire(home); !errors.Is(err, homelock.ErrHeld) || !strings.Contains(err.Error(), "pid") {
			t.Fatalf("second acquire: %v, want ErrHeld naming the pid", err)
		}
	})
	t.Run("ErrHeldFromAnotherProcess", func(t *testing.T) {
		// flock(1) from util-linux tries the same lock without waiting.
		if _, err := exec.LookPath("flock"); err != nil {
			t.Skip("flock(1) is not installed")
		}
		out, err := exec.Command("flock", "-n", filepath.Join(home, homelock.File), "true").CombinedOutput()
		if err == nil {
			t.Fatalf("another process took the held lock: %s", out)
		}
	})
	l.Release()
	l.Release()
	t.Run("OKAfterRelease", func(t *testing.T) {
		l2, err := homelock.Acquire(home)
		if err != nil {
			t.Fatal(err)
		}
		l2.Release()
	})
	t.Run("OKAfterHolderDies", func(t *testing.T) {
		// The holder is this test binary run again (TestMain): it takes
		// the lock, says so, and waits to be killed.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), holdEnv+"="+home)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "held\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the holder process said %q, %v", line, err)
		}
		if _, err := homelock.Acquire(home); !errors.Is(err, homelock.ErrHeld) {
			t.Fatalf("acquire beside a live holder: %v, want ErrHeld", err)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		l3, err := homelock.Acquire(home)
		if err != nil {
			t.Fatalf("lock of a killed holder: %v", err)
		}
		l3.Release()
	})
	if st, err := os.Stat(home); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("home mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
}
