#!/usr/bin/env bash
# bench-transport: the Forward exchange on loopback with mutual TLS 1.3, in
# one run: for answers of 1,280 bytes (a small classifier's batch) and of
# 64 KiB to 4 MiB (a 16,384-class output), a whole Forward exchange as a
# peer runs it (Teachers.Forward against a real Peer server of a fake
# model), beside a plain TLS 1.3 socket copying the same bytes (the
# physical limit here) and beside the same exchange as one RPC per batch;
# then top-k answer bytes beside full float32 logits. The three sides are
# interleaved within every repetition (order rotated), each figure is
# reported as min/median/max, and the ratios use the medians.
#
# Prints the table and writes results/bench-transport.json.
#
# Usage: scripts/bench-transport.sh   (REPS=5 MIB=64 INFLIGHT=8 by default;
#        GOMAXPROCS is the Go default, the number of cores, unless set)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
. scripts/bench-env.sh
mkdir -p results
"$GO" run -tags libsqlite3 ./internal/benchtransport \
	-reps "${REPS:-5}" -mib "${MIB:-64}" -inflight "${INFLIGHT:-8}" \
	-machine "$machine" -out results/bench-transport.json
echo "wrote results/bench-transport.json"
