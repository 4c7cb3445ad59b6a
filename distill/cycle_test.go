package distill_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taonet/taonet/distill"
)

// Every pass of a Cycle visits each position once, in a new order.
func TestCycle(t *testing.T) {
	c := distill.NewCycle(7, rand.New(rand.NewPCG(1, 2)))
	var passes [][]int
	for range 3 {
		var pass []int
		for range 7 {
			pass = append(pass, c.Next())
		}
		passes = append(passes, pass)
		sorted := slices.Sorted(slices.Values(pass))
		if !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6}) {
			t.Fatalf("a pass visited %v", pass)
		}
	}
	if slices.Equal(passes[0], passes[1]) && slices.Equal(passes[1], passes[2]) {
		t.Fatalf("three passes in the same order %v", passes[0])
	}
}
