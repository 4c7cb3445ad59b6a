package peer

import (
	"slices"

	"github.com/taonet/taonet/internal/exchange"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// OpenRound makes p act as if the coordinator had opened round r (tests of
// the exchange run without the scheduler).
func OpenRound(p *Peer, r uint64) {
	p.onEvent(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: &taonetv1.RoundOpened{Round: r}}})
}

// StartEvaluation makes p act as if round r's evaluation had begun.
func StartEvaluation(p *Peer, r uint64) {
	p.onEvent(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_EvaluationStarted{EvaluationStarted: &taonetv1.EvaluationStarted{Round: r}}})
}

// DeliverRound makes p act as if the coordinator had sent ev on Watch.
func DeliverRound(p *Peer, ev *taonetv1.RoundOpened) {
	p.onEvent(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: ev}})
}

// BatchGradients cuts g, one row of classes values per transfer row, into
// the gradients of a round's Forward call of rows rows in batches of batch
// whose hidden-check rows are at positions hidden.
func BatchGradients(rows, batch, classes int, hidden []int, g []float32) []exchange.Gradient {
	plan := roundPlan{call: exchange.Call{Classes: classes, Batch: batch, FirstBatch: 1}, hidden: hidden}
	for r := range rows {
		if !slices.Contains(hidden, r) {
			plan.transfer = append(plan.transfer, r)
		}
	}
	return batchGradients(plan, g)
}

// Assemble feeds a RoundOpened and its parts, in the order given, to a
// fresh assembler and returns the rounds it completes and the errors.
func Assemble(events []*taonetv1.WatchResponse) (done []*taonetv1.RoundOpened, errs []error) {
	var o opening
	for _, ev := range events {
		if r := ev.GetRoundOpened(); r != nil {
			if whole := o.start(r); whole != nil {
				done = append(done, whole)
			}
			continue
		}
		whole, err := o.add(ev.GetRoundOpenedPart())
		if err != nil {
			errs = append(errs, err)
		}
		if whole != nil {
			done = append(done, whole)
		}
	}
	return done, errs
}

// KeepReceipt hands p a RoundClosed event as its Watch stream would.
func KeepReceipt(p *Peer, ev *taonetv1.RoundClosed) error { return p.receipts.keep(ev) }
