package peer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/metrics"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Teachers is the client side of the exchange: it sends one batch set to
// many peers at once and gathers what each answers in time. It keeps one
// mutual-TLS connection per peer (identity and address), checking the
// SPIFFE ID of each peer it reaches. Close it when done.
type Teachers struct {
	dialer  *Dialer
	limits  Limits
	metrics *Metrics // set by the Peer that owns it; nil: none

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by identity + " " + address
}

// NewTeachers returns a Teachers dialing with d, chunking and limiting
// tensors as l says.
func NewTeachers(d *Dialer, l Limits) *Teachers {
	return &Teachers{dialer: d, limits: l, conns: map[string]*grpc.ClientConn{}}
}

// TeacherAnswer is one peer's answer: Logits on success, else Err.
type TeacherAnswer struct {
	Identity string
	Logits   []float32
	Elapsed  time.Duration
	Err      error
}

// client returns a Peer client for info, dialing it once.
func (t *Teachers) client(info *taonetv1.PeerInfo) (taonetv1.PeerClient, error) {
	key := info.GetIdentity() + " " + info.GetAddress()
	t.mu.Lock()
	defer t.mu.Unlock()
	if conn, ok := t.conns[key]; ok {
		return taonetv1.NewPeerClient(conn), nil
	}
	conn, err := t.dialer.Dial(info,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(t.limits.MaxMessageBytes), grpc.MaxCallSendMsgSize(t.limits.MaxMessageBytes)),
		grpc.WithStatsHandler(t.metrics.exchangeMetrics().ClientHandler(info.GetIdentity())))
	if err != nil {
		return nil, err
	}
	t.conns[key] = conn
	return taonetv1.NewPeerClient(conn), nil
}

// Forward sends call to every peer at once, each with its own deadline of
// timeout, and returns one answer per peer in the order given: logits for
// those that answered every batch in time, an error for the others.
func (t *Teachers) Forward(ctx context.Context, peers []*taonetv1.PeerInfo, call exchange.Call, timeout time.Duration) []TeacherAnswer {
	if call.ChunkBytes == 0 {
		call.ChunkBytes = t.limits.ChunkBytes
	}
	if call.Limit == 0 {
		call.Limit = t.limits.MaxTensorBytes
	}
	out := make([]TeacherAnswer, len(peers))
	if prepared, err := call.Prepared(); err == nil {
		call = prepared // encoded once for every teacher
	}
	var wg sync.WaitGroup
	for i, info := range peers {
		out[i].Identity = info.GetIdentity()
		wg.Go(func() {
			c, err := t.client(info)
			if err != nil {
				out[i].Err = err
				return
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := exchange.Forward(ctx, c, call)
			if err != nil {
				out[i].Err = fmt.Errorf("forward to %s: %w", info.GetIdentity(), err)
				return
			}
			out[i].Logits, out[i].Elapsed = res.Logits, res.Elapsed
			t.metrics.exchangeMetrics().AddBatches(metrics.RPCForward, metrics.RoleClient, info.GetIdentity(), call.Batches())
		})
	}
	wg.Wait()
	return out
}

// Backward sends grads of round to one peer and returns its summary.
func (t *Teachers) Backward(ctx context.Context, info *taonetv1.PeerInfo, round uint64, classes int, grads []exchange.Gradient) (*taonetv1.BackwardSummary, error) {
	c, err := t.client(info)
	if err != nil {
		return nil, err
	}
	sum, err := exchange.Backward(ctx, c, round, classes, t.limits.ChunkBytes, grads)
	if err != nil {
		return nil, fmt.Errorf("backward to %s: %w", info.GetIdentity(), err)
	}
	if !sum.GetDisabled() {
		t.metrics.exchangeMetrics().AddBatches(metrics.RPCBackward, metrics.RoleClient, info.GetIdentity(), len(grads))
	}
	return sum, nil
}

// Close closes every connection.
func (t *Teachers) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.conns {
		_ = c.Close()
		delete(t.conns, k)
	}
	return nil
}
