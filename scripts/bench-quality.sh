#!/usr/bin/env bash
# bench-quality: how well peers with Dirichlet-skewed Fashion-MNIST shards
# learn under each method, on the same splits: local-only, taonet
# federated distillation (with and without Backward gradients, and with
# two adversaries), FedAvg and centralized training. See
# internal/benchquality for what each method runs.
#
# The default run is what the README's results table shows, in three
# passes over one folder of finished cells (build/bench-quality), so an
# interrupted run continues where it stopped when started again:
#   1. mlp: 3 seeds, alpha 0.1 and 0.5, every method, 10 peers, 30 rounds;
#   2. cnn: 1 seed, alpha 0.1 and 0.5, local / taonet / FedAvg / centralized;
#   3. mixed (5 mlp + 5 cnn): 1 seed, alpha 0.1 and 0.5, local / taonet.
# About 45 minutes on 2 CPU cores (the cnn passes dominate); minutes on a
# GPU with DEVICE=cuda, where SEEDS_CNN=1,2,3 is affordable.
#
# QUICK=1 runs a smoke test instead (5 peers, 5 rounds, one seed, mlp,
# alpha 0.1; about a minute) and writes build/bench-quality-quick.*.
# Extra arguments go to every pass, e.g. -rounds 10 or -workers 1.
#
# Settings: torch threads 1 per process (THREADS), WORKERS cells at once
# (2), glibc malloc, OpenBLAS threads = torch threads.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
. scripts/bench-env.sh
threads=${THREADS:-1} workers=${WORKERS:-2} device=${DEVICE:-cpu}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
bin=$(mktemp -d)/benchquality
trap 'rm -rf "$(dirname "$bin")"' EXIT
"$GO" build -tags libsqlite3 -o "$bin" ./internal/benchquality
common=(-machine "$machine" -commit "$commit" -threads "$threads" -workers "$workers" -device "$device")
if [ -n "${QUICK:-}" ]; then
  exec "$bin" -quick "${common[@]}" "$@"
fi
mkdir -p results
"$bin" "${common[@]}" -archs mlp -seeds "${SEEDS_MLP:-1,2,3}" "$@"
"$bin" "${common[@]}" -archs cnn -seeds "${SEEDS_CNN:-1}" -methods local,taonet,fedavg,central "$@"
"$bin" "${common[@]}" -archs mixed -seeds "${SEEDS_MIXED:-1}" -methods local,taonet "$@"
