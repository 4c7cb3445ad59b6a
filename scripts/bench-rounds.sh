#!/usr/bin/env bash
# bench-rounds: the coordinator's round overhead (open, evaluate, score,
# settle) with 10, 100 and 500 real peers over mutual-TLS gRPC on loopback,
# answering at once from a cheap fake model, all in one process; then
# memory after 200 rounds against after 20, at 10 and 500 peers, each run in
# its own process. Prints each ratio against a baseline measured in the same
# run (time per peer at N / at 10 peers: at most 1 is linear or better; heap
# in use after 200 rounds / after 20: at most 1.10) and writes
# results/bench-rounds.json. It takes about half an hour on two cores.
#
# Usage: scripts/bench-rounds.sh [flags of internal/benchrounds]
#   e.g. scripts/bench-rounds.sh -peers 10,50 -mem-peers 10 -late 40 -out /tmp/b.json
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

# Every peer holds a listener and two loopback connections (four sockets in
# this one process), and 610 peers run at once.
need=4096
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ]; then
	ulimit -n "$need" 2>/dev/null || true
	[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge "$need" ] || ulimit -n "$hard"
fi
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
	echo "bench-rounds: open-file limit $soft (hard $hard) is below the $need this benchmark needs" >&2
	exit 1
fi

. scripts/bench-env.sh
exec "$GO" run -tags libsqlite3 ./internal/benchrounds -machine "$machine" "$@"
