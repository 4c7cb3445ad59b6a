#!/usr/bin/env bash
# build-torch-shim.sh OUT: build the taonet libtorch shim (OUT, default
# build/libtaonet_torch.so) against the libtorch this host has, found in the
# order of DESIGN.md "libtorch engine":
#   1. $LIBTORCH (a libtorch folder with include/ and lib/);
#   2. the libtorch inside an installed PyTorch ($PYTHON, default python3),
#      compiled with PyTorch's own _GLIBCXX_USE_CXX11_ABI;
#   3. Debian's libtorch-dev (/usr/include, /usr/lib/<multiarch>).
# The CUDA libraries are linked whenever libtorch_cuda.so is present.
set -euo pipefail

out=${1:-build/libtaonet_torch.so}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/distill/torch/shim/taonet_torch.cc
python=${PYTHON:-python3}
cxx=${CXX:-g++}

incs=() libdir="" abi="" rpath=() from=""
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/include" ] && [ -d "$LIBTORCH/lib" ] || {
    echo "shim: LIBTORCH=$LIBTORCH has no include/ and lib/" >&2; exit 1; }
  root=$LIBTORCH from="LIBTORCH=$LIBTORCH"
elif root=$("$python" -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null) \
     && [ -d "$root/include/torch" ] && [ -d "$root/lib" ]; then
  from="PyTorch at $root"
  abi=$("$python" -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
else
  root="" from="Debian libtorch-dev"
fi

if [ -n "$root" ]; then
  incs=(-isystem "$root/include" -isystem "$root/include/torch/csrc/api/include")
  libdir=$root/lib
  rpath=(-Wl,-rpath,"$libdir")
else
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  libdir=/usr/lib/$multiarch
  [ -f /usr/include/torch/csrc/api/include/torch/torch.h ] || {
    echo "shim: no libtorch found: set LIBTORCH, install PyTorch, or apt-get install libtorch-dev" >&2
    exit 1; }
  incs=(-isystem /usr/include/torch/csrc/api/include)
fi

libs=(-ltorch -ltorch_cpu -lc10)
if [ -e "$libdir/libtorch_cuda.so" ]; then
  libs+=(-ltorch_cuda -lc10_cuda)
  from="$from, with CUDA"
fi
defs=()
[ -n "$abi" ] && defs=(-D_GLIBCXX_USE_CXX11_ABI="$abi")

mkdir -p "$(dirname "$out")"
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
echo "shim: building $out against $from"
"$cxx" -std=c++17 -O2 -fPIC -shared -Wall -Wno-unused-variable \
  "${defs[@]}" "${incs[@]}" -I"$here/distill/torch/shim" \
  "$src" -o "$tmp" -L"$libdir" "${rpath[@]}" \
  -Wl,--no-as-needed "${libs[@]}" -Wl,--as-needed
mv "$tmp" "$out"
