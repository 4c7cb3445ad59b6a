package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/taonet/taonet/peer"
)

// limitFlags declares a flag on cmd for every field of peer.Limits, with
// def's values as defaults. The function it returns gives the limits the
// flags set; peer.Limits.Validate checks them when the peer starts, and the
// function itself refuses a --call-rate that is not a finite number, which
// Validate cannot see.
func limitFlags(cmd *cobra.Command, def peer.Limits) func() (peer.Limits, error) {
	l := def
	f := cmd.Flags()
	f.IntVar(&l.MaxBatch, "max-batch", def.MaxBatch, "most rows a caller may send in one Forward batch")
	f.Uint64Var(&l.MaxTensorBytes, "max-tensor-bytes", def.MaxTensorBytes, "largest tensor (bytes) a caller may declare; a larger one is refused before anything is allocated")
	f.IntVar(&l.ChunkBytes, "chunk-bytes", def.ChunkBytes, "most tensor bytes in one message (larger tensors travel in chunks); at least 4 KiB under --max-message-bytes")
	f.IntVar(&l.MaxMessageBytes, "max-message-bytes", def.MaxMessageBytes, "largest gRPC message (bytes) received or sent")
	f.Uint32Var(&l.MaxStreams, "max-streams", def.MaxStreams, "most concurrent calls on one connection")
	f.IntVar(&l.InFlight, "in-flight", def.InFlight, "decoded batches one Forward stream may queue ahead of the model before the peer stops reading it")
	f.IntVar(&l.StreamBatches, "stream-batches", def.StreamBatches, "most batches one Forward stream may send")
	callRate := f.Float64("call-rate", float64(def.CallRate), "new calls per second one identity may make")
	f.IntVar(&l.CallBurst, "call-burst", def.CallBurst, "new calls one identity may make at once")
	f.IntVar(&l.RecordBytes, "record-bytes", def.RecordBytes, "bytes of answered inputs kept per round for Backward (gradients of batches not kept are refused)")
	f.DurationVar(&l.KeepaliveTime, "keepalive-time", def.KeepaliveTime, "ping a connection idle this long")
	f.DurationVar(&l.KeepaliveTimeout, "keepalive-timeout", def.KeepaliveTimeout, "close a connection that does not answer a ping within this long")
	f.DurationVar(&l.HandshakeTimeout, "handshake-timeout", def.HandshakeTimeout, "deadline of a new connection's TLS handshake")
	f.IntVar(&l.MaxConns, "max-conns", def.MaxConns, "most connections open at once; more are closed as soon as accepted")
	f.IntVar(&l.MaxConnsPerHost, "max-conns-per-host", def.MaxConnsPerHost, "most connections open at once from one source IP address")
	f.DurationVar(&l.IdleTimeout, "idle-timeout", def.IdleTimeout, "close connections with no call open this long")
	return func() (peer.Limits, error) {
		if math.IsNaN(*callRate) || math.IsInf(*callRate, 0) {
			return peer.Limits{}, fmt.Errorf("--call-rate %v: want a positive number of calls per second", *callRate)
		}
		l.CallRate = rate.Limit(*callRate)
		return l, nil
	}
}
