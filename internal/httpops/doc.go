// Package httpops is the operations HTTP server of a taonet process
// (coordinator serve, peer join --http ADDR): /metrics in the Prometheus
// text format from the process's own registry, /healthz (200 while the
// process runs) and /readyz (200 only while the process says it is ready,
// 503 with the reason otherwise).
//
// The server binds to loopback unless told otherwise: CheckAddr refuses a
// host that is not a loopback address (127.0.0.0/8, ::1, "localhost") or
// that is empty (every interface) unless Config.Public is set, because
// metrics name every peer and its scores and balances.
//
// More handlers mount with Handle before or while the server runs (the
// dashboard mounts "/" and JSON endpoints under "/api/"); the three
// endpoints above are registered as "GET /metrics", "GET /healthz" and
// "GET /readyz", which are more specific than "/" and so never conflict
// with it. Serve returns when its context ends, after a graceful shutdown
// bounded by Config.ShutdownGrace.
package httpops
