"""One-pass analysis vs a bare forward pass, same device, same run (median of several runs).

    python bench/bench_analysis.py [--device cpu|cuda] [--runs 15] [--half]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model import load_engine  # noqa: E402


def interleaved_ms(cases: dict, runs: int, sync) -> dict[str, list[float]]:
    """Round-robin over the cases, so a slow spell on a shared machine hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--half", action="store_true")
    args = parser.parse_args()

    engine = load_engine("random", args.device, half=args.half, warm_up=True)
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    photo = np.kron(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    x, crop = engine.prepare(photo)
    cases = {
        "bare forward (model(x))": lambda: engine.forward(x),
        "analysis from tensor": lambda: engine.analyzer.run(x, crop),
        "analysis from 512x384 image": lambda: engine.analyze(photo),
    }
    for fn in cases.values():  # warm every path
        fn()
    print(f"device={engine.device} dtype={engine.dtype} threads={torch.get_num_threads()} runs={args.runs}")
    times = interleaved_ms(cases, args.runs, sync)
    base = statistics.median(next(iter(times.values())))
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"{name:32s} median {med:8.2f} ms   min {min(samples):8.2f} ms   ratio {med / base:5.2f}x")
    stages = engine.analyze(photo).timings_ms
    print("stages of one analysis (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print("target: analysis from tensor <= 1.30x bare forward")


if __name__ == "__main__":
    main()
