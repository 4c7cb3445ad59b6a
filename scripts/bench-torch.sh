#!/usr/bin/env bash
# bench-torch.sh: the libtorch engine beside PyTorch eager on the same
# libtorch, end to end, in one run:
#   train: one process per run trains a fresh model over the whole
#          Fashion-MNIST training split, batch 64, Adam with a cosine
#          learning rate, and reports each epoch's wall time, the accuracy
#          on the report pool and its peak resident memory (VmHWM). Go:
#          distill/torch/internal/benchtorch, torch.Fit as `peer train`
#          runs it; PyTorch: scripts/torch_reference.py --mode train.
#   infer: serving inference (eval mode, no-grad) over the test split in
#          batches of INFER_BATCH rows already in memory; rows per second.
# Go and PyTorch runs alternate (Go first in odd repeats, PyTorch first in
# even ones) REPEATS times per model; min / median / max of each side and
# the ratios of the medians (PyTorch time / Go time: above 1 means Go is
# faster) are printed and written to results/bench-torch.json.
#
# Both sides run with the same torch threads (THREADS) and the same
# OpenBLAS threads. PY_ENV=engine (the default) also gives PyTorch the
# settings the engine makes for itself (OpenMP's passive wait policy,
# malloc's thresholds: `benchtorch -mode env` prints them), so that the
# ratio measures the engine, not the settings; PY_ENV=default runs PyTorch
# with OpenMP's and glibc's defaults. The output states every setting.
#
#   THREADS (2)  EPOCHS (1)  REPEATS (3)  MODELS ("mlp cnn")  DEVICE (cpu)
#   INFER_BATCH (256)  PASSES (3, inference passes over the test split)
#   PY_ENV (engine or default)  DATA (/usr/share/datasets/fashion-mnist)
#   PYTHON  a python3 with torch (default /usr/bin/python3, Debian's
#           python3-torch, installed if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${THREADS:-2} epochs=${EPOCHS:-1} repeats=${REPEATS:-3}
models=${MODELS:-mlp cnn} device=${DEVICE:-cpu}
infer_batch=${INFER_BATCH:-256} passes=${PASSES:-3} py_env=${PY_ENV:-engine}
data=${DATA:-/usr/share/datasets/fashion-mnist}
python=${PYTHON:-/usr/bin/python3}
go=${GO:-go}
case $py_env in engine|default) ;; *) echo "bench-torch: PY_ENV=$py_env: want engine or default" >&2; exit 1;; esac

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
"$go" build -o "$tmp/benchtorch" ./distill/torch/internal/benchtorch
# The binary finds build/libtaonet_torch.so from the repository root.
bt() { "$tmp/benchtorch" -threads "$threads" -device "$device" -data "$data" "$@"; }

# The environment that gives PyTorch the engine's settings.
bt -mode env >"$tmp/env.json"
pyenv=()
while IFS= read -r kv; do pyenv+=("$kv"); done < <("$python" - "$tmp/env.json" "$py_env" <<'PY'
import json, sys
env = json.load(open(sys.argv[1]))["env"]
for k, v in sorted(env.items()):
    if sys.argv[2] == "engine" or k == "OPENBLAS_NUM_THREADS":
        print(f"{k}={v}")
PY
)
echo "bench-torch: $models, $threads thread(s) on $device, $epochs epoch(s), $repeats repeats, inference batch $infer_batch"
echo "bench-torch: Go:      $("$python" -c 'import json,sys;print(json.load(open(sys.argv[1]))["runtime"])' "$tmp/env.json")"
echo "bench-torch: PyTorch: ${pyenv[*]:-no variables} (PY_ENV=$py_env)"

runs=$tmp/runs.jsonl
: >"$runs"
one() { # one SIDE MODE MODEL REP
  local side=$1 mode=$2 model=$3 rep=$4 out
  if [ "$side" = go ]; then
    out=$(bt -mode "$mode" -model "$model" -epochs "$epochs" -batch "$([ "$mode" = infer ] && echo "$infer_batch" || echo 64)" -passes "$passes")
  else
    out=$(env "${pyenv[@]}" "$python" scripts/torch_reference.py --mode "$mode" --model "$model" \
      --threads "$threads" --device "$device" --data "$data" --epochs "$epochs" --passes "$passes" \
      --batch "$([ "$mode" = infer ] && echo "$infer_batch" || echo 64)")
  fi
  echo "$out" >>"$runs"
  "$python" -c '
import json, sys
r = json.loads(sys.argv[1])
if "epoch_s" in r:
    fig = ", ".join("%.2f" % s for s in r["epoch_s"]) + " s/epoch"
else:
    fig = "%.0f rows/s" % r["rows_per_s"]
print("  repeat %s %s %-5s %-7s %s, VmHWM %.0f MiB" % (sys.argv[2], r["model"], r["mode"], r["side"], fig, r["vmhwm_kb"] / 1024))
' "$out" "$rep"
}
for mode in train infer; do
  for rep in $(seq "$repeats"); do
    for model in $models; do
      if [ $((rep % 2)) = 1 ]; then one go "$mode" "$model" "$rep"; one python "$mode" "$model" "$rep"
      else one python "$mode" "$model" "$rep"; one go "$mode" "$model" "$rep"; fi
    done
  done
done

"$python" - "$runs" "$tmp/env.json" "$device" "$threads" "$epochs" "$repeats" "$py_env" <<'PY'
import datetime, json, os, platform, socket, statistics, sys
runs_path, env_path, device, threads, epochs, repeats, py_env = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_path) if l.strip()]
env = json.load(open(env_path))

def spread(xs):
    return min(xs), statistics.median(xs), max(xs)

def pick(side, mode, model):
    return [r for r in runs if r["side"] == side and r["mode"] == mode and r["model"] == model]

def fmt(t, unit):
    return f"{t[0]:.3g} / {t[1]:.3g} / {t[2]:.3g} {unit}"

results, settings = [], {}
for r in runs:
    settings.setdefault(r["side"], r["runtime"])
for model in dict.fromkeys(r["model"] for r in runs):
    go, py = pick("go", "train", model), pick("python", "train", model)
    if go and py:
        g = spread([s for r in go for s in r["epoch_s"]])
        p = spread([s for r in py for s in r["epoch_s"]])
        ratio = p[1] / g[1]
        results.append({"name": f"train-epoch-{model}-{device}", "value": round(g[1], 3), "unit": "s/epoch",
                        "baseline": round(p[1], 3), "ratio": round(ratio, 3),
                        "min_max": [round(g[0], 3), round(g[2], 3)], "baseline_min_max": [round(p[0], 3), round(p[2], 3)]})
        print(f"{model} train epoch: Go {fmt(g, 's')}   PyTorch {fmt(p, 's')}   ratio {ratio:.2f}x (PyTorch median / Go median)")
        ga, pa = statistics.median(r["accuracy"] for r in go), statistics.median(r["accuracy"] for r in py)
        results.append({"name": f"train-accuracy-{model}-{device}", "value": round(ga, 4), "unit": "report-pool accuracy",
                        "baseline": round(pa, 4), "ratio": round(ga / pa, 3)})
        print(f"{model} accuracy after {epochs} epoch(s): Go {ga:.4f}   PyTorch {pa:.4f}")
        gm, pm = spread([r["vmhwm_kb"] / 1024 for r in go]), spread([r["vmhwm_kb"] / 1024 for r in py])
        results.append({"name": f"train-peak-rss-{model}-{device}", "value": round(gm[1], 1), "unit": "MiB VmHWM",
                        "baseline": round(pm[1], 1), "ratio": round(pm[1] / gm[1], 3),
                        "min_max": [round(gm[0], 1), round(gm[2], 1)], "baseline_min_max": [round(pm[0], 1), round(pm[2], 1)]})
        print(f"{model} train peak RSS: Go {fmt(gm, 'MiB')}   PyTorch {fmt(pm, 'MiB')}   ratio {pm[1] / gm[1]:.2f}x (PyTorch / Go)")
    go, py = pick("go", "infer", model), pick("python", "infer", model)
    if go and py:
        g, p = spread([r["rows_per_s"] for r in go]), spread([r["rows_per_s"] for r in py])
        ratio = g[1] / p[1]
        batch = go[0]["batch"]
        results.append({"name": f"infer-{model}-batch{batch}-{device}", "value": round(g[1]), "unit": "rows/s",
                        "baseline": round(p[1]), "ratio": round(ratio, 3),
                        "min_max": [round(g[0]), round(g[2])], "baseline_min_max": [round(p[0]), round(p[2])]})
        print(f"{model} inference, batch {batch}: Go {fmt(g, 'rows/s')}   PyTorch {fmt(p, 'rows/s')}   ratio {ratio:.2f}x (Go rows/s / PyTorch rows/s)")
        gm, pm = spread([r["vmhwm_kb"] / 1024 for r in go]), spread([r["vmhwm_kb"] / 1024 for r in py])
        results.append({"name": f"infer-peak-rss-{model}-{device}", "value": round(gm[1], 1), "unit": "MiB VmHWM",
                        "baseline": round(pm[1], 1), "ratio": round(pm[1] / gm[1], 3)})

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
out = {"bench": "bench-torch",
       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "machine": f"{socket.gethostname()}: {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
       "settings": {"threads": int(threads), "epochs": int(epochs), "repeats": int(repeats), "device": device,
                    "go": settings.get("go"), "python": settings.get("python"), "python_env": py_env,
                    "engine_env": env["env"]},
       "note": "ratio = PyTorch eager median / Go median for times and memory, Go / PyTorch for rows/s and accuracy: "
               "above 1 means Go is faster or smaller; value and baseline are medians over every epoch of every repeat",
       "results": results}
json.dump(out, open("results/bench-torch.json", "w"), indent=2)
print(f"bench-torch: {out['machine']}")
print("bench-torch: wrote results/bench-torch.json")
PY
