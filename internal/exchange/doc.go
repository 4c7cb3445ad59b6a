// Package exchange is the wire side of the Peer service that both the
// peers and the coordinator use: tensors sent whole or in chunks and
// reassembled with their declared size checked first (stream.go), and the
// client of a Forward stream that sends a batch set to a peer and gathers
// its answers (client.go).
package exchange
