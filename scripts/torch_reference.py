#!/usr/bin/env python3
"""PyTorch eager reference for the taonet libtorch engine.

Builds the same models as distill/torch/shim/taonet_torch.cc (mlp
784-256-128-10; cnn conv5x5(16)-pool-conv5x5(32)-pool-32-10) and runs one
of three measurements:

--mode train (scripts/bench-torch.sh): the PyTorch script equivalent to
  `peer train` (distill/torch/internal/benchtorch, torch.Fit): the whole
  Fashion-MNIST training split in memory as bytes, like distill.Dataset;
  each epoch a fresh random order, batches of 64 gathered and normalised
  with the same mean and deviation, the cosine learning rate set every
  step, gradients set to none, cross-entropy, backward, PyTorch's default
  Adam, the loss read back every step; then the accuracy on the report pool
  (the second half of the test split). Prints epoch_s, one figure per epoch.
--mode infer (scripts/bench-torch.sh): serving inference as the Peer
  service runs it: eval mode under torch.no_grad, the test split in batches
  already in host memory as float32, logits back to host memory (a numpy
  view). One untimed pass, then --passes timed ones; prints rows_per_s.
--mode step (the default; scripts/gpu-check.sh): one cached batch of
  random inputs copied to the device every step (BenchmarkTrainStep in
  distill/torch); prints step_ms and step_ms_no_item per model.

train and infer print one JSON object in the schema of benchtorch's
result, with the settings the process ran with (torch threads, OpenBLAS
threads, the malloc environment) and its peak resident memory (VmHWM).
"""
import argparse
import ctypes
import gzip
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

# distill/dataset.go: the per-pixel normalisation of Fashion-MNIST.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530


def build(arch):
    if arch == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    if arch == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))
    raise ValueError(f"unknown architecture {arch!r}")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.reshape(len(x), -1).copy()), torch.from_numpy(y.astype(np.int64))


def normalise(pixels):
    return pixels.float().div_(255).sub_(PIXEL_MEAN).div_(PIXEL_STD)


def blas_threads():
    """The OpenBLAS thread count of this process, or None."""
    try:
        return int(ctypes.CDLL("libopenblas.so.0").openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def runtime_info(threads):
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    env = ", ".join(f"{k}={v}" for k, v in sorted(malloc.items())) or "glibc defaults"
    return (f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"blas threads {blas_threads()} (openblas), malloc: {env}")


def train(args, device):
    x, y = load(args.data, "train")
    tx, ty = load(args.data, "t10k")
    torch.manual_seed(args.seed)
    model = build(args.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    n, b = len(y), args.batch
    steps = (n + b - 1) // b
    epoch_s = []
    for epoch in range(args.epochs):
        sync(device)
        start = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        model.train()
        for s in range(steps):
            idx = order[s * b:(s + 1) * b]
            xb = normalise(x[idx]).to(device)
            yb = y[idx].to(device)
            done = (epoch * steps + s) / (args.epochs * steps)
            for g in opt.param_groups:
                g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * done))
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
        sync(device)
        epoch_s.append(time.perf_counter() - start)
    # The report pool: the second half of the test split (distill.SplitPools).
    half = len(ty) // 2
    model.eval()
    hits = 0
    with torch.no_grad():
        for s in range(half, len(ty), 1000):
            out = model(normalise(tx[s:s + 1000]).to(device))
            hits += int((out.argmax(1).cpu() == ty[s:s + 1000]).sum())
    return {"epoch_s": epoch_s, "accuracy": hits / (len(ty) - half)}


def infer(args, device):
    tx, _ = load(args.data, "t10k")
    torch.manual_seed(args.seed)
    model = build(args.model).to(device).eval()
    xs = [normalise(tx[s:s + args.batch]).numpy() for s in range(0, len(tx), args.batch)]

    def one_pass():
        with torch.no_grad():
            for xb in xs:
                model(torch.from_numpy(xb).to(device)).cpu().numpy()

    one_pass()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.passes):
        one_pass()
    sync(device)
    return {"rows_per_s": args.passes * len(tx) / (time.perf_counter() - start)}


def time_steps(arch, device, steps, warmup, read_loss):
    torch.manual_seed(0)
    model = build(arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)
    x_host = torch.from_numpy(rng.standard_normal((64, 784), dtype=np.float32))
    y_host = torch.from_numpy(rng.integers(0, 10, 64, dtype=np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        x = x_host.to(device)
        y = y_host.to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item() if read_loss else loss

    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps * 1e3


def step_mode(args, device):
    out = {"device": str(device), "threads": args.threads, "torch": torch.__version__,
           "steps": args.steps, "step_ms": {}, "step_ms_no_item": {}}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    for arch in args.models.split(","):
        out["step_ms"][arch] = time_steps(arch, device, args.steps, args.warmup, True)
        out["step_ms_no_item"][arch] = time_steps(arch, device, args.steps, args.warmup, False)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="step", choices=("step", "train", "infer"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="mlp", help="train, infer: mlp or cnn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64, help="rows per step or per inference call")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--steps", type=int, default=200, help="step mode")
    ap.add_argument("--warmup", type=int, default=10, help="step mode")
    ap.add_argument("--models", default="mlp,cnn", help="step mode")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.mode == "step":
        step_mode(args, device)
        return
    figures = train(args, device) if args.mode == "train" else infer(args, device)
    out = {"side": "python", "mode": args.mode, "model": args.model, "threads": args.threads,
           "runtime": runtime_info(args.threads), "batch": args.batch}
    out.update(figures)
    out["vmhwm_kb"] = peak_rss_kb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
