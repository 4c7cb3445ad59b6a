package peer

import "testing"

// The cache keeps at most maxCachedRows rows a round, answers only rows
// equal value for value, and forgets a round when a newer one comes.
func TestRowCacheBounds(t *testing.T) {
	c := newRowCache()
	const f, classes = 3, 2
	x := make([]float32, (maxCachedRows+5)*f)
	for i := range x {
		x[i] = float32(i)
	}
	logits := make([]float32, (maxCachedRows+5)*classes)
	out := make([]float32, len(logits))
	missing, ok := c.fill(1, x, f, classes, out)
	if !ok || len(missing) != maxCachedRows+5 {
		t.Fatalf("an empty cache: %d missing, ok %v", len(missing), ok)
	}
	c.add(1, x, f, logits, classes)
	if c.n != maxCachedRows {
		t.Fatalf("the cache holds %d rows, bound %d", c.n, maxCachedRows)
	}
	if missing, _ := c.fill(1, x, f, classes, out); len(missing) != 5 {
		t.Fatalf("%d rows missing after the bound, want 5", len(missing))
	}
	// A row that differs in one value is not an answer.
	y := []float32{0, 1, 2.0000002}
	if missing, _ := c.fill(1, y, f, classes, out[:classes]); len(missing) != 1 {
		t.Fatal("a different row was answered from the cache")
	}
	if _, ok := c.fill(2, y, f, classes, out[:classes]); !ok || c.n != 0 {
		t.Fatalf("a newer round kept %d rows", c.n)
	}
	if _, ok := c.fill(1, y, f, classes, out[:classes]); ok {
		t.Fatal("an older round used the cache")
	}
}
