#!/usr/bin/env python3
"""PyTorch eager reference for the taonet training step.

Builds the same models as distill/torch/shim/taonet_torch.cc (mlp
784-256-128-10; cnn conv5x5(16)-pool-conv5x5(32)-pool-32-10) and times the
same step as BenchmarkTrainStep in distill/torch: batch 64 of fixed random
inputs held in host memory, copied to the device every step, cross-entropy,
gradients set to none, PyTorch's default Adam (lr 1e-3), and the loss read
back to the host every step (the Go step returns it too). On CUDA the clock
is read after torch.cuda.synchronize().

Prints one JSON object: {"device", "threads", "torch", "steps",
"step_ms": {"mlp": ..., "cnn": ...}, "step_ms_no_item": {...}}.
step_ms_no_item is the same loop without reading the loss each step (one
synchronize at the end), for reference only.
"""
import argparse
import json
import time

import numpy as np
import torch
from torch import nn


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--models", default="mlp,cnn")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    archs = args.models.split(",")
    out = {"device": str(device), "threads": args.threads, "torch": torch.__version__,
           "steps": args.steps, "step_ms": {}, "step_ms_no_item": {}}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    for arch in archs:
        out["step_ms"][arch] = time_steps(arch, device, args.steps, args.warmup, True)
        out["step_ms_no_item"][arch] = time_steps(arch, device, args.steps, args.warmup, False)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
