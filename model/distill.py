"""Train GoogLeNet's auxiliary heads by distillation from its main head, on any folder of unlabeled photos.

torchvision released GoogLeNet with untrained aux heads, so their outputs are noise. Here each aux head learns to
reproduce the main head's softmax from the features it sees (aux1: inception4a's output, aux2: inception4d's),
minimising KL(main || aux). The trunk and main head never change, so the main predictions stay bit-identical; the aux
heads become "what the network predicts if it stops at 4a / 4d", not independently ImageNet-trained classifiers.

    python app.py distill-aux PHOTOS_FOLDER --out googlenet_aux.pth
    python app.py --weights googlenet_aux.pth

Temperature: the loss is T² · KL(softmax(main/T) || softmax(aux/T)) (Hinton et al. 2015; T² keeps the gradient scale
independent of T). T = 1 (the default) matches the probabilities the app shows; T > 1 also teaches the ranking of
the unlikely classes. The KL in the report is always measured at T = 1, in eval mode, on the centre crops.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms import functional as TF
from tqdm import tqdm

from .analysis import AUX_HEADS
from .devices import pick_device
from .images import load_image
from .preprocess import TORCHVISION_IMAGENET
from .weights import MIN_SIZE, WeightsError, WeightsInfo, load_weights

FEEDS: dict[str, str] = dict(AUX_HEADS)  # aux head → the module whose output it reads
RETURN_NODES = {"inception4a": "4a", "inception4d": "4d", "fc": "logits"}
CROP_SCALE = (0.25, 1.0)  # milder than ImageNet training's 0.08: the teacher sees the same crop, but tiny crops are off-distribution for it


class DistillError(ValueError):
    """Distillation cannot run (no usable images, a model without aux heads). `str(err)` is a plain message."""


@dataclass
class DistillReport:
    n_images: int
    skipped: list[tuple[str, str]]  # (file, why it was skipped)
    kl_before: dict[str, float]  # per head: mean KL(main || aux) at T=1, eval mode, centre crops
    kl_after: dict[str, float]
    epoch_kl: list[dict[str, float]]  # per epoch, per head: mean training loss (augmented crops, dropout on, at T)
    seconds: float
    settings: dict[str, int | float | bool | str] = field(default_factory=dict)


def kl_divergence(aux_logits: torch.Tensor, main_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Batch mean of T² · KL(softmax(main/T) || softmax(aux/T))."""
    t = temperature
    log_p_aux = F.log_softmax(aux_logits.float() / t, dim=-1)
    log_p_main = F.log_softmax(main_logits.float() / t, dim=-1)
    return F.kl_div(log_p_aux, log_p_main, log_target=True, reduction="batchmean") * (t * t)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every visible file under `folder` (recursively), sorted. Non-images are reported as skipped later, not here."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DistillError(f"{folder} is not a folder. Pass a folder of photos (JPEG, PNG, ...).")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise DistillError(f"The folder {folder} is empty. Put some photos (JPEG, PNG, ...) in it; no labels are needed.")
    return files


def read_images(paths: list[Path], *, resize: int, progress: bool = True) -> tuple[torch.Tensor, list[tuple[str, str]]]:
    """Decode each file once into an N x 3 x resize x resize uint8 tensor (the centre square after resizing the
    shorter side, which holds every centre crop the app would take), plus the (file, reason) of those skipped."""
    kept: list[torch.Tensor] = []
    skipped: list[tuple[str, str]] = []
    for path in tqdm(paths, desc="reading images", unit="img", disable=not progress, file=sys.stderr):
        try:
            image = load_image(path, min_size=MIN_SIZE)
            image = TF.center_crop(TF.resize(image, [resize], antialias=True), [resize])
        except Exception as err:  # load_image raises typed errors, but one odd file must not end a long run
            skipped.append((str(path), str(err) or type(err).__name__))
            continue
        kept.append(TF.pil_to_tensor(image))
    if not kept:
        raise DistillError(f"None of the {len(paths)} files could be read as an image (first problem: {skipped[0][1]})")
    return torch.stack(kept), skipped


def make_batch(pixels: torch.Tensor, crop: int, augment: bool, device: torch.device) -> torch.Tensor:
    """uint8 images → a normalised float batch on `device`: a random resized crop + flip each, or the centre crop."""
    pixels = pixels.to(device, non_blocking=True)  # crop and resize there: on a GPU the CPU would be the bottleneck
    if augment:
        crops = []
        for image in pixels:
            top, left, height, width = RandomResizedCrop.get_params(image, list(CROP_SCALE), [3 / 4, 4 / 3])
            image = TF.resized_crop(image, top, left, height, width, [crop, crop], antialias=True)
            crops.append(image.flip(-1) if torch.rand(()) < 0.5 else image)
        pixels = torch.stack(crops)
    else:
        pixels = TF.center_crop(pixels, [crop])
    x = pixels.float().div_(255.0)
    return TF.normalize(x, list(TORCHVISION_IMAGENET.mean), list(TORCHVISION_IMAGENET.std))


def aux_heads(model: nn.Module) -> dict[str, nn.Module]:
    heads = {name: getattr(model, name, None) for name in FEEDS}
    if any(head is None for head in heads.values()):
        raise DistillError("This model has no auxiliary heads (aux1, aux2) to train.")
    return heads


def _train_mode(heads: dict[str, nn.Module]) -> None:
    for head in heads.values():
        head.train()  # dropout 0.7 on
        for module in head.modules():
            # Batch norm keeps its running statistics: a batch of 2 would otherwise normalise differently from the
            # app's batch of 1, and the eval-mode outputs would drift from what was trained. The affine part still learns.
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


@torch.no_grad()
def measure_kl(
    extractor: nn.Module, heads: dict[str, nn.Module], pixels: torch.Tensor, *, crop: int, batch_size: int, device: torch.device
) -> dict[str, float]:
    """Mean KL(main || aux) at T=1 over the centre crops, everything in eval mode."""
    for head in heads.values():
        head.eval()
    totals = dict.fromkeys(heads, 0.0)
    for batch in pixels.split(batch_size):
        features = extractor(make_batch(batch, crop, False, device))
        for name, head in heads.items():
            totals[name] += kl_divergence(head(features[FEEDS[name]]), features["logits"]).item() * len(batch)
    return {name: total / len(pixels) for name, total in totals.items()}


def distill_aux(
    model: nn.Module,
    images: list[Path],
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    temperature: float = 1.0,
    device: str | torch.device = "auto",
    progress: bool = True,
    seed: int = 0,
    augment: bool = True,
    resize: int = 256,
    crop: int = 224,
) -> DistillReport:
    """Train `model.aux1` and `model.aux2` (torchvision GoogLeNet layout) to match the main head; nothing else changes.

    resize/crop default to the app's preprocessing (shorter side 256, centre 224). Smaller crops work too (the aux
    heads pool adaptively to 4x4), which tests use for speed; heads trained at 224 are the ones that suit the app.
    device: 'auto' (CUDA, else MPS, else CPU), a device string, or a torch.device.
    The images are held in memory at resize x resize (196 KB each at 256: 1,000 photos ≈ 200 MB).
    Afterwards the model is in eval mode, on its original device, with its requires_grad flags as before.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or temperature <= 0:
        raise ValueError("epochs and batch_size must be at least 1; lr and temperature must be positive.")
    start = time.perf_counter()
    device = pick_device(device) if isinstance(device, str) else device
    heads = aux_heads(model)
    pixels, skipped = read_images(list(images), resize=resize, progress=progress)
    requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    home = next(model.parameters()).device
    try:
        model.eval().to(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "eval nodes are a subsequence of train nodes": expected
            extractor = create_feature_extractor(model, RETURN_NODES).eval()
        for name, p in model.named_parameters():
            p.requires_grad_(name.split(".", 1)[0] in heads)
        measure = dict(crop=crop, batch_size=batch_size, device=device)
        kl_before = measure_kl(extractor, heads, pixels, **measure)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            epoch_kl = _train(extractor, heads, pixels, epochs, batch_size, lr, temperature, crop, augment, device, progress)
        kl_after = measure_kl(extractor, heads, pixels, **measure)
    finally:
        model.eval().to(home)
        for name, p in model.named_parameters():
            p.requires_grad_(requires_grad[name])
    settings = dict(
        epochs=epochs, batch_size=batch_size, lr=lr, temperature=temperature, seed=seed, augment=augment,
        resize=resize, crop=crop, device=str(device),
    )
    return DistillReport(len(pixels), skipped, kl_before, kl_after, epoch_kl, time.perf_counter() - start, settings)


def _train(
    extractor: nn.Module,
    heads: dict[str, nn.Module],
    pixels: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    temperature: float,
    crop: int,
    augment: bool,
    device: torch.device,
    progress: bool,
) -> list[dict[str, float]]:
    optimizer = torch.optim.Adam([p for head in heads.values() for p in head.parameters()], lr=lr)
    n = len(pixels)
    bar = tqdm(total=epochs * math.ceil(n / batch_size), desc="distilling aux heads", unit="batch",
               disable=not progress, file=sys.stderr)
    history = []
    with bar:
        for epoch in range(epochs):
            _train_mode(heads)
            totals = dict.fromkeys(heads, 0.0)
            for index in torch.randperm(n).split(batch_size):
                # Augmented crops change every batch, so the frozen trunk's features are recomputed each time.
                with torch.no_grad():
                    features = extractor(make_batch(pixels[index], crop, augment, device))
                losses = {
                    name: kl_divergence(head(features[FEEDS[name]]), features["logits"], temperature)
                    for name, head in heads.items()
                }
                optimizer.zero_grad(set_to_none=True)
                sum(losses.values()).backward()
                optimizer.step()
                for name, loss in losses.items():
                    totals[name] += loss.item() * len(index)
                bar.set_postfix(epoch=epoch + 1, **{name: f"{loss.item():.3f}" for name, loss in losses.items()})
                bar.update()
            history.append({name: total / n for name, total in totals.items()})
    return history


def save_distilled(model: nn.Module, report: DistillReport, path: str | os.PathLike, *, base: WeightsInfo | None = None) -> Path:
    """Write a checkpoint `model.weights.checkpoint_googlenet` loads, with aux_trained=True in its meta."""
    path = Path(path)
    n = report.n_images
    origin = base.description if base else "GoogLeNet"
    meta = {
        "aux_trained": True,
        "aux_note": (
            f"aux heads distilled from the main head on {n} images: they show what the network would predict from "
            "inception4a (aux1) and inception4d (aux2), not independently ImageNet-trained classifiers."
        ),
        "description": f"{origin}; aux heads distilled from the main head on {n} images",
        # Distillation leaves the main head as it was: random weights stay meaningless.
        "predictions_meaningful": base.predictions_meaningful if base else True,
        "distill": {
            "n_images": n,
            "n_skipped": len(report.skipped),
            "base": base.source if base else "",
            "kl_before": dict(report.kl_before),
            "kl_after": dict(report.kl_after),
            "epoch_kl": [dict(e) for e in report.epoch_kl],
            "seconds": round(report.seconds, 1),
            **report.settings,
        },
    }
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a half checkpoint under the real name
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py distill-aux",
        description="Train GoogLeNet's untrained auxiliary heads to match its main head on a folder of photos "
        "(no labels needed). The main head and trunk are not changed.",
    )
    parser.add_argument("folder", type=Path, help="folder of photos, searched recursively; files that are not images are skipped")
    parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint (.pth)")
    parser.add_argument("--weights", default="imagenet", help="'imagenet' (torchvision's release) or a checkpoint path")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--temperature", type=float, default=1.0, help="distillation temperature T (default 1)")
    parser.add_argument("--no-augment", action="store_true", help="train on centre crops only (no random crop / flip)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:1, mps")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def cli(argv: list[str]) -> int:
    """`python app.py distill-aux FOLDER --out PATH ...` (argv without 'distill-aux'). Returns the exit status:
    0 saved, 2 bad folder or output path, 3 weights or device unusable, 1 the checkpoint could not be written."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error: argparse has printed it
        return int(exit_.code or 0)
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.temperature <= 0:
        return _fail("--epochs and --batch-size must be at least 1; --lr and --temperature must be positive.", 2)
    out: Path = args.out
    if out.is_dir() or not out.parent.is_dir():
        return _fail(f"--out {out}: expected a file path in an existing folder.", 2)
    try:
        files = list_images(args.folder)
        device = pick_device(args.device)
        model, info = load_weights(args.weights)
    except DistillError as err:
        return _fail(str(err), 2)
    except (WeightsError, ValueError) as err:
        return _fail(str(err), 3)
    try:
        report = distill_aux(
            model, files, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, temperature=args.temperature,
            device=device, seed=args.seed, augment=not args.no_augment,
        )
    except DistillError as err:
        return _fail(str(err), 2)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was saved.", 130)
    try:
        save_distilled(model, report, out, base=info)
    except OSError as err:
        return _fail(f"could not write {out}: {err}", 1)
    print(summarize(report, out))
    return 0


def summarize(report: DistillReport, out: Path) -> str:
    lines = [
        f"Distilled the auxiliary heads on {report.n_images} images in {report.seconds:.0f} s "
        f"({report.settings.get('device', '?')}, {len(report.epoch_kl)} epoch{'s' if len(report.epoch_kl) != 1 else ''}).",
    ]
    for name in FEEDS:
        lines.append(f"  KL(main || {name}): {report.kl_before[name]:.4f} -> {report.kl_after[name]:.4f}")
    if report.skipped:
        lines.append(f"Skipped {len(report.skipped)} files:")
        lines += [f"  {Path(file).name}: {reason}" for file, reason in report.skipped[:10]]
        if len(report.skipped) > 10:
            lines.append(f"  ... and {len(report.skipped) - 10} more")
    lines += [f"Saved {out}", f"Use it:  python app.py --weights {out}"]
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
