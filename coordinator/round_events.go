package coordinator

import (
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// closedEvent is the RoundClosed event of a settled round: with the round's
// chain link it is a receipt (package receipt).
func closedEvent(number uint64, valSeed []byte, st *ledger.Settlement, results []Result) *taonetv1.RoundClosed {
	paid := map[string]uint64{}
	for _, p := range st.Payouts {
		paid[p.Account] = p.Rao
	}
	ev := &taonetv1.RoundClosed{Round: number, State: taonetv1.RoundState_ROUND_STATE_SETTLED, ValidationSeed: valSeed, EmissionRao: st.Emission,
		Seed: st.Seed, PreviousHash: st.PreviousHash, Hash: st.Hash, Signature: st.Signature, SignerCertificate: st.Signer}
	for _, r := range results {
		ev.Evaluations = append(ev.Evaluations, &taonetv1.Evaluation{
			Identity: r.Identity, Loss: r.Loss, Accuracy: r.Accuracy, Weight: r.Weight, Shares: r.Shares,
			Status: evalStatus(r.Status), PayoutRao: paid[r.Identity],
		})
	}
	return ev
}

// evalStatus maps a ledger status to the wire enum.
func evalStatus(s ledger.EvaluationStatus) taonetv1.EvaluationStatus {
	switch s {
	case ledger.EvalScored:
		return taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED
	case ledger.EvalTimeout:
		return taonetv1.EvaluationStatus_EVALUATION_STATUS_TIMEOUT
	case ledger.EvalInvalid:
		return taonetv1.EvaluationStatus_EVALUATION_STATUS_INVALID
	case ledger.EvalDuplicate:
		return taonetv1.EvaluationStatus_EVALUATION_STATUS_DUPLICATE
	}
	return taonetv1.EvaluationStatus_EVALUATION_STATUS_UNSPECIFIED
}
