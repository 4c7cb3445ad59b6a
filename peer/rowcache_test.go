package peer_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// countingModel answers logits that depend on the row and on how many
// Forward calls came before, and counts the rows it computed: a cached
// answer shows as an unchanged call number.
type countingModel struct {
	mu    sync.Mutex
	calls int
	rows  int
}

func (m *countingModel) Card() *taonetv1.ModelCard     { return card() }
func (m *countingModel) Apply(x, grad []float32) error { return nil }

func (m *countingModel) Forward(x []float32) ([]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	m.rows += len(x) / 784
	out := make([]float32, len(x)/784*10)
	for r := range len(x) / 784 {
		out[r*10] = float32(m.calls)
		out[r*10+1] = x[r*784]
	}
	return out, nil
}

func (m *countingModel) computed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows
}

// TestRoundRowCache: a teacher runs each input row of a round through its
// model once, whoever asks and in whatever order, and answers the same
// logits every time; a new round starts afresh, and an older round's call
// neither uses nor fills the cache.
func TestRoundRowCache(t *testing.T) {
	m := &countingModel{}
	p := mustPair(t, func(c *peer.Config) { c.ServeModel = m })
	// Ten distinct rows: row i starts with the value i.
	rows := func(ids ...int) []float32 {
		x := make([]float32, 0, len(ids)*784)
		for _, id := range ids {
			r := make([]float32, 784)
			for k := range r {
				r[k] = float32(id) + float32(k)*1e-3
			}
			x = append(x, r...)
		}
		return x
	}
	ask := func(round uint64, ids ...int) [][]float32 {
		t.Helper()
		call := exchange.Call{Round: round, Inputs: rows(ids...), Shape: []int64{1, 28, 28}, Classes: 10, Batch: 3,
			FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 1 << 20}
		res, err := exchange.Forward(tctx(t), p.client(t), call)
		if err != nil {
			t.Fatal(err)
		}
		out := make([][]float32, len(ids))
		for i := range ids {
			out[i] = res.Logits[i*10 : (i+1)*10]
			if out[i][1] != float32(ids[i]) {
				t.Fatalf("row %d (id %d) got the logits of row %v", i, ids[i], out[i][1])
			}
		}
		return out
	}
	peer.OpenRound(p.teacher.Peer, 1)
	first := ask(1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	if n := m.computed(); n != 10 {
		t.Fatalf("the model computed %d rows for 10 new ones", n)
	}
	// Another order, two new rows (as a second student with its own hidden
	// rows): only those go through the model, the rest keep their answers.
	second := ask(1, 9, 10, 3, 0, 11, 5)
	if n := m.computed(); n != 12 {
		t.Fatalf("the model computed %d rows in all, want 12", n)
	}
	for i, id := range []int{9, 3, 0, 5} {
		at := []int{0, 2, 3, 5}[i]
		if !slices.Equal(second[at], first[id]) {
			t.Errorf("row %d was answered %v, then %v", id, first[id], second[at])
		}
	}
	// Round 2 computes again.
	ask(2, 0, 1, 2)
	if n := m.computed(); n != 15 {
		t.Fatalf("round 2: the model computed %d rows in all, want 15", n)
	}
	// A late call of round 1 goes to the model, and leaves round 2's
	// cache as it was.
	ask(1, 0, 1)
	ask(2, 0, 1, 2)
	if n := m.computed(); n != 17 {
		t.Fatalf("the model computed %d rows in all, want 17", n)
	}
}
