package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// idleProbes is how many legitimate calls are timed at idle.
const idleProbes = 5

// runResult is one flood in one repetition, against a fresh coordinator.
type runResult struct {
	Flood string
	Rep   int
	Out   *outcome
	// Duration is the flood from its first attempt to its release,
	// holding time included.
	Duration time.Duration
	// Idle is the process before the flood, Peak the sampler's peaks from
	// the flood's start to the after measurement, After the process once
	// the flood is released and Settle has passed; HWM is VmHWM then.
	Idle  sample
	Peak  peak
	After sample
	// LogIdle is the log's size at idle (start, two enrollments and the
	// idle calls); LogAdded the bytes and LogLines the lines written from
	// the flood's start to the after measurement.
	LogIdle  int64
	LogAdded int64
	LogLines int
	// IdleProbes and Probes are the legitimate client's calls before and
	// during the flood.
	IdleProbes []probeResult
	Probes     []probeResult
	// MaxOpenFiles is the coordinator's soft descriptor limit; StopErr how
	// it stopped ("" for a clean exit).
	MaxOpenFiles int
	StopErr      string
}

// Run runs every flood Reps times, each against a fresh coordinator, in an
// order rotated every repetition, prints the table to w and writes the
// report. Everything it starts is stopped and its temporary folder
// removed before it returns.
func Run(ctx context.Context, s Settings, w io.Writer) (err error) {
	if err := s.Validate(); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "taonet-bench-flood-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(root); rerr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", root, rerr)
		}
	}()
	bin := s.Coordinator
	if bin == "" {
		if bin, err = buildCoordinator(ctx, ".", root); err != nil {
			return err
		}
	}
	fs := floods(s)
	label := bin
	if s.Coordinator == "" {
		label = "./cmd/coordinator of the working tree, built for this run"
	}
	printSettings(w, s, fs, label)
	var runs []*runResult
	for rep := 1; rep <= s.Reps; rep++ {
		fmt.Fprintf(w, "rep %d/%d:", rep, s.Reps)
		for _, f := range rotate(fs, rep-1) {
			r, err := runOne(ctx, s, bin, filepath.Join(root, fmt.Sprintf("%s-%d", f.Name, rep)), f, rep)
			if err != nil {
				fmt.Fprintln(w)
				return fmt.Errorf("rep %d, %s: %w", rep, f.Name, err)
			}
			runs = append(runs, r)
			fmt.Fprintf(w, " %s %.1fs", f.Name, r.Duration.Seconds())
		}
		fmt.Fprintln(w)
	}
	rep := &report{s: s, floods: fs, runs: runs}
	rep.print(w)
	if s.Out == "" {
		return nil
	}
	if err := rep.write(s.Out); err != nil {
		return err
	}
	fmt.Fprintln(w, "wrote", s.Out)
	return nil
}

// runOne starts a coordinator in dir, enrolls the legitimate peer and the
// flooder, measures the idle process, runs f while sampling and probing,
// measures again after Settle, stops the coordinator and removes dir.
func runOne(ctx context.Context, s Settings, bin, dir string, f flood, rep int) (_ *runResult, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := startCoordinator(ctx, bin, dir, gomaxprocs())
	if err != nil {
		return nil, err
	}
	r := &runResult{Flood: f.Name, Rep: rep}
	defer func() {
		if serr := c.stop(); serr != nil {
			r.StopErr = serr.Error()
		}
		if err != nil {
			err = fmt.Errorf("%w\ncoordinator log:\n%s", err, c.logTail(15))
		}
	}()
	legit, tok, err := enroll(ctx, c, "legit")
	if err != nil {
		return nil, err
	}
	flooder, _, err := enroll(ctx, c, "flooder")
	if err != nil {
		return nil, err
	}
	for range idleProbes {
		r.IdleProbes = append(r.IdleProbes, probeOnce(ctx, c.addr, legit))
	}
	if r.MaxOpenFiles, err = c.maxOpenFiles(); err != nil {
		return nil, err
	}
	sleep(ctx, s.Settle)
	if r.Idle, err = measure(c.pid()); err != nil {
		return nil, err
	}
	if r.LogIdle, err = c.logBytes(); err != nil {
		return nil, err
	}
	smp := startSampler(ctx, c.pid(), s.SampleEvery)
	prb := startProber(ctx, c.addr, legit, s.ProbeEvery)
	start := time.Now()
	r.Out, err = f.Run(ctx, &target{addr: c.addr, pin: tok.Pin, flooder: flooder}, s)
	r.Duration = time.Since(start)
	r.Probes = prb.stop()
	if err != nil {
		_, _ = smp.stop()
		return nil, err
	}
	sleep(ctx, s.Settle)
	var perr error
	r.Peak, perr = smp.stop()
	if r.After, err = measure(c.pid()); err != nil {
		return nil, errors.Join(perr, err)
	}
	if perr != nil {
		return nil, perr
	}
	logNow, err := c.logBytes()
	if err != nil {
		return nil, err
	}
	r.LogAdded = logNow - r.LogIdle
	if r.LogLines, err = c.logLines(r.LogIdle); err != nil {
		return nil, err
	}
	return r, ctx.Err()
}
