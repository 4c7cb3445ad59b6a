package coordinator_test

import (
	"testing"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
)

// TestScoreUniformEarnsNothing: all-equal logits average ln(10) less a
// rounding error, which must not count as better than uniform guessing.
func TestScoreUniformEarnsNothing(t *testing.T) {
	const rows = 250
	labels := make([]int64, rows)
	good := make([]float32, rows*10)
	for r := range rows {
		labels[r] = int64(r % 10)
		good[r*10+r%10] = 3
	}
	uniform := make([]float32, rows*10)
	res, err := coordinator.Score(coordinator.DefaultScoreConfig(10), labels, []coordinator.Answer{
		{Identity: "uniform", Logits: &distill.Logits{Classes: 10, Values: uniform}, Order: 1},
		{Identity: "good", Logits: &distill.Logits{Classes: 10, Values: good}, Order: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Loss >= 2.302585092994046 {
		t.Logf("uniform loss %v is not below ln 10 here; the margin is untested", res[0].Loss)
	}
	if res[0].Weight != 0 || res[0].Shares != 0 || res[1].Weight != 1 {
		t.Fatalf("uniform %+v, good %+v: uniform guessing must earn nothing", res[0], res[1])
	}
}
