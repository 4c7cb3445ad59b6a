package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/runstate"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// StatusConfig configures ReadStatus.
type StatusConfig struct {
	// Home is the peer's home folder.
	Home string
	// Coordinator is the coordinator's HOST:PORT; empty means the address
	// the peer last ran with (its state file).
	Coordinator string
	// Timeout bounds the calls to the coordinator; DefaultStatusTimeout
	// when 0.
	Timeout time.Duration
}

// DefaultStatusTimeout bounds a status's calls to the coordinator.
const DefaultStatusTimeout = 5 * time.Second

// Status is what `peer status` shows of a home, as JSON with --json; a
// dashboard can serve the same (Peer.Status).
type Status struct {
	Home        string               `json:"home"`
	Certificate runstate.Certificate `json:"certificate"`
	CAPin       string               `json:"ca_pin"`
	Process     runstate.Process     `json:"process"`
	Advertise   string               `json:"advertise,omitempty"`
	// Round and Phase are the last round the peer saw an event of and where
	// it stood (runstate.Phase*), from its state file.
	Round uint64 `json:"round"`
	Phase string `json:"phase,omitempty"`
	// Student is the peer's last round as a student (nil before one).
	Student     *runstate.Student  `json:"last_student_round,omitempty"`
	Coordinator CoordinatorStatus  `json:"coordinator"`
	Receipts    ReceiptsStatus     `json:"receipts"`
	Checkpoints []CheckpointStatus `json:"checkpoints"`
}

// CoordinatorStatus is what the coordinator says of this peer, asked over
// mutual TLS with the peer's certificate. When it cannot be reached,
// Reachable is false and Error says why; the other fields are empty.
type CoordinatorStatus struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Round is the network's newest round and its state (open, settled,
	// aborted).
	Round      uint64 `json:"round,omitempty"`
	RoundState string `json:"round_state,omitempty"`
	// LastScore is this peer's evaluation in the newest settled round of
	// the last ten that has one.
	LastScore  *ScoreStatus `json:"last_score,omitempty"`
	BalanceRao uint64       `json:"balance_rao"`
}

// ScoreStatus is this peer's evaluation in one settled round.
type ScoreStatus struct {
	Round     uint64  `json:"round"`
	Status    string  `json:"status"`
	Loss      float64 `json:"loss"`
	Accuracy  float64 `json:"accuracy"`
	Weight    float64 `json:"weight"`
	PayoutRao uint64  `json:"payout_rao"`
}

// ReceiptsStatus summarises receipts.jsonl.
type ReceiptsStatus struct {
	Count     int    `json:"count"`
	LastRound uint64 `json:"last_round,omitempty"`
	LastHash  string `json:"last_hash,omitempty"`
	Error     string `json:"error,omitempty"`
}

// CheckpointStatus is one model checkpoint in the home.
type CheckpointStatus struct {
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Modified time.Time `json:"modified"`
}

// ReadStatus reads the status of a peer home without writing anything and
// without the home's lock, so it works beside a running peer: cert.pem,
// ca.pem, receipts.jsonl, the checkpoints and the state file the running
// peer keeps, then asks the coordinator over mutual TLS (GetRound,
// ListRounds, GetBalance). A coordinator it cannot reach is reported in
// Status.Coordinator, not as an error; an error means the home itself
// cannot be read (no certificate: not enrolled).
func ReadStatus(ctx context.Context, cfg StatusConfig) (*Status, error) {
	proc, st := runstate.ReadProcess(cfg.Home)
	out, id, err := localStatus(cfg.Home, proc, st)
	if err != nil {
		return nil, err
	}
	addr := cfg.Coordinator
	if addr == "" {
		addr = st.Coordinator
	}
	out.Coordinator.Address = addr
	if addr == "" {
		out.Coordinator.Error = "no coordinator address: the peer never ran in this home; pass --coordinator"
		return out, nil
	}
	td := id.src.ID().TrustDomain
	conn, err := grpc.NewClient(addr, grpcCreds(certs.MTLSClientConfig(id.src, id.pool, certs.AuthorizeID(certs.CoordinatorID(td)))))
	if err != nil {
		out.Coordinator.Error = err.Error()
		return out, nil
	}
	defer conn.Close()
	askCoordinator(ctx, conn, id.src.ID().String(), cfg.Timeout, &out.Coordinator)
	return out, nil
}

// Status is the running peer's status, as ReadStatus reads it, with the
// live readiness and the peer's own connection to the coordinator.
func (p *Peer) Status(ctx context.Context) (*Status, error) {
	st := p.state.Get()
	proc := runstate.Process{Running: true, PID: st.PID, Ready: p.server.Readiness.Ready(), Listen: st.Listen, HTTP: st.HTTP,
		Started: st.Started, Updated: st.Updated}
	out, _, err := localStatus(p.cfg.Home, proc, st)
	if err != nil {
		return nil, err
	}
	out.Coordinator.Address = p.cfg.Coordinator
	askCoordinator(ctx, p.coord.current(), p.ID().String(), 0, &out.Coordinator)
	return out, nil
}

// localStatus reads what the home itself holds.
func localStatus(home string, proc runstate.Process, st runstate.State) (*Status, *identity, error) {
	if _, err := os.Stat(filepath.Join(home, CertFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("status of %s: %w", home, ErrNotEnrolled)
	}
	id, err := loadIdentity(home)
	if err != nil {
		return nil, nil, fmt.Errorf("status of %s: %w", home, err)
	}
	out := &Status{Home: home, CAPin: certs.Pin(id.ca), Process: proc, Advertise: st.Advertise,
		Round: st.Round, Phase: st.Phase, Student: st.Student, Checkpoints: []CheckpointStatus{}}
	if out.Certificate, err = runstate.ReadCertificate(filepath.Join(home, CertFile), time.Now()); err != nil {
		return nil, nil, err
	}
	kept, err := ReadReceipts(filepath.Join(home, ReceiptsFile))
	switch {
	case err == nil && len(kept) > 0:
		last := kept[len(kept)-1]
		out.Receipts = ReceiptsStatus{Count: len(kept), LastRound: last.Round, LastHash: last.Hash}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		out.Receipts.Error = err.Error()
	}
	ckpts, _ := filepath.Glob(CheckpointPath(home, "*"))
	for _, c := range ckpts {
		if fi, err := os.Stat(c); err == nil {
			out.Checkpoints = append(out.Checkpoints, CheckpointStatus{Path: c, Bytes: fi.Size(), Modified: fi.ModTime()})
		}
	}
	return out, id, nil
}

// askCoordinator fills c from the coordinator on conn, as identity; a
// failed call leaves Reachable false and the error in c.Error.
func askCoordinator(ctx context.Context, conn grpc.ClientConnInterface, identity string, timeout time.Duration, c *CoordinatorStatus) {
	if timeout <= 0 {
		timeout = DefaultStatusTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	coord := taonetv1.NewCoordinatorClient(conn)
	latest, err := coord.GetRound(ctx, &taonetv1.GetRoundRequest{})
	if err != nil && !notFound(err) {
		c.Error = err.Error()
		return
	}
	c.Reachable = true
	if r := latest.GetRound(); r != nil {
		c.Round, c.RoundState = r.GetNumber(), enumName(r.GetState().String(), "ROUND_STATE_")
	}
	rounds, err := coord.ListRounds(ctx, &taonetv1.ListRoundsRequest{PageSize: 10})
	if err != nil {
		c.Error = fmt.Sprintf("list rounds: %v", err)
		return
	}
	c.LastScore = lastScore(rounds.GetRounds(), identity)
	bal, err := taonetv1.NewLedgerClient(conn).GetBalance(ctx, &taonetv1.GetBalanceRequest{})
	if err != nil {
		c.Error = fmt.Sprintf("balance: %v", err)
		return
	}
	c.BalanceRao = bal.GetBalance().GetRao()
}

// lastScore is identity's evaluation in the newest settled round of
// rounds (newest first) that has one.
func lastScore(rounds []*taonetv1.Round, identity string) *ScoreStatus {
	for _, r := range rounds {
		if r.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
			continue
		}
		for _, e := range r.GetEvaluations() {
			if e.GetIdentity() == identity {
				return &ScoreStatus{Round: r.GetNumber(), Status: enumName(e.GetStatus().String(), "EVALUATION_STATUS_"),
					Loss: e.GetLoss(), Accuracy: e.GetAccuracy(), Weight: e.GetWeight(), PayoutRao: e.GetPayoutRao()}
			}
		}
	}
	return nil
}

// enumName is a proto enum value's name without its prefix, in lower case.
func enumName(name, prefix string) string { return strings.ToLower(strings.TrimPrefix(name, prefix)) }

func grpcCreds(conf *tls.Config) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(conf))
}

// notFound reports a NotFound status: GetRound before the first round.
func notFound(err error) bool { return status.Code(err) == codes.NotFound }
