#!/usr/bin/env bash
# gpu-carry-torch.sh: fill .carry/ (git-ignored) with what scripts/gpu-check.sh
# needs on a GPU machine that has PyTorch but no Go: bin/peer as .carry/peer,
# the distill/torch test binary as .carry/torch.test (stripped), and, unless
# CARRY_DATA=0, the Fashion-MNIST files as .carry/data/. The shim source and
# scripts travel with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
data=${TAONET_DATA:-/usr/share/datasets/fashion-mnist}
mkdir -p .carry
"$go" build -tags libsqlite3 -ldflags '-s -w' -o .carry/peer ./cmd/peer
"$go" test -c -tags libsqlite3 -ldflags '-s -w' -o .carry/torch.test ./distill/torch
if [ "${CARRY_DATA:-1}" != 0 ]; then
  mkdir -p .carry/data
  cp "$data"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz .carry/data/
fi
du -sh .carry
echo "gpu-carry: on the GPU machine run: bash scripts/gpu-check.sh (with OUT set)"
