"""How fast the page answers, through the real HTTP API and in-process (random weights, CPU).

    python bench/bench_ui.py [--analyze-runs 12] [--module-runs 27] [--repeats 5] [--device cpu]

HTTP: starts `python app.py --weights random` itself (tests/app_server.py) and drives it with gradio_client:
  (a) upload -> all views: one /analyze round trip (upload, analysis, every view, PNGs), a different example photo
      each run; with the client fetching every output image (as the browser does) and without;
  (b) module switch: one /module round trip on the session's analysis, cycling through the nine modules.
Server side: the same rendering functions the /module callback calls (demo.views), on an analysis from
load_engine("random", "cpu"), plus PNG encoding of their pictures (PIL, into memory) and Gradio's own cache write.

Budgets: upload -> all views < 1500 ms p50 (HTTP round trip); module switch < 150 ms p50 (server side).
"""
from __future__ import annotations

import argparse
import io
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model import MODULES, load_engine  # noqa: E402
from tests.app_server import AppServer  # noqa: E402

EXAMPLES = sorted((ROOT / "assets").glob("*.jpg"))
BUDGET_UPLOAD_MS = 1500.0
BUDGET_MODULE_MS = 150.0
CMAP, OPACITY, LANG = "viridis", 0.6, "en"


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, list[float], str]] = []

    def add(self, name: str, samples: list[float], budget: str = "") -> None:
        self.rows.append((name, samples, budget))

    def print(self, title: str) -> None:
        print(f"\n{title}")
        print(f"{'':58s} {'p50 ms':>9s} {'p90 ms':>9s} {'min ms':>9s} {'runs':>5s}  budget")
        for name, samples, budget in self.rows:
            print(f"{name:58s} {pct(samples, 50):9.1f} {pct(samples, 90):9.1f} {min(samples):9.1f} "
                  f"{len(samples):5d}  {budget}")


def verdict(value: float, budget: float) -> str:
    return f"< {budget:.0f} p50: {'PASS' if value < budget else 'FAIL'}"


# ---- HTTP -------------------------------------------------------------------------------------------------------------


def bench_http(analyze_runs: int, module_runs: int) -> tuple[Table, dict[str, float]]:
    from gradio_client import Client, handle_file

    table, p50 = Table(), {}
    t0 = time.perf_counter()
    with AppServer() as server, tempfile.TemporaryDirectory(prefix="bench-ui-") as downloads:
        print(f"server: {server.url} (ready in {time.perf_counter() - t0:.1f} s)")
        fetching = Client(server.url, verbose=False, analytics_enabled=False, download_files=downloads)
        bare = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)

        def analyze(client: Client, photo: Path):
            return client.predict(handle_file(str(photo)), "torchvision", "English", "4c", CMAP, OPACITY, False,
                                  api_name="/analyze")

        def module(client: Client, name: str):
            return client.predict(arch="torchvision", module=name, cmap=CMAP, opacity=OPACITY, presenter=False,
                                  language="English", api_name="/module")

        for client in (fetching, bare):  # warm both paths (first requests pay for imports and lazy setup)
            analyze(client, EXAMPLES[0])
            module(client, "5b")

        photos = itertools.cycle(EXAMPLES)
        up_fetch, up_bare = [], []
        for _ in range(analyze_runs):  # interleaved, so a slow spell on a shared machine hits both alike
            photo = next(photos)
            up_fetch.append(timed(lambda: analyze(fetching, photo)))
            up_bare.append(timed(lambda: analyze(bare, photo)))
        # both sessions now hold an analysis: switch modules on it
        names = itertools.cycle([m for m in MODULES if m != "4c"] + ["4c"])
        mod_fetch, mod_bare = [], []
        for _ in range(module_runs):
            name = next(names)
            mod_fetch.append(timed(lambda: module(fetching, name)))
            mod_bare.append(timed(lambda: module(bare, name)))
        arch = [timed(lambda: bare.predict("torchvision", "English", api_name="/architecture")) for _ in range(5)]

    p50["upload"] = pct(up_fetch, 50)
    table.add("upload -> all views (/analyze), images fetched", up_fetch, verdict(p50["upload"], BUDGET_UPLOAD_MS))
    table.add("upload -> all views (/analyze), no image fetch", up_bare)
    table.add("module switch (/module), 12 images fetched", mod_fetch)
    table.add("module switch (/module), no image fetch", mod_bare)
    table.add("/architecture (markdown only: HTTP + queue floor)", arch)
    return table, p50


# ---- in-process ---------------------------------------------------------------------------------------------------


# The formats demo/ui.py gives these outputs: charts, legends and grids PNG (sharp edges), photo-like maps WebP.
MODULE_FORMATS = ["PNG", "PNG"] + ["WEBP"] * 4 + ["PNG"] * 4  # overview, legend, 4 maps, 4 grids
UPLOAD_FORMATS = ["WEBP"] + MODULE_FORMATS  # the crop first


def encoded(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def encode_all(arrays: list[np.ndarray], formats: list[str]) -> list[bytes]:
    return [encoded(a, f) for a, f in zip(arrays, formats)]


def bench_server_side(repeats: int) -> tuple[Table, dict[str, float]]:
    from gradio import processing_utils

    from demo import views

    engine = load_engine("random", "cpu", warm_up=True)
    names = views.branch_legend(engine.architecture)
    photo_bytes = [p.read_bytes() for p in EXAMPLES]
    analysis = engine.analyze(photo_bytes[1])
    cache = tempfile.TemporaryDirectory(prefix="bench-ui-cache-")

    def module_pictures(module: str) -> list[np.ndarray]:
        return [
            views.overview_chart(analysis, module, names, 1.0),
            views.legend(CMAP, LANG, 1.0),
            *views.branch_maps(analysis, module, CMAP, OPACITY),
            *views.branch_grids(analysis, module, CMAP, 1.0),
        ]

    def spec(module: str):
        return engine.architecture.modules[MODULES.index(module)]

    steps: dict[str, Callable[[str], object]] = {
        "branch_maps (4)": lambda m: views.branch_maps(analysis, m, CMAP, OPACITY),
        "branch_grids (4)": lambda m: views.branch_grids(analysis, m, CMAP, 1.0),
        "overview_chart": lambda m: views.overview_chart(analysis, m, names, 1.0),
        "legend": lambda m: views.legend(CMAP, LANG, 1.0),
        "stats_html + heading + titles": lambda m: (views.stats_html(analysis, spec(m), LANG),
                                                    views.module_heading(spec(m), LANG), views.branch_titles(spec(m))),
    }
    pictures = {m: module_pictures(m) for m in MODULES}
    encode = lambda m: encode_all(pictures[m], MODULE_FORMATS)  # noqa: E731
    gradio_write = lambda m: [processing_utils.save_img_array_to_cache(a, cache.name, format=f.lower())  # noqa: E731
                              for a, f in zip(pictures[m], MODULE_FORMATS)]

    def module_total(m: str) -> None:
        encode_all(module_pictures(m), MODULE_FORMATS)
        views.stats_html(analysis, spec(m), LANG)
        views.module_heading(spec(m), LANG)
        views.branch_titles(spec(m))

    def upload_total(i: int) -> None:
        a = engine.analyze(photo_bytes[i % len(photo_bytes)])
        views.label_dict(a.top5)
        views.banner_markdown(a.weights, LANG)
        arrays = [a.image, views.overview_chart(a, "4c", names, 1.0), views.legend(CMAP, LANG, 1.0),
                  *views.branch_maps(a, "4c", CMAP, OPACITY), *views.branch_grids(a, "4c", CMAP, 1.0)]
        views.stats_html(a, spec("4c"), LANG)
        views.aux_html(a, LANG)
        encode_all(arrays, UPLOAD_FORMATS)

    for m in MODULES:  # warm every path once
        module_total(m)
    groups = {"PNG encode: overview + legend": slice(0, 2), "WebP encode: 4 branch maps": slice(2, 6),
              "PNG encode: 4 channel grids": slice(6, 10)}
    samples: dict[str, list[float]] = {name: [] for name in [*steps, *groups, "encode (10 images, PIL)",
                                                             "Gradio cache write (10 images: encode+hash+write)",
                                                             "module switch total (render + encode)"]}
    upload, analysis_only = [], []
    for r in range(repeats):  # medians over several rounds, each round every module once
        for m in MODULES:
            for name, fn in steps.items():
                samples[name].append(timed(lambda: fn(m)))
            for name, part in groups.items():
                samples[name].append(timed(lambda: encode_all(pictures[m][part], MODULE_FORMATS[part])))
            samples["encode (10 images, PIL)"].append(timed(lambda: encode(m)))
            samples["Gradio cache write (10 images: encode+hash+write)"].append(timed(lambda: gradio_write(m)))
            samples["module switch total (render + encode)"].append(timed(lambda: module_total(m)))
        for i in range(2):
            analysis_only.append(timed(lambda: engine.analyze(photo_bytes[(2 * r + i) % len(photo_bytes)])))
            upload.append(timed(lambda: upload_total(2 * r + i)))
    cache.cleanup()

    table = Table()
    for name, values in samples.items():
        budget = verdict(pct(values, 50), BUDGET_MODULE_MS) if name.startswith("module switch total") else ""
        table.add(("  " if not name.startswith("module switch total") else "") + name, values, budget)
    table.add("analysis only (engine.analyze, JPEG bytes)", analysis_only)
    table.add("upload -> all views, server side (analysis+views+images)", upload)
    return table, {"module": pct(samples["module switch total (render + encode)"], 50), "upload": pct(upload, 50)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyze-runs", type=int, default=12, help="/analyze round trips (>= 10)")
    parser.add_argument("--module-runs", type=int, default=27, help="/module round trips (>= 20)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the in-process measurements")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process (server-side) numbers")
    args = parser.parse_args()

    import torch

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, photos={len(EXAMPLES)}, "
          f"random weights on cpu")
    server_table, server = bench_server_side(args.repeats)
    server_table.print(f"Server side, in-process (medians over {args.repeats} rounds x {len(MODULES)} modules)")
    if not args.skip_http:
        http_table, http = bench_http(max(args.analyze_runs, 10), max(args.module_runs, 20))
        http_table.print("Through the HTTP API (gradio_client, same machine)")
    print("\nBudgets")
    if not args.skip_http:
        print(f"  upload -> all views, HTTP round trip p50: {http['upload']:7.1f} ms   "
              f"{verdict(http['upload'], BUDGET_UPLOAD_MS)}")
    print(f"  module switch, server side p50:          {server['module']:7.1f} ms   "
          f"{verdict(server['module'], BUDGET_MODULE_MS)}")


if __name__ == "__main__":
    main()
