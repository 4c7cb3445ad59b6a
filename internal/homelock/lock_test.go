package homelock_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/internal/homelock"
)

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
		if _, err := exec.LookPath("flock"); err != nil {
			t.Skip("flock(1) is not installed")
		}
		// Blocking (no -n): the loop below takes and drops the lock, and a
		// non-blocking flock that met it there would give up at once.
		cmd := exec.Command("flock", "-o", filepath.Join(home, homelock.File), "sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			l, err := homelock.Acquire(home)
			if errors.Is(err, homelock.ErrHeld) {
				break
			}
			l.Release()
			if time.Now().After(deadline) {
				t.Fatal("the other process never held the lock")
			}
			time.Sleep(20 * time.Millisecond)
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
