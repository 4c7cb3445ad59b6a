package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatus is what the bench reads from /proc/PID/status.
type procStatus struct {
	// RSS is VmRSS and HWM is VmHWM (the peak RSS of the process's whole
	// life), both in bytes.
	RSS, HWM uint64
	// Threads is the number of OS threads.
	Threads int
}

// errNoField is returned by parseStatus when a field it needs is missing.
var errNoField = errors.New("field missing")

// parseStatus reads VmRSS, VmHWM (kB, as the kernel writes them) and
// Threads from the text of /proc/PID/status. It fails with errNoField
// naming the first of the three that is absent, and on a value that is not
// a number.
func parseStatus(r io.Reader) (procStatus, error) {
	var st procStatus
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch key {
		case "VmRSS", "VmHWM", "Threads":
		default:
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			return procStatus{}, fmt.Errorf("status %s: no value", key)
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return procStatus{}, fmt.Errorf("status %s: %w", key, err)
		}
		if key != "Threads" && (len(fields) < 2 || fields[1] != "kB") {
			return procStatus{}, fmt.Errorf("status %s: want a value in kB, got %q", key, strings.TrimSpace(val))
		}
		switch key {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "Threads":
			st.Threads = int(n)
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return procStatus{}, err
	}
	for _, k := range []string{"VmRSS", "VmHWM", "Threads"} {
		if !seen[k] {
			return procStatus{}, fmt.Errorf("status: %w: %s (a kernel thread, or a process that has exited?)", errNoField, k)
		}
	}
	return st, nil
}

// readStatus parses /proc/pid/status.
func readStatus(pid int) (procStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	defer f.Close()
	return parseStatus(f)
}

// countFDs counts the open file descriptors of pid (entries of
// /proc/pid/fd).
func countFDs(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(1024)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// parseMaxOpenFiles reads the soft "Max open files" limit from the text of
// /proc/PID/limits; -1 means unlimited.
func parseMaxOpenFiles(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		if fields[0] == "unlimited" {
			return -1, nil
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			return 0, fmt.Errorf("limits: max open files %q: %w", fields[0], err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("limits: %w: Max open files", errNoField)
}

// sample is one reading of a process.
type sample struct {
	Status procStatus
	FDs    int
}

// measure reads pid's status and counts its descriptors.
func measure(pid int) (sample, error) {
	st, err := readStatus(pid)
	if err != nil {
		return sample{}, err
	}
	fds, err := countFDs(pid)
	if err != nil {
		return sample{}, err
	}
	return sample{Status: st, FDs: fds}, nil
}

// peak is the largest of each figure over a sampler's readings.
type peak struct {
	RSS     uint64
	FDs     int
	Threads int
	Samples int
}

func (p *peak) add(s sample) {
	p.RSS = max(p.RSS, s.Status.RSS)
	p.FDs = max(p.FDs, s.FDs)
	p.Threads = max(p.Threads, s.Status.Threads)
	p.Samples++
}

// sampler reads a process every interval until stopped and keeps the
// peaks: VmHWM alone cannot tell one flood's peak from an earlier one.
type sampler struct {
	pid    int
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	peak   peak
	err    error
}

// startSampler reads pid at once and then every interval.
func startSampler(ctx context.Context, pid int, interval time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{pid: pid, cancel: cancel}
	s.read()
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.read()
			}
		}
	})
	return s
}

func (s *sampler) read() {
	m, err := measure(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.peak.add(m)
}

// stop takes one last reading, stops the sampler and returns the peaks,
// or the first error a reading met.
func (s *sampler) stop() (peak, error) {
	s.cancel()
	s.wg.Wait()
	s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.err
}
