"""Load GoogLeNet weights: torchvision's ImageNet release, a local checkpoint, or seeded random init."""
from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import GoogLeNet, GoogLeNet_Weights

IMAGENET = GoogLeNet_Weights.IMAGENET1K_V1
CATEGORIES: tuple[str, ...] = tuple(IMAGENET.meta["categories"])
MIN_SIZE: tuple[int, int] = tuple(IMAGENET.meta["min_size"])


class WeightsError(RuntimeError):
    """Weights could not be loaded. `str(err)` is a complete, actionable message for the user."""


class WeightsUnavailableError(WeightsError):
    """The ImageNet weights are not cached and could not be downloaded."""


class CheckpointError(WeightsError):
    """A local checkpoint file is not a usable GoogLeNet state_dict."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where the loaded weights came from, so every view can say it."""

    kind: str  # "imagenet" | "checkpoint" | "random" | "bvlc"
    description: str
    source: str
    predictions_meaningful: bool
    aux_trained: bool
    aux_note: str


def build_googlenet() -> GoogLeNet:
    # transform_input=True matches the ImageNet release, so every checkpoint in its layout loads the same way.
    return GoogLeNet(num_classes=len(CATEGORIES), aux_logits=True, transform_input=True, init_weights=False)


def random_googlenet(seed: int = 0) -> tuple[GoogLeNet, WeightsInfo]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GoogLeNet(num_classes=len(CATEGORIES), aux_logits=True, transform_input=True, init_weights=True)
        # torchvision's init (std 0.01) plus untrained batch norm lets the signal vanish by 4a, so every image would
        # look the same inside. He init keeps activations input-dependent all the way to the logits.
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model, random_info(seed)


def random_info(seed: int, network: str = "") -> WeightsInfo:
    return WeightsInfo(
        kind="random",
        description=f"{network}Random weights (seed {seed}): for exploring the architecture only",
        source=f"seed={seed}",
        predictions_meaningful=False,
        aux_trained=False,
        aux_note="Random weights: the auxiliary heads are untrained, like the rest of the network.",
    )


def imagenet_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(IMAGENET.url).name


def imagenet_googlenet(progress: bool = True) -> tuple[GoogLeNet, WeightsInfo]:
    """torchvision's ImageNet weights through its own weights API and cache (downloads once, with a progress bar)."""
    try:
        state = IMAGENET.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise WeightsUnavailableError(_offline_message(err)) from None
    except Exception as err:  # hash mismatch or a damaged cached file: torch.load raises many kinds

        raise WeightsUnavailableError(
            f"The ImageNet weights file {imagenet_cache_path()} is damaged ({err}). Delete it and start again to re-download it."
        ) from None
    model = build_googlenet()
    model.load_state_dict(state)
    info = WeightsInfo(
        kind="imagenet",
        description="torchvision GoogLeNet, ImageNet-1k weights (IMAGENET1K_V1: 69.8% top-1, 89.5% top-5)",
        source=IMAGENET.url,
        predictions_meaningful=True,
        aux_trained=False,
        aux_note=(
            "torchvision released this model's auxiliary heads untrained: their outputs are random, "
            "not predictions. They are shown only to make the architecture visible."
        ),
    )
    return model, info


def _offline_message(err: BaseException) -> str:
    reason = getattr(err, "reason", err)
    path = imagenet_cache_path()
    return (
        f"Could not download the ImageNet weights for GoogLeNet ({reason}).\n"
        f"  Missing file: {path.name}\n"
        f"  Download it on a machine with internet from {IMAGENET.url}\n"
        f"  and put it at {path} (set TORCH_HOME to use another cache folder),\n"
        f"  or pass it directly with --weights /path/to/{path.name}.\n"
        "  To explore the architecture without it, start with --weights random (predictions will be meaningless)."
    )


def checkpoint_googlenet(path: str | os.PathLike) -> tuple[GoogLeNet, WeightsInfo]:
    """A local torchvision-layout GoogLeNet state_dict (optionally wrapped as {"state_dict": ..., "meta": ...})."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an untrusted file: torch.load raises many kinds; weights_only=True runs no code
        raise CheckpointError(f"{path.name} is not a PyTorch checkpoint that can be loaded safely ({_first_line(err)}).") from None
    meta = payload.get("meta", {}) if isinstance(payload, dict) else {}
    state = _unwrap_state_dict(payload, path)
    model = build_googlenet()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path.name} does not match torchvision's GoogLeNet: {_summarize_mismatch(err)}") from None
    aux_trained = bool(meta.get("aux_trained", False))
    info = WeightsInfo(
        kind="checkpoint",
        description=str(meta.get("description") or f"Local checkpoint {path.name}"),
        source=str(path),
        predictions_meaningful=bool(meta.get("predictions_meaningful", True)),
        aux_trained=aux_trained,
        aux_note=str(
            meta.get("aux_note")
            or "A plain checkpoint does not say whether its auxiliary heads were trained: they are treated as untrained."
        ),
    )
    return model, info


def _unwrap_state_dict(payload: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, dict):
        for key in ("state_dict", "model"):
            if isinstance(payload.get(key), dict):
                payload = payload[key]
                break
    if not isinstance(payload, dict) or not payload or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointError(f"{path.name} holds no state_dict of tensors (expected torchvision's GoogLeNet layout).")
    return {k.removeprefix("module."): v for k, v in payload.items()}


def _summarize_mismatch(err: RuntimeError) -> str:
    lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
    return "; ".join(lines[:4])[:600] or _first_line(err)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def original_googlenet(weights: str, *, seed: int = 0, progress: bool = True) -> tuple[nn.Module, WeightsInfo]:
    """The paper's network with BVLC's Caffe weights ('imagenet'), a local .caffemodel/.pth, or seeded random."""
    from . import bvlc

    if weights == "random":
        return bvlc.build_bvlc_googlenet(seed), random_info(seed, "Original GoogLeNet (paper). ")
    try:
        model, provenance = bvlc.load_bvlc_googlenet(None if weights == "imagenet" else weights, progress=progress)
    except bvlc.BvlcWeightsUnavailableError as err:
        raise WeightsUnavailableError(str(err)) from None
    except bvlc.BvlcWeightsError as err:
        raise CheckpointError(str(err)) from None
    return model, WeightsInfo(**provenance)


ARCHITECTURES = ("torchvision", "original")


def load_weights(
    weights: str = "imagenet", *, arch: str = "torchvision", seed: int = 0, progress: bool = True
) -> tuple[nn.Module, WeightsInfo]:
    """weights: 'imagenet' | 'random' | a path. arch: 'torchvision' (torchvision's GoogLeNet) or 'original'
    (the paper's network, BVLC's Caffe weights)."""
    if arch == "original":
        return original_googlenet(weights, seed=seed, progress=progress)
    if arch != "torchvision":
        raise ValueError(f"Unknown model {arch!r}; expected one of {', '.join(ARCHITECTURES)}.")
    if weights == "imagenet":
        return imagenet_googlenet(progress=progress)
    if weights == "random":
        return random_googlenet(seed)
    return checkpoint_googlenet(weights)
