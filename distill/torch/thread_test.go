package torch_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/taonet/taonet/distill/torch"
)

// TestModelThread checks the model's own OS thread (thread.go): calls from
// many goroutines at once are served one at a time and give the answers
// they give alone, and the thread ends with Close, or with the model when
// it is dropped without Close.
func TestModelThread(t *testing.T) {
	t.Run("OK/Concurrent", func(t *testing.T) {
		m := mustModel(t, torch.ArchMLP, 3)
		x, y := batch(16, 2)
		want := mustForward(t, m, x)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for range 20 {
					if g == 0 { // one trainer among readers, steps of rate 0 in effect
						if _, err := m.TrainStep(torch.Step{X: x, Labels: y, Alpha: 1, LR: 1e-30}); err != nil {
							errs <- err
							return
						}
						continue
					}
					got, err := m.Forward(x)
					if err != nil {
						errs <- err
						return
					}
					if d := maxDiff(got, want); d > 1e-4 {
						t.Errorf("forward differs by %g under concurrent calls", d)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	t.Run("OK/ThreadEnds", func(t *testing.T) {
		mustOpen(t)
		before := runtime.NumGoroutine()
		closed, err := torch.NewModel(torch.ArchMLP, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Fatalf("%d goroutines after Close, %d before NewModel", n, before)
		}
		func() {
			dropped, err := torch.NewModel(torch.ArchMLP, torch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			_ = dropped.NumParams()
		}()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines 10 s after the model was dropped, %d before", runtime.NumGoroutine(), before)
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	})
}
