package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every taonet metric.
const Namespace = "taonet"

// NewRegistry returns a fresh registry for one process, holding the Go
// runtime's, the process's (CPU, memory, open files) and the build's
// standard collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// Ready registers taonet_ready, 1 while ready reports true and 0 otherwise,
// so a dashboard shows the same readiness as /readyz and gRPC health.
func Ready(reg prometheus.Registerer, ready func() bool) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "ready",
		Help: "1 while the process is ready (gRPC health SERVING, /readyz 200), else 0.",
	}, func() float64 {
		if ready() {
			return 1
		}
		return 0
	}))
}
