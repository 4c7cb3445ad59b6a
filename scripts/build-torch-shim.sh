#!/usr/bin/env bash
# build-torch-shim.sh OUT: build the taonet libtorch shim (OUT, default
# build/libtaonet_torch.so) against the libtorch this host has, found in the
# order of docs/design.md "The libtorch engine":
#   1. $LIBTORCH (a libtorch folder with include/ and lib/);
#   2. the libtorch inside an installed PyTorch ($PYTHON, default python3),
#      compiled with PyTorch's own _GLIBCXX_USE_CXX11_ABI;
#   3. Debian's libtorch-dev (/usr/include, /usr/lib/<multiarch>).
# The CUDA libraries are linked whenever libtorch_cuda.so is present.
# TAONET_NO_FUSED_ADAM=1 builds without PyTorch 2.x's fused Adam kernel,
# which is also what happens, loudly, when the first compile of adam.cc
# fails.
set -euo pipefail

out=${1:-build/libtaonet_torch.so}
here=$(cd "$(dirname "$0")/.." && pwd)
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

flags=(-std=c++17 -O2 -fPIC -Wall -Wno-unused-variable "${defs[@]}" "${incs[@]}"
       -I"$here/distill/torch/shim")
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.shim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "shim: building $out against $from"

# Each source compiles on its own (in parallel). adam.cc is the one part
# that differs between libtorch versions (PyTorch 2.x's fused Adam kernel):
# if it does not compile, it is compiled again without the fused kernel
# (-DTAONET_NO_FUSED_ADAM) and the shim is built with the portable update,
# which the script says loudly. TAONET_NO_FUSED_ADAM=1 asks for that build.
compile() { # compile SRC OBJ LOG [FLAGS...]
  local src=$1 obj=$2 log=$3; shift 3
  "$cxx" "${flags[@]}" "$@" -c "$src" -o "$obj" >"$log" 2>&1
}
adam_defs=()
[ "${TAONET_NO_FUSED_ADAM:-0}" != 0 ] && adam_defs=(-DTAONET_NO_FUSED_ADAM)
pids=() objs=()
for s in "$here"/distill/torch/shim/*.cc; do
  name=$(basename "$s" .cc)
  extra=()
  [ "$name" = adam ] && extra=("${adam_defs[@]}")
  compile "$s" "$tmp/$name.o" "$tmp/$name.log" "${extra[@]}" &
  pids+=("$!") objs+=("$tmp/$name.o")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("$(basename "${objs[$i]}" .o)")
done
fused=yes
[ ${#adam_defs[@]} -gt 0 ] && fused=no
for name in "${failed[@]}"; do
  cat "$tmp/$name.log" >&2
  if [ "$name" = adam ] && [ "$fused" = yes ]; then
    echo "shim: !!! adam.cc did not compile with the fused Adam kernel (errors above);" >&2
    echo "shim: !!! building it again with -DTAONET_NO_FUSED_ADAM (portable multi-tensor Adam)" >&2
    fused=no
    compile "$here/distill/torch/shim/adam.cc" "$tmp/adam.o" "$tmp/adam.log" -DTAONET_NO_FUSED_ADAM \
      || { cat "$tmp/adam.log" >&2; exit 1; }
  else
    echo "shim: $name.cc did not compile" >&2; exit 1
  fi
done
cat "$tmp"/*.log
"$cxx" -shared "${objs[@]}" -o "$tmp/lib.so" -L"$libdir" "${rpath[@]}" \
  -Wl,--no-as-needed "${libs[@]}" -Wl,--as-needed
mv "$tmp/lib.so" "$out"
# The fused kernel is compiled only against PyTorch 2.x. The last line says
# which shim this is (scripts/gpu-check.sh reads it); the shim says it too
# (torch.RuntimeInfo: "fused adam built|not built").
# version.h has moved between releases: take the first that defines it.
inc=${root:+$root/include}; inc=${inc:-/usr/include}
major=$(find "$inc" -name version.h -path '*torch*' 2>/dev/null |
  xargs -r sed -n 's/^#define TORCH_VERSION_MAJOR \([0-9]*\).*/\1/p' 2>/dev/null | head -1 || true)
if [ "$fused" = yes ] && [ "${major:-0}" -ge 2 ]; then
  echo "shim: fused-adam=yes (libtorch $major.x: PyTorch's fused Adam kernel on CUDA)"
elif [ "$fused" = yes ]; then
  echo "shim: fused-adam=no (libtorch ${major:-?}.x has no usable fused kernel: portable multi-tensor Adam)"
else
  echo "shim: fused-adam=no (built with TAONET_NO_FUSED_ADAM: portable multi-tensor Adam)"
fi
