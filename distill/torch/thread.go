package torch

import "runtime"

// thread runs every libtorch call of one model on one OS thread of its own.
//
// libtorch's CPU thread pool belongs to the thread that calls it: each OS
// thread that enters an OpenMP parallel region gets a team of worker
// threads of its own, and glibc's malloc gives it an arena of its own. A
// goroutine is not tied to an OS thread, and after a cgo call that outlasts
// a scheduler tick its P has usually moved on, so the calls of one model
// landed on two or three OS threads in turn: as many OpenMP teams and
// arenas, cold caches, and about 25 voluntary context switches per mlp
// training step. On one locked thread every call finds the same team and
// the same arena.
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
