package peer

import taonetv1 "github.com/taonet/taonet/proto/taonet/v1"

// OpenRound makes p act as if the coordinator had opened round r (tests of
// the exchange run without the scheduler).
func OpenRound(p *Peer, r uint64) {
	p.onEvent(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: &taonetv1.RoundOpened{Round: r}}})
}

// StartEvaluation makes p act as if round r's evaluation had begun.
func StartEvaluation(p *Peer, r uint64) {
	p.onEvent(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_EvaluationStarted{EvaluationStarted: &taonetv1.EvaluationStarted{Round: r}}})
}
