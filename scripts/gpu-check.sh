#!/usr/bin/env bash
# gpu-check.sh: check the libtorch engine on a machine with an NVIDIA GPU and
# PyTorch 2.x (CUDA) but no Go, no Debian packages and no network.
#
# Needs, from `make gpu-carry` on a build machine: .carry/torch.test (the
# distill/torch test binary), optionally .carry/peer and .carry/data/ (the
# Fashion-MNIST .gz files). Steps, each bounded by `timeout`:
#   1. build the shim against PyTorch's own libtorch (CUDA libraries linked);
#   2. run the distill/torch tests against it (TestCUDA included);
#   3. time the Go training step (BenchmarkTrainStep) and the same step in
#      PyTorch eager (scripts/torch_reference.py), in this one run;
#   4. with data and peer carried: `peer train --device cuda` for a few epochs.
# Prints per-step times and ratios and writes $OUT/gpu-check.json and
# $OUT/gpu-check.log. The json records whether the shim has PyTorch's fused
# Adam kernel (fused_adam_built: the build falls back to the portable update
# when it does not compile) and whether each benchmarked step used it.
#
# Environment: OUT (default ./gpu-check-out), PYTHON (default python3),
# GPU_CHECK_DEVICE (default cuda; cpu for a dry run on a machine without a
# GPU), CARRY (default .carry), STEPS (default 300), EPOCHS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-$PWD/gpu-check-out}
python=${PYTHON:-python3}
device=${GPU_CHECK_DEVICE:-cuda}
carry=${CARRY:-.carry}
steps=${STEPS:-300}
epochs=${EPOCHS:-2}
mkdir -p "$out"
log=$out/gpu-check.log
: >"$log"
say() { echo "gpu-check: $*" | tee -a "$log"; }
run() { "$@" 2>&1 | tee -a "$log"; return "${PIPESTATUS[0]}"; }
start=$(date +%s)

[ -x "$carry/torch.test" ] || { say "missing $carry/torch.test: run make gpu-carry on the build machine"; exit 1; }
command -v nvidia-smi >/dev/null && run nvidia-smi -L || say "no nvidia-smi"
say "python: $("$python" -c 'import torch,sys;print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())')"

# 1. The shim, against the libtorch inside the installed PyTorch (the
#    script reads PyTorch's _GLIBCXX_USE_CXX11_ABI and links the CUDA
#    libraries when libtorch_cuda.so is there).
shim=$carry/build/libtaonet_torch.so
t0=$(date +%s)
PYTHON=$python run timeout 240 bash scripts/build-torch-shim.sh "$shim"
build_s=$(( $(date +%s) - t0 ))
# The build falls back, loudly, to the portable Adam update when the fused
# kernel does not compile; its last line says which shim this is.
fused_built=no
grep -q '^shim: fused-adam=yes' "$log" && fused_built=yes
say "shim built in ${build_s}s; fused Adam kernel: $fused_built"
[ "$fused_built" = yes ] && export TAONET_EXPECT_FUSED_ADAM=1
if [ "$device" != cpu ] && ! (ldd "$shim" | grep -q libtorch_cuda); then
  say "the shim does not link libtorch_cuda: this PyTorch has no CUDA"; exit 1
fi
export TAONET_TORCH_SHIM=$PWD/$shim

# 2. Correctness of the engine on this libtorch.
tests=pass
run timeout 120 "$carry/torch.test" -test.count=1 -test.v -test.run . 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\S+_test\.go)' || tests=fail
grep -q -- '--- FAIL' "$log" && tests=fail
say "tests: $tests"

# 3. The Go step and the PyTorch eager step, same run, same settings.
say "Go step on $device ($steps steps per model)"
TAONET_BENCH_DEVICE=$device TAONET_BENCH_THREADS=1 run timeout 180 "$carry/torch.test" \
  -test.run '^$' -test.bench '^BenchmarkTrainStep$' -test.benchtime "${steps}x" >"$out/go-bench.txt" || true
cat "$out/go-bench.txt"
say "PyTorch eager step on $device"
run timeout 180 "$python" scripts/torch_reference.py --device "$device" --threads 1 --steps "$steps" >"$out/py-bench.json" || true
cat "$out/py-bench.json"

# 4. Training on the GPU with the carried data.
: >"$out/train.txt"
if [ -x "$carry/peer" ] && [ -f "$carry/data/train-images-idx3-ubyte.gz" ]; then
  for model in mlp cnn; do
    say "peer train --model $model --epochs $epochs --device $device"
    run timeout 150 "$carry/peer" train --model "$model" --epochs "$epochs" --device "$device" \
      --data "$carry/data" --home "$out/peer-home" | tee -a "$out/train.txt" || say "peer train $model failed"
  done
  rm -rf "$out/peer-home"
else
  say "no $carry/peer or $carry/data: skipping peer train"
fi

total_s=$(( $(date +%s) - start ))
"$python" - "$out" "$device" "$tests" "$build_s" "$total_s" "$fused_built" <<'PY' | tee -a "$log"
import datetime, json, os, platform, re, sys
out, device, tests, build_s, total_s, fused_built = sys.argv[1:]
go, fused = {}, {}
for line in open(os.path.join(out, "go-bench.txt")):
    m = re.match(r"BenchmarkTrainStep/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        go[m.group(1)] = float(m.group(2)) / 1e6
        f = re.search(r"([\d.]+) fused-adam", line)
        fused[m.group(1)] = bool(f and float(f.group(1)) == 1)
try:
    py = json.load(open(os.path.join(out, "py-bench.json")))
except (OSError, ValueError):
    py = {"step_ms": {}, "step_ms_no_item": {}}
results = []
for arch in ("mlp", "cnn"):
    g, p = go.get(arch), py["step_ms"].get(arch)
    r = {"name": f"train-step-{arch}-{device}", "value": g, "unit": "ms/step", "baseline": p,
         "ratio": round(p / g, 3) if g and p else None,
         "baseline_no_item": py["step_ms_no_item"].get(arch), "fused_adam": fused.get(arch)}
    results.append(r)
    print(f"gpu-check: {arch} on {device}: Go {g} ms/step, PyTorch eager {p} ms/step "
          f"(without per-step loss read: {r['baseline_no_item']}), ratio {r['ratio']}, "
          f"fused Adam used: {r['fused_adam']}")
acc = re.findall(r"report pool: accuracy ([\d.]+)%.*\(train ([\d.]+)s\)", open(os.path.join(out, "train.txt")).read())
doc = {"bench": "gpu-check", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "machine": f"{platform.node()} {py.get('gpu', '')}".strip(), "device": device,
       "torch": py.get("torch"), "tests": tests, "shim_build_s": int(build_s), "total_s": int(total_s),
       "fused_adam_built": fused_built == "yes",
       "note": "ratio = PyTorch eager ms / Go ms (above 1: Go faster); batch 64, Adam lr 1e-3, cross-entropy, "
               "host-to-device copy of inputs and labels and loss read back every step, timed after synchronize",
       "results": results,
       "train": [{"model": m, "accuracy_pct": float(a), "train_s": float(s)} for m, (a, s) in zip(("mlp", "cnn"), acc)]}
json.dump(doc, open(os.path.join(out, "gpu-check.json"), "w"), indent=2)
print(f"gpu-check: wrote {out}/gpu-check.json in {total_s}s")
PY
[ "$tests" = pass ]
