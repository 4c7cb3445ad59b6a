package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/taonet/taonet/certs"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// summary is what `demo rounds` read from the coordinator before the
// network stopped, for `demo table`.
type summary struct {
	Rounds []roundSummary         `json:"rounds"` // settled and aborted, oldest first
	Peers  map[string]peerSummary `json:"peers"`  // by name
	Supply supplySummary          `json:"supply"`
}

// roundSummary is one closed round.
type roundSummary struct {
	Number      uint64                 `json:"number"`
	State       string                 `json:"state"` // settled or aborted
	EmissionRao uint64                 `json:"emission_rao"`
	Evaluations map[string]evalSummary `json:"evaluations"` // by peer name
}

// evalSummary is one peer's evaluation in a round.
type evalSummary struct {
	Loss      float64 `json:"loss"`
	Accuracy  float64 `json:"accuracy"`
	Weight    float64 `json:"weight"`
	Status    string  `json:"status"` // scored, timeout, invalid, duplicate
	PayoutRao uint64  `json:"payout_rao"`
}

// peerSummary is a peer's ledger account.
type peerSummary struct {
	Identity   string `json:"identity"`
	BalanceRao uint64 `json:"balance_rao"`
}

// supplySummary is the ledger's supply.
type supplySummary struct {
	MintedRao        uint64 `json:"minted_rao"`
	CapRao           uint64 `json:"cap_rao"`
	EmissionRao      uint64 `json:"emission_rao"`
	NextHalvingAtRao uint64 `json:"next_halving_at_rao"`
}

// newRoundSummary keeps what the table needs of a closed round.
func newRoundSummary(r *taonetv1.Round) roundSummary {
	s := roundSummary{
		Number: r.GetNumber(), EmissionRao: r.GetEmissionRao(),
		State:       strings.ToLower(strings.TrimPrefix(r.GetState().String(), "ROUND_STATE_")),
		Evaluations: map[string]evalSummary{},
	}
	for _, e := range r.GetEvaluations() {
		s.Evaluations[nameOf(e.GetIdentity())] = evalSummary{
			Loss: e.GetLoss(), Accuracy: e.GetAccuracy(), Weight: e.GetWeight(), PayoutRao: e.GetPayoutRao(),
			Status: strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "EVALUATION_STATUS_")),
		}
	}
	return s
}

// nameOf is the name in a SPIFFE identity (alice of .../peer/alice), or
// the identity itself when it has none.
func nameOf(identity string) string {
	id, err := certs.ParseID(identity)
	if err != nil || id.Name == "" {
		return identity
	}
	return id.Name
}

// collectLedger adds every account's balance and the supply to s.
func collectLedger(ctx context.Context, cc grpc.ClientConnInterface, s *summary) error {
	ledger := taonetv1.NewLedgerClient(cc)
	s.Peers = map[string]peerSummary{}
	token := ""
	for {
		resp, err := ledger.ListAccounts(ctx, &taonetv1.ListAccountsRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		for _, b := range resp.GetAccounts() {
			s.Peers[nameOf(b.GetAccount())] = peerSummary{Identity: b.GetAccount(), BalanceRao: b.GetRao()}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	sup, err := ledger.GetSupply(ctx, &taonetv1.GetSupplyRequest{})
	if err != nil {
		return fmt.Errorf("get supply: %w", err)
	}
	s.Supply = supplySummary{MintedRao: sup.GetMintedRao(), CapRao: sup.GetCapRao(),
		EmissionRao: sup.GetEmissionRao(), NextHalvingAtRao: sup.GetNextHalvingAtRao()}
	return nil
}

// write saves s as JSON at path.
func (s *summary) write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// readSummary reads what write saved.
func readSummary(path string) (*summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read summary %s: %w", path, err)
	}
	return &s, nil
}

// tao writes rao as TAO with all nine decimals: 1.250000000.
func tao(rao uint64) string {
	return fmt.Sprintf("%d.%09d", rao/1e9, rao%1e9)
}
