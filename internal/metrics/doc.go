// Package metrics holds what the coordinator's and the peers' Prometheus
// metrics share: a registry per process (never the global default, so one
// test binary can run several processes), the gRPC server's calls by
// service, method and code, and the bytes and batches of the Forward and
// Backward exchange by peer.
//
// Every metric is named taonet_* with its unit in the name (_seconds,
// _bytes, _rao, _ratio) and _total on counters. Labels stay bounded: a
// peer label holds an identity of the network (as many as the network has
// peers), other labels a fixed set of values; nothing is labelled by
// batch, round or address.
package metrics
