// Package exchange is the wire side of the Peer service that both the
// peers and the coordinator use: tensors sent whole or in chunks and
// reassembled with their declared size checked first (stream.go), and the
// client of Forward and Backward streams that sends a batch set to a peer
// and gathers its answers (client.go), and the Peer service's codec, which
// moves tensor data without the protobuf copy (codec.go, answer.go,
// gather.go, receiver.go).
package exchange
