package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/stats"

	"github.com/taonet/taonet/certs/grpcid"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Values of the rpc, role and direction labels of the exchange metrics.
const (
	RPCForward  = "forward"
	RPCBackward = "backward"
	// RoleServer counts what this process served (its model answering a
	// caller, gradients it received); RoleClient what it asked of others
	// (a student's teachers, the coordinator's evaluation).
	RoleServer = "server"
	RoleClient = "client"
	Sent       = "sent"
	Received   = "received"
)

// Exchange counts the Forward and Backward exchange by peer:
//
//	taonet_exchange_bytes_total{rpc, role, direction, peer}
//	taonet_exchange_batches_total{rpc, role, peer}
//
// Bytes are gRPC message bytes (payload and the 5-byte message header; not
// HTTP/2 or TLS framing), counted by a stats.Handler on the connection, so
// every message counts, also those of calls that fail. Batches are counted
// by the caller of AddBatches: batches answered in full (Forward) and
// gradient batches sent or read (Backward). peer is the other side's
// identity. A nil *Exchange counts nothing.
type Exchange struct {
	bytes   *prometheus.CounterVec
	batches *prometheus.CounterVec
}

// NewExchange registers the exchange metrics with reg.
func NewExchange(reg prometheus.Registerer) *Exchange {
	e := &Exchange{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "exchange_bytes_total",
			Help: "gRPC message bytes of Peer.Forward and Peer.Backward calls, by rpc, by role (server: this process answered; client: it asked), by direction and by the other side's identity.",
		}, []string{"rpc", "role", "direction", "peer"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "exchange_batches_total",
			Help: "Batches exchanged through Peer.Forward (answered in full) and Peer.Backward (gradient batches), by rpc, role and the other side's identity.",
		}, []string{"rpc", "role", "peer"}),
	}
	reg.MustRegister(e.bytes, e.batches)
	return e
}

// AddBatches counts n batches of rpc exchanged with peer in role.
func (e *Exchange) AddBatches(rpc, role, peer string, n int) {
	if e == nil || n <= 0 {
		return
	}
	e.batches.WithLabelValues(rpc, role, peer).Add(float64(n))
}

// Forget drops every series of peer (a revoked identity), so that the
// label sets stay those of the network's identities.
func (e *Exchange) Forget(peer string) {
	if e == nil {
		return
	}
	e.bytes.DeletePartialMatch(prometheus.Labels{"peer": peer})
	e.batches.DeletePartialMatch(prometheus.Labels{"peer": peer})
}

// ServerHandler is the stats.Handler of a Peer server (grpc.StatsHandler):
// it counts the bytes of every Forward and Backward call by the caller's
// identity, read from its verified certificate. Other methods are not
// counted. A nil *Exchange gives a handler that counts nothing.
func (e *Exchange) ServerHandler() stats.Handler { return &bytesHandler{e: e, role: RoleServer} }

// ClientHandler is the stats.Handler of a connection to peer
// (grpc.WithStatsHandler): it counts the bytes of the Forward and
// Backward calls made on it.
func (e *Exchange) ClientHandler(peer string) stats.Handler {
	return &bytesHandler{e: e, role: RoleClient, peer: peer}
}

// bytesHandler counts message bytes of the exchange's calls.
type bytesHandler struct {
	e    *Exchange
	role string
	peer string // the connection's other side; "" on a server (read per call)
}

// callCounters are the two counters of one call, found once in TagRPC.
type callCounters struct{ sent, received prometheus.Counter }

type callCountersKey struct{}

// exchangeRPC is the rpc label of an exchange method.
func exchangeRPC(method string) (string, bool) {
	switch method {
	case taonetv1.Peer_Forward_FullMethodName:
		return RPCForward, true
	case taonetv1.Peer_Backward_FullMethodName:
		return RPCBackward, true
	}
	return "", false
}

func (h *bytesHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	rpc, ok := exchangeRPC(info.FullMethodName)
	if h.e == nil || !ok {
		return ctx
	}
	peer := h.peer
	if peer == "" {
		id, _, err := grpcid.IDFromContext(ctx)
		if err != nil {
			return ctx // no verified certificate: the call is refused anyway
		}
		peer = id.String()
	}
	return context.WithValue(ctx, callCountersKey{}, &callCounters{
		sent:     h.e.bytes.WithLabelValues(rpc, h.role, Sent, peer),
		received: h.e.bytes.WithLabelValues(rpc, h.role, Received, peer),
	})
}

func (h *bytesHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, ok := ctx.Value(callCountersKey{}).(*callCounters)
	if !ok {
		return
	}
	switch p := s.(type) {
	case *stats.InPayload:
		c.received.Add(float64(p.WireLength))
	case *stats.OutPayload:
		c.sent.Add(float64(p.WireLength))
	}
}

func (h *bytesHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (h *bytesHandler) HandleConn(context.Context, stats.ConnStats) {}
