#!/usr/bin/env bash
# bench-flood: what floods do to a real coordinator process. The bench
# builds ./cmd/coordinator into a temporary folder (or takes -coordinator
# BINARY); for each flood and repetition it starts a fresh `coordinator
# serve` (127.0.0.1, ephemeral port, default limits, no rounds) in a home
# there, enrolls two peers, measures the idle process
# (VmRSS, VmHWM, open descriptors, log bytes) and floods it, sampling those
# every 25ms while a legitimate peer times ListPeers on fresh connections
# from 127.0.0.254:
#   health-watch-anon  150,000 health Watch streams without a certificate
#   health-watch-peer    5,000 health Watch streams with a peer certificate
#   coordinator-watch   59,000 Coordinator/Watch streams from one peer
#   idle-conns          21,000 idle TCP connections from 127.0.0.1-3
#   renew                4,000 Renew calls from one peer
#   enroll               5,000 Enroll calls, garbage tokens, 200 sources
# 3 repetitions, flood order rotated each time. Prints what was accepted
# and refused (by gRPC code), peak / idle of the same process for RSS and
# descriptors, log bytes added and the legitimate calls' latency, and
# writes results/bench-flood.json. About four minutes on two cores;
# everything stays on loopback and the temporary folder is removed.
#
# Usage: scripts/bench-flood.sh [flags of internal/benchflood]
#   e.g. scripts/bench-flood.sh -health-watches 20000 -conns 3000 -out /tmp/f.json
#        scripts/bench-flood.sh -coordinator bin/coordinator   (a binary from make build)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
. scripts/bench-env.sh
mkdir -p results
exec "$GO" run -tags libsqlite3 ./internal/benchflood -machine "$machine" -commit "$commit" "$@"
