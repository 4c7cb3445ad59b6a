#!/usr/bin/env bash
# bench-torch.sh: the Go training step (BenchmarkTrainStep in distill/torch)
# beside the same step in PyTorch eager (scripts/torch_reference.py) on the
# same libtorch, device and thread count, in one run. Prints per-step times
# and the ratio (PyTorch ms / Go ms: above 1 means the Go path is faster) and
# writes results/bench-torch.json.
#   DEVICE  (default cpu)   THREADS (default 1)   STEPS (default 300)
#   PYTHON  a python3 with torch (default /usr/bin/python3, Debian's
#           python3-torch, installed if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

device=${DEVICE:-cpu} threads=${THREADS:-1} steps=${STEPS:-300}
python=${PYTHON:-/usr/bin/python3}
go=${GO:-go}

if ! "$python" -c 'import torch' 2>/dev/null; then
  if [ "$python" = /usr/bin/python3 ]; then
    echo "bench-torch: installing python3-torch (Debian's PyTorch) for the reference"
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-torch
  else
    echo "bench-torch: $python has no torch" >&2; exit 1
  fi
fi

mkdir -p results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "bench-torch: Go step ($device, $threads thread(s), $steps steps per model)"
TAONET_BENCH_DEVICE=$device TAONET_BENCH_THREADS=$threads \
  "$go" test -tags libsqlite3 -count=1 -run '^$' -bench '^BenchmarkTrainStep$' \
  -benchtime "${steps}x" ./distill/torch/ | tee "$tmp/go.txt"
echo "bench-torch: PyTorch eager step ($python)"
"$python" scripts/torch_reference.py --device "$device" --threads "$threads" \
  --steps "$steps" | tee "$tmp/py.json"

"$python" - "$tmp/go.txt" "$tmp/py.json" "$device" "$threads" <<'PY'
import datetime, json, platform, re, socket, sys
go_txt, py_json, device, threads = sys.argv[1:]
py = json.load(open(py_json))
go = {}
for line in open(go_txt):
    m = re.match(r"BenchmarkTrainStep/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        go[m.group(1)] = float(m.group(2)) / 1e6
results = []
for arch in ("mlp", "cnn"):
    if arch not in go or arch not in py["step_ms"]:
        sys.exit(f"bench-torch: no {arch} figure (go {go}, python {py['step_ms']})")
    base = py["step_ms"][arch]
    ratio = base / go[arch]
    results.append({"name": f"train-step-{arch}-{device}", "value": round(go[arch], 4),
                    "unit": "ms/step", "baseline": round(base, 4), "ratio": round(ratio, 3)})
    print(f"{arch:4s} {device}: Go {go[arch]:8.3f} ms/step   PyTorch eager {base:8.3f} ms/step   ratio {ratio:.2f}x")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
out = {"bench": "bench-torch", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "machine": f"{socket.gethostname()}: {cpu}, {threads} torch thread(s)",
       "torch": py["torch"], "note": "ratio = PyTorch eager ms / Go ms; batch 64, Adam lr 1e-3, cross-entropy, host-to-device copy and loss read back every step",
       "results": results}
json.dump(out, open("results/bench-torch.json", "w"), indent=2)
print("bench-torch: wrote results/bench-torch.json")
PY
