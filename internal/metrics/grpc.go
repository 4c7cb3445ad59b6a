package metrics

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// NewServerMetrics registers the gRPC server metrics of
// go-grpc-middleware's Prometheus provider under the taonet namespace and
// returns them; their interceptors go first in the server's chain, so that
// calls refused by authentication or rate limits are counted with their
// codes:
//
//	taonet_grpc_server_started_total{grpc_type, grpc_service, grpc_method}
//	taonet_grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}
//	taonet_grpc_server_msg_received_total{grpc_type, grpc_service, grpc_method}
//	taonet_grpc_server_msg_sent_total{grpc_type, grpc_service, grpc_method}
//
// Methods are those the server registers (an unknown method never reaches
// an interceptor), so the labels are bounded.
//
// There are no client-side equivalents: the provider counts a client's
// stream when it reads the stream's end, and the exchange's Forward client
// returns once every batch is answered, without reading it, so every
// successful Forward would go uncounted.
func NewServerMetrics(reg prometheus.Registerer) *grpcprom.ServerMetrics {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerCounterOptions(grpcprom.WithNamespace(Namespace)))
	reg.MustRegister(m)
	return m
}
