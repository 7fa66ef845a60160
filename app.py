"""GoogLeNet Explorer.

    python app.py                          start the web app on http://127.0.0.1:7860
    python app.py analyze PHOTO --json     analyse one photo on the command line
"""
from __future__ import annotations

import argparse
import json
import sys

COMMANDS = ("serve", "analyze", "distill-aux")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet' (torchvision's weights, downloaded once and cached), 'random' (seeded, for exploring the "
        "architecture offline; predictions are meaningless) or a path to a GoogLeNet state_dict checkpoint",
    )
    parser.add_argument(
        "--model",
        choices=("torchvision", "original"),
        default="torchvision",
        help="torchvision's GoogLeNet, or the original paper network with BVLC's Caffe weights (trained aux heads)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:1, mps")
    parser.add_argument("--half", action="store_true", help="float16 on CUDA (faster; ignored on CPU)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --weights random")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Look inside GoogLeNet (Inception v1).")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="start the web app (the default)")
    _add_model_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--share", action="store_true", help="create a public Gradio share link (off by default)")

    analyze = sub.add_parser("analyze", help="analyse one photo and print a summary")
    _add_model_options(analyze)
    analyze.add_argument("photo", help="path to an image file")
    analyze.add_argument("--json", action="store_true", help="print the full JSON summary")
    sub.add_parser("distill-aux", help="train torchvision's untrained aux heads to mimic the main head (see -h)")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]
    return build_parser().parse_args(argv)


def fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_analyze(args: argparse.Namespace) -> int:
    from model import ImageInputError, WeightsError, load_engine
    from model.summary import summarize_analysis

    try:
        engine = load_engine(args.weights, args.device, arch=args.model, half=args.half, seed=args.seed, warm_up=False)
    except (WeightsError, ValueError) as err:
        return fail(str(err), 3)
    try:
        analysis = engine.analyze(args.photo)
    except ImageInputError as err:
        return fail(str(err), 2)
    summary = summarize_analysis(analysis, str(engine.device))
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(f"weights: {analysis.weights.description}")
    if not analysis.weights.predictions_meaningful:
        print("WARNING: these weights are not trained; the predictions below are meaningless.")
    for p in analysis.top5:
        print(f"  {p.probability:7.2%}  {p.label}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from model import WeightsError
    from model.engine import EnginePool

    try:
        pool = EnginePool(args.weights, args.device, half=args.half, seed=args.seed, first=args.model)
    except (WeightsError, ValueError) as err:
        return fail(str(err), 3)
    from demo.ui import launch

    engine = pool.get(args.model)
    print(f"GoogLeNet Explorer: {engine.weights.description} on {engine.device}", flush=True)
    if not engine.weights.predictions_meaningful:
        print("WARNING: random weights; predictions are meaningless (the page says so too).", flush=True)
    launch(pool, host=args.host, port=args.port, share=args.share)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["distill-aux"]:
        from model.distill import cli

        return cli(argv[1:])
    args = parse_args(argv)
    if args.command == "analyze":
        return run_analyze(args)
    return run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
