// Package homelock makes a home folder one process's: `coordinator serve`
// and `peer join` hold an exclusive lock on it while they run, so a second
// one on the same home stops with a clear error instead of fighting the
// first (a second coordinator would abort the first one's open round).
// Read-only commands do not take it and work beside the holder.
package homelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File is the lock file in a home folder.
const File = ".lock"

// ErrHeld reports a home locked by another process.
var ErrHeld = errors.New("home is in use by another process")

// Lock is a held lock; Release gives it up.
type Lock struct{ f *os.File }

// Acquire takes the exclusive lock of home (creating home, 0700, and its
// lock file when missing) without waiting. It fails with ErrHeld, naming
// the holder's pid, when another process holds it. The lock is the
// kernel's (flock), so it goes with the process however that ends.
func Acquire(home string) (*Lock, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("lock home: %w", err)
	}
	path := filepath.Join(home, File)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock home: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s (pid %s); stop it first, or use another --home", ErrHeld, home, pid)
		}
		return nil, fmt.Errorf("lock home %s: %w", home, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. It is safe to call on nil and twice.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// Holder returns the pid the lock file of home names and whether a process
// of that pid is alive. It reads the file and takes no lock, so status
// commands can ask beside the holder. A process that exited and whose pid
// was reused reads as alive; callers that keep their own record of the
// holder's pid (and of a clean stop) can tell the two apart.
func Holder(home string) (pid int, alive bool) {
	data, err := os.ReadFile(filepath.Join(home, File))
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}
