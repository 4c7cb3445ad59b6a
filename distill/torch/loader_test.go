package torch_test

import (
	"errors"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

// TestOutOfMemory checks the error a shim call returns when it cannot
// allocate its message: a static string, never NULL (which reads as
// success). tn_free must leave it alone every time it is handed back (a
// free of it would abort the process), and Go must tell it apart.
func TestOutOfMemory(t *testing.T) {
	mustOpen(t)
	for range 3 {
		if err := torch.OutOfMemoryError(); !errors.Is(err, torch.ErrOutOfMemory) {
			t.Fatalf("err = %v, want ErrOutOfMemory", err)
		}
	}
}
