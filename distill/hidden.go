package distill

import (
	"math"
	"slices"
)

// HiddenCheckLimit is the cross-entropy on a student's hidden checks (its
// own labelled rows mixed into a round's transfer rows) at or above which
// the student drops a teacher, given the finite losses of every teacher
// that answered and the number of classes.
//
// The limit is the larger of uniform guessing's loss, ln(classes), and
// the typical teacher's loss plus twice that, where the typical loss is
// the lower median of the teachers' losses and of uniform guessing's.
// Uniform guessing counts as one more teacher so that a lone poisoner is
// not its own yardstick. The second term matters on non-IID shards: there
// an honest teacher has rarely or never seen the student's own classes,
// and its confident mistakes on them put its loss far above uniform
// guessing, so the absolute test alone dropped every teacher (seen with
// Dirichlet 0.1 shards of Fashion-MNIST: honest hidden losses of 5-10). A
// poisoner, which answers every row against the truth, stands out from the
// honest majority.
func HiddenCheckLimit(losses []float64, classes int) float64 {
	uniform := math.Log(float64(classes))
	all := append(slices.Clone(losses), uniform)
	slices.Sort(all)
	return max(uniform, all[(len(all)-1)/2]+2*uniform)
}
