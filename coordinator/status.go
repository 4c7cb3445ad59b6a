package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/ledger"
)

// Status is what `coordinator status` shows of a home, as JSON with
// --json; a dashboard can serve the same (Server.Status).
type Status struct {
	Home        string               `json:"home"`
	TrustDomain string               `json:"trust_domain"`
	Task        string               `json:"task"`
	CAPin       string               `json:"ca_pin"`
	Certificate runstate.Certificate `json:"certificate"`
	Process     runstate.Process     `json:"process"`
	Round       RoundStatus          `json:"round"`
	// LastSettled is the newest settled round (nil before the first).
	LastSettled *SettledStatus  `json:"last_settled,omitempty"`
	Supply      SupplyStatus    `json:"supply"`
	ActivePeers int             `json:"active_peers"`
	Balances    []BalanceStatus `json:"balances"`
}

// RoundStatus is the newest round: its state in the ledger (open,
// settled, aborted; "" before the first round) and, while the coordinator
// runs, the phase it last published (runstate.Phase*).
type RoundStatus struct {
	Number   uint64    `json:"number"`
	State    string    `json:"state,omitempty"`
	Phase    string    `json:"phase,omitempty"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// SettledStatus is a settled round's results.
type SettledStatus struct {
	Number      uint64             `json:"number"`
	ClosedAt    time.Time          `json:"closed_at"`
	EmissionRao uint64             `json:"emission_rao"`
	Evaluations []EvaluationStatus `json:"evaluations"`
}

// EvaluationStatus is one peer's result in a settled round.
type EvaluationStatus struct {
	Identity  string  `json:"identity"`
	Status    string  `json:"status"`
	Loss      float64 `json:"loss"`
	Accuracy  float64 `json:"accuracy"`
	Weight    float64 `json:"weight"`
	PayoutRao uint64  `json:"payout_rao"`
}

// SupplyStatus is the ledger's supply and emission schedule, in rao.
type SupplyStatus struct {
	MintedRao   uint64 `json:"minted_rao"`
	CapRao      uint64 `json:"cap_rao"`
	EmissionRao uint64 `json:"emission_rao"`
}

// BalanceStatus is one account's balance.
type BalanceStatus struct {
	Account string `json:"account"`
	Rao     uint64 `json:"rao"`
}

// statusBalances is how many of the largest balances a status lists.
const statusBalances = 10

// ReadStatus reads the status of the coordinator home dir without writing
// anything and without the home's lock, so it works beside a running
// coordinator: the ledger opened read-only, ca.pem, coordinator.pem and
// the state file the running coordinator keeps (internal/runstate).
func ReadStatus(ctx context.Context, dir string) (*Status, error) {
	db, err := ledger.OpenReadOnly(ctx, filepath.Join(dir, DatabaseFile))
	if err != nil {
		return nil, fmt.Errorf("status of %s (run coordinator init first?): %w", dir, err)
	}
	defer db.Close()
	proc, st := runstate.ReadProcess(dir)
	return readStatus(ctx, db, dir, proc, st)
}

// Status is the running server's status, as ReadStatus reads it from the
// home, with the live readiness.
func (s *Server) Status(ctx context.Context) (*Status, error) {
	st := s.state.Get()
	proc := runstate.Process{Running: true, PID: st.PID, Ready: s.ready.Ready(), Listen: st.Listen, HTTP: st.HTTP,
		Started: st.Started, Updated: st.Updated}
	return readStatus(ctx, s.home.db, s.cfg.Home, proc, st)
}

// readStatus fills a Status from db and the home's files.
func readStatus(ctx context.Context, db *ledger.DB, dir string, proc runstate.Process, st runstate.State) (*Status, error) {
	net, err := db.Network(ctx)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", dir, err)
	}
	out := &Status{Home: dir, TrustDomain: net.TrustDomain, Task: net.Task, Process: proc, Balances: []BalanceStatus{}}
	ca, err := ReadCA(dir)
	if err != nil {
		return nil, err
	}
	out.CAPin = certs.Pin(ca)
	if out.Certificate, err = runstate.ReadCertificate(filepath.Join(dir, CertFile), time.Now()); err != nil {
		return nil, err
	}
	if err := roundStatus(ctx, db, out); err != nil {
		return nil, err
	}
	if proc.Running && st.Round == out.Round.Number {
		out.Round.Phase = st.Phase
	}
	sup, err := db.GetSupply(ctx)
	if err != nil {
		return nil, err
	}
	out.Supply = SupplyStatus{MintedRao: sup.Minted, CapRao: sup.Cap, EmissionRao: sup.Emission}
	peers, err := activePeers(ctx, db)
	if err != nil {
		return nil, err
	}
	out.ActivePeers = len(peers)
	accounts, _, err := db.ListAccounts(ctx, ledger.Page{Size: statusBalances})
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		out.Balances = append(out.Balances, BalanceStatus{Account: a.Account, Rao: a.Rao})
	}
	return out, nil
}

// roundStatus fills the newest round and the newest settled one (looking
// back at most 100 rounds: a longer run of aborted rounds shows none).
func roundStatus(ctx context.Context, db *ledger.DB, out *Status) error {
	last, err := db.LastRound(ctx)
	if err != nil || last == 0 {
		return err
	}
	for n := last; n > 0 && n+100 > last; n-- {
		r, err := db.GetRound(ctx, n)
		if err != nil {
			return err
		}
		if n == last {
			out.Round = RoundStatus{Number: n, State: string(r.State), OpenedAt: r.OpenedAt, ClosedAt: r.ClosedAt}
		}
		if r.State != ledger.RoundSettled {
			continue
		}
		s := &SettledStatus{Number: n, ClosedAt: r.ClosedAt, EmissionRao: r.Emission, Evaluations: []EvaluationStatus{}}
		for _, e := range r.Evaluations {
			s.Evaluations = append(s.Evaluations, EvaluationStatus{Identity: e.Identity, Status: string(e.Status),
				Loss: e.Loss, Accuracy: e.Accuracy, Weight: e.Weight, PayoutRao: e.Payout})
		}
		out.LastSettled = s
		return nil
	}
	return nil
}
