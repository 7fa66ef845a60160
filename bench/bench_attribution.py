"""Benchmark model/attribution.py against the bare forward pass.

    python bench/bench_attribution.py                 # CPU
    python bench/bench_attribution.py --device cuda   # if available

Seeded random GoogLeNet (as built by the app, weights=None), 1x3x224x224
input; every method is timed through ``attribute()`` (so the numbers include
the private view, heatmap normalization and the copy to CPU).  Median of
``--runs`` runs (``--slow-runs`` for IG/SmoothGrad/Occlusion/Captum-default IG)
after one warm-up run.  torch's thread count is left as it is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torchvision
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from captum.attr import IntegratedGradients  # noqa: E402

from model.attribution import Settings, attribute  # noqa: E402

BUDGET_S = {"saliency": 0.6, "gradcam": 0.4, "smoothgrad": 4.0, "integrated_gradients": 4.0}


def make_model(device: str) -> nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True)
    for mod in m.modules():  # realistic activation scale (see tests/test_attribution.py)
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
    m = m.to(device).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def timed(fn, runs: int, device: str) -> list[float]:
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    fn()  # warm-up
    sync()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slow-runs", type=int, default=3)
    ap.add_argument("--layer", default="inception4d")
    ap.add_argument("--sweep", action="store_true", help="also time IG / SmoothGrad / Occlusion batch sizes")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("CUDA is not available")

    dev = args.device
    model = make_model(dev)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)).to(dev)
    with torch.no_grad():
        target = int(model(x).argmax())
    s = Settings()

    def forward():
        with torch.no_grad():
            model(x)

    def captum_default_ig():
        ig = IntegratedGradients(model)  # n_steps=50, no internal batching
        ig.attribute(x.clone().requires_grad_(True), baselines=torch.zeros_like(x), target=target)

    rows = [
        ("forward (no_grad)", None, forward, args.runs, ""),
        ("saliency", "saliency", lambda: attribute(model, x, "saliency", target), args.runs, ""),
        (
            f"integrated_gradients ({s.ig_steps} steps)",
            "integrated_gradients",
            lambda: attribute(model, x, "integrated_gradients", target),
            args.slow_runs,
            "",
        ),
        (
            f"smoothgrad ({s.smoothgrad_samples} samples)",
            "smoothgrad",
            lambda: attribute(model, x, "smoothgrad", target),
            args.slow_runs,
            "",
        ),
        (f"gradcam ({args.layer})", "gradcam", lambda: attribute(model, x, "gradcam", target, layer=args.layer), args.runs, ""),
        (
            f"guided_gradcam ({args.layer})",
            None,
            lambda: attribute(model, x, "guided_gradcam", target, layer=args.layer),
            args.runs,
            "",
        ),
        (
            f"occlusion (win {s.occlusion_window}, stride {s.occlusion_stride})",
            None,
            lambda: attribute(model, x, "occlusion", target),
            args.slow_runs,
            "",
        ),
        ("captum IG default (50 steps, unbatched)", None, captum_default_ig, args.slow_runs, ""),
    ]

    if args.sweep:
        for b in (4, 8, 16, 32):
            rows.append((f"  sweep: IG 32 steps, internal_batch_size={b}", None,
                         lambda b=b: attribute(model, x, "ig", target, settings=Settings(ig_batch=b)), args.slow_runs, ""))
        for b in (4, 8, 16):
            rows.append((f"  sweep: SmoothGrad 16, nt_samples_batch_size={b}", None,
                         lambda b=b: attribute(model, x, "smoothgrad", target, settings=Settings(smoothgrad_batch=b)),
                         args.slow_runs, ""))
        for b in (8, 16, 32):
            rows.append((f"  sweep: Occlusion, perturbations_per_eval={b}", None,
                         lambda b=b: attribute(model, x, "occlusion", target, settings=Settings(occlusion_batch=b)),
                         args.slow_runs, ""))

    print(
        f"device={dev} ({torch.cuda.get_device_name() if dev.startswith('cuda') else 'CPU'}), "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, input 1x3x224x224, target={target}"
    )
    results = []
    fwd_ms = None
    for name, key, fn, runs, _ in rows:
        ts = timed(fn, runs, dev)
        med = statistics.median(ts) * 1000
        if fwd_ms is None:
            fwd_ms = med
        budget = BUDGET_S.get(key) if key else None
        verdict = "" if budget is None else ("PASS" if med <= budget * 1000 else "FAIL")
        results.append((name, med, min(ts) * 1000, runs, budget, verdict))
        print(f"  measured {name}: median {med:.0f} ms", file=sys.stderr, flush=True)

    header = f"{'method':<48} {'median ms':>10} {'min ms':>9} {'runs':>4} {'x fwd':>7} {'budget':>8}  result"
    print(header)
    print("-" * len(header))
    for name, med, mn, runs, budget, verdict in results:
        b = f"{budget * 1000:.0f} ms" if budget else "-"
        print(f"{name:<48} {med:>10.1f} {mn:>9.1f} {runs:>4} {med / fwd_ms:>7.1f} {b:>8}  {verdict}")


if __name__ == "__main__":
    main()
