package torch

import "runtime"

// thread runs every libtorch call of one model on one OS thread of its own.
//
// libtorch's CPU thread pool belongs to the thread that calls it: each OS
// thread that enters an OpenMP parallel region gets a team of worker
// threads of its own, and glibc's malloc gives it an arena of its own. A
// goroutine is not tied to an OS thread, so the calls of one model landed
// on two or three OS threads in turn, and with the malloc thresholds of
// shim/runtime.cc each of their arenas would keep up to 256 MiB of free
// memory. On one locked thread a model has one team and one arena.
//
// What it costs and gains, measured on the loaded 2-core VM by in-process
// A/B runs (blocks of calls alternating between this thread and the
// calling goroutine's): a cnn training step was 4-18% faster here in 3 of
// 4 runs and 10% slower in one; an mlp step was 5-38% slower here in all 4
// (a hand-over costs a wake-up, 25-130 us, and the batch moves to another
// core); Forward of 256 mlp rows was 10-16% slower here, about half of it
// won back by scanning the rows for NaN on this thread (Model.Forward).
// Against a goroutine locked to its own thread, no difference stood out
// of the noise. It is kept for the one arena, whose memory is bounded, and
// the one team; Fit fills its batches on it.
type thread struct {
	calls  chan func()
	done   chan struct{} // one value per finished call
	exited chan struct{} // closed when the OS thread has gone
}

// newThread starts a thread. Its owner stops it with stop.
func newThread() *thread {
	t := &thread{calls: make(chan func()), done: make(chan struct{}), exited: make(chan struct{})}
	go t.loop()
	return t
}

func (t *thread) loop() {
	defer close(t.exited)
	// Never unlocked: when loop returns, the OS thread exits with it, and
	// its OpenMP team and thread-local state go too.
	runtime.LockOSThread()
	for f := range t.calls {
		f()
		t.done <- struct{}{}
	}
}

// run runs f on the thread and returns when it has. The caller serialises
// its calls (Model.mu) and makes none after stop.
func (t *thread) run(f func()) {
	t.calls <- f
	<-t.done
}

// stop ends the thread and waits until it has gone.
func (t *thread) stop() {
	close(t.calls)
	<-t.exited
}
