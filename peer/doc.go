// Package peer is the peer process: enrollment client, the Peer gRPC
// service, round participation and checkpoints.
package peer
