package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// The dashboard's JSON. Amounts are exact decimal TAO strings
// (ledger.FormatTAO): a balance in rao can pass 2^53, past what a
// JavaScript number holds exactly. Times are RFC 3339, UTC.

// dashSummary is GET /api/summary: the network, its newest round, supply.
type dashSummary struct {
	TrustDomain string        `json:"trust_domain"`
	Task        string        `json:"task"`
	Time        time.Time     `json:"time"`
	Round       dashRound     `json:"round"`
	MintedTAO   string        `json:"minted_tao"`
	CapTAO      string        `json:"cap_tao"`
	EmissionTAO string        `json:"emission_tao"`
	Peers       dashPeerTally `json:"peers"`
}

// dashPeerTally counts the directory's peers by state.
type dashPeerTally struct {
	Joined int `json:"joined"`
	Away   int `json:"away"`
	Total  int `json:"total"`
}

// dashRound is one round; the numbers about its peers count all of them.
type dashRound struct {
	Number uint64 `json:"number"`
	// State is open, settled or aborted ("" before the first round);
	// Phase, for the open round, is where this coordinator has it
	// (distill, evaluate).
	State       string    `json:"state"`
	Phase       string    `json:"phase,omitempty"`
	OpenedAt    time.Time `json:"opened_at,omitzero"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
	EmissionTAO string    `json:"emission_tao"`
	// MintedTAO is the supply once the round closed.
	MintedTAO string `json:"minted_tao,omitempty"`
	Evaluated int    `json:"evaluated"`
	Scored    int    `json:"scored"`
	// Evaluations are those of dashHistory.Peers only; Balances holds each
	// of dashHistory.Peers' balance once the round closed (same order).
	Evaluations []dashEvaluation `json:"evaluations,omitempty"`
	BalancesTAO []string         `json:"balances_tao,omitempty"`
}

// dashEvaluation is one peer's result in a round.
type dashEvaluation struct {
	Identity  string  `json:"identity"`
	Status    string  `json:"status"`
	Loss      float64 `json:"loss"`
	Accuracy  float64 `json:"accuracy"`
	Weight    float64 `json:"weight"`
	PayoutTAO string  `json:"payout_tao"`
}

// dashHistory is GET /api/rounds?last=N: the last N rounds, oldest first.
type dashHistory struct {
	Peers  []dashPeerName `json:"peers"`
	Rounds []dashRound    `json:"rounds"`
}

// dashPeerName names a peer of the plots.
type dashPeerName struct {
	Identity string `json:"identity"`
	Name     string `json:"name"`
}

// dashDirectory is GET /api/peers: the directory's peers.
type dashDirectory struct {
	Total int        `json:"total"`
	Peers []dashPeer `json:"peers"`
}

// dashPeer is one peer of the directory. State is joined, away,
// enrolled (never joined), left or revoked.
type dashPeer struct {
	Identity     string    `json:"identity"`
	Name         string    `json:"name"`
	State        string    `json:"state"`
	Address      string    `json:"address,omitempty"`
	Architecture string    `json:"architecture,omitempty"`
	Device       string    `json:"device,omitempty"`
	Parameters   uint64    `json:"parameters,omitempty"`
	EnrolledAt   time.Time `json:"enrolled_at,omitzero"`
	JoinedAt     time.Time `json:"joined_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	BalanceTAO   string    `json:"balance_tao"`
}

// summary answers GET /api/summary.
func (d *dashboard) summary(r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), dashboardTimeout)
	defer cancel()
	db := d.s.home.db
	out := dashSummary{TrustDomain: d.s.home.net.TrustDomain, Task: d.s.home.task.Name, Time: time.Now().UTC(), Round: dashRound{EmissionTAO: "0"}}
	// The newest round with its counts, without reading every peer's
	// evaluation of it.
	h, err := db.History(ctx, 1, 1)
	if err != nil {
		return nil, err
	}
	if len(h.Rounds) > 0 {
		hr := h.Rounds[0]
		hr.Evaluations, hr.Balances = nil, nil
		out.Round = d.round(hr)
	}
	sup, err := db.GetSupply(ctx)
	if err != nil {
		return nil, err
	}
	out.MintedTAO, out.CapTAO, out.EmissionTAO = ledger.FormatTAO(sup.Minted), ledger.FormatTAO(sup.Cap), ledger.FormatTAO(sup.Emission)
	counts, err := db.CountPeers(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range counts {
		out.Peers.Total += n
	}
	// Away peers are active in the ledger; only this process knows them.
	out.Peers.Away = d.s.presence.countAway()
	out.Peers.Joined = max(counts[ledger.StateActive]-out.Peers.Away, 0)
	return out, nil
}

// rounds answers GET /api/rounds?last=N (dashboardRounds by default, at
// most dashboardMaxRounds), with the dashboardPeers largest balances.
func (d *dashboard) rounds(r *http.Request) (any, error) {
	last := dashboardRounds
	if v := r.URL.Query().Get("last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > dashboardMaxRounds {
			return nil, errBadRequest(fmt.Sprintf("last=%q: want a number of rounds from 1 to %d", v, dashboardMaxRounds))
		}
		last = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), dashboardTimeout)
	defer cancel()
	h, err := d.s.home.db.History(ctx, last, dashboardPeers)
	if err != nil {
		return nil, err
	}
	out := dashHistory{Peers: make([]dashPeerName, len(h.Peers)), Rounds: make([]dashRound, len(h.Rounds))}
	for i, id := range h.Peers {
		out.Peers[i] = dashPeerName{Identity: id, Name: id}
		if cid, err := certs.ParseID(id); err == nil {
			out.Peers[i].Name = cid.Name
		}
	}
	for i, hr := range h.Rounds {
		out.Rounds[i] = d.round(hr)
	}
	return out, nil
}

// round converts a round of the ledger, with the phase of the open one.
func (d *dashboard) round(hr ledger.HistoryRound) dashRound {
	r := dashRound{Number: hr.Number, State: string(hr.State), OpenedAt: hr.OpenedAt, ClosedAt: hr.ClosedAt,
		EmissionTAO: ledger.FormatTAO(hr.Emission), Evaluated: hr.Evaluated, Scored: hr.Scored}
	if hr.State == ledger.RoundOpen {
		if st := d.s.state.Get(); st.Round == hr.Number {
			r.Phase = st.Phase
		}
	} else {
		r.MintedTAO = ledger.FormatTAO(hr.Minted)
	}
	for _, e := range hr.Evaluations {
		r.Evaluations = append(r.Evaluations, dashEvaluation{Identity: e.Identity, Status: string(e.Status),
			Loss: e.Loss, Accuracy: e.Accuracy, Weight: e.Weight, PayoutTAO: ledger.FormatTAO(e.Payout)})
	}
	for _, b := range hr.Balances {
		r.BalancesTAO = append(r.BalancesTAO, ledger.FormatTAO(b))
	}
	return r
}

// peers answers GET /api/peers: the first dashboardMaxListed peers of the
// directory, joined and away ones first, with the total.
func (d *dashboard) peers(r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), dashboardTimeout)
	defer cancel()
	listed, total, err := d.s.home.db.ListPeers(ctx, dashboardMaxListed)
	if err != nil {
		return nil, err
	}
	out := dashDirectory{Total: total, Peers: make([]dashPeer, 0, len(listed))}
	for _, p := range listed {
		dp := dashPeer{Identity: p.Identity, Name: p.Name, State: p.State, Address: p.Address, EnrolledAt: p.EnrolledAt,
			JoinedAt: p.JoinedAt, UpdatedAt: p.UpdatedAt, BalanceTAO: ledger.FormatTAO(p.Balance)}
		if p.State == ledger.StateActive {
			dp.State = "joined"
			if d.s.presence.isAway(p.Identity) {
				dp.State = "away"
			}
		}
		card := &taonetv1.ModelCard{}
		if len(p.Card) > 0 && proto.Unmarshal(p.Card, card) == nil {
			dp.Architecture, dp.Device, dp.Parameters = card.GetArchitecture(), card.GetDevice(), card.GetParameters()
		}
		out.Peers = append(out.Peers, dp)
	}
	return out, nil
}
