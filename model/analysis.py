"""One forward pass → every number the app shows, as an immutable result.

The branch outputs come from torchvision's `create_feature_extractor`: a traced copy of the model whose forward
returns them, so no hook or module attribute ever holds one request's tensors where another request could see them.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from .weights import WeightsInfo

MODULES: tuple[str, ...] = ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
BRANCHES: tuple[str, ...] = ("1x1", "3x3", "5x5", "pool proj")  # roles in the paper; branch1..branch4 in code
AUX_HEADS: tuple[tuple[str, str], ...] = (("aux1", "4a"), ("aux2", "4d"))
TOP_CHANNELS = 16


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class BranchActivation:
    role: str  # "1x1" | "3x3" | "5x5" | "pool proj"
    activation: np.ndarray  # C x H x W, post-ReLU, float32, read-only
    mean: float  # mean activation over channels and positions
    share: float  # this branch's part of the module's total activation
    active_fraction: float  # fraction of units > 0
    top_channels: tuple[tuple[int, float], ...]  # (channel, spatial mean), most active first


@dataclass(frozen=True)
class ModuleActivation:
    name: str  # "3a" … "5b"
    output: np.ndarray  # C x H x W: the four branches concatenated
    branches: tuple[BranchActivation, ...]


@dataclass(frozen=True)
class AuxOutput:
    name: str  # "aux1" | "aux2"
    after: str  # the module whose output feeds it
    top5: tuple[Prediction, ...]
    probabilities: np.ndarray  # (classes,), read-only
    trained: bool
    note: str


@dataclass(frozen=True)
class Analysis:
    top5: tuple[Prediction, ...]
    logits: np.ndarray
    probabilities: np.ndarray
    modules: tuple[ModuleActivation, ...]
    aux: tuple[AuxOutput, ...]
    image: np.ndarray  # the crop the model saw, H x W x 3 uint8
    weights: WeightsInfo
    timings_ms: Mapping[str, float]

    def module(self, name: str) -> ModuleActivation:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(f"No Inception module {name!r}; expected one of {', '.join(MODULES)}")


def return_nodes() -> dict[str, str]:
    nodes = {}
    for name in MODULES:
        nodes[f"inception{name}"] = name
        for i in range(1, 5):
            nodes[f"inception{name}.branch{i}"] = f"{name}/{i}"
    nodes["fc"] = "logits"
    return nodes


def build_extractor(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "eval nodes are a subsequence of train nodes": expected
        return create_feature_extractor(model, return_nodes=return_nodes()).eval()


def _read_only(t: torch.Tensor) -> np.ndarray:
    array = t.detach().float().contiguous().cpu().numpy()
    array.flags.writeable = False
    return array


def top_k(probabilities: torch.Tensor, categories: Sequence[str], k: int = 5) -> tuple[Prediction, ...]:
    values, indices = torch.topk(probabilities, k)
    return tuple(Prediction(int(i), categories[int(i)], float(v)) for v, i in zip(values.tolist(), indices.tolist()))


def summarize(features: Mapping[str, torch.Tensor]) -> tuple[ModuleActivation, ...]:
    """Branch statistics, computed on the model's device; one transfer per tensor."""
    modules = []
    for name in MODULES:
        output = features[name][0].float()
        total = output.sum().clamp_min(1e-12)
        branches = []
        for i, role in enumerate(BRANCHES, start=1):
            act = features[f"{name}/{i}"][0].float()
            channel_means = act.mean(dim=(1, 2))
            k = min(TOP_CHANNELS, channel_means.numel())
            top_values, top_indices = torch.topk(channel_means, k)
            stats = torch.stack([channel_means.mean(), act.sum() / total, (act > 0).float().mean()]).tolist()
            branches.append(
                BranchActivation(
                    role=role,
                    activation=_read_only(act),
                    mean=stats[0],
                    share=stats[1],
                    active_fraction=stats[2],
                    top_channels=tuple(zip(top_indices.tolist(), top_values.tolist())),
                )
            )
        modules.append(ModuleActivation(name=name, output=_read_only(output), branches=tuple(branches)))
    return tuple(modules)


class Analyzer:
    """Runs the one-pass analysis for a loaded model. Safe to call from many threads at once."""

    def __init__(self, model: nn.Module, weights: WeightsInfo, categories: Sequence[str]):
        self.model = model
        self.weights = weights
        self.categories = tuple(categories)
        self.extractor = build_extractor(model)

    @torch.inference_mode()
    def run(self, x: torch.Tensor, image: np.ndarray, timings: dict[str, float] | None = None) -> Analysis:
        """`x`: a preprocessed 1 x 3 x H x W batch on the model's device."""
        timings = dict(timings or {})
        sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

        start = time.perf_counter()
        features = self.extractor(x)
        sync()
        timings["forward"] = _ms(start)

        start = time.perf_counter()
        aux_logits = [getattr(self.model, name)(features[after]) for name, after in AUX_HEADS]
        sync()
        timings["aux"] = _ms(start)

        start = time.perf_counter()
        logits = features["logits"][0].float()
        probabilities = logits.softmax(0)
        aux = tuple(
            self._aux_output(name, after, out[0].float().softmax(0)) for (name, after), out in zip(AUX_HEADS, aux_logits)
        )
        modules = summarize(features)
        top5 = top_k(probabilities, self.categories)
        timings["summarize"] = _ms(start)
        timings["total"] = sum(timings.values())
        return Analysis(
            top5=top5,
            logits=_read_only(logits),
            probabilities=_read_only(probabilities),
            modules=modules,
            aux=aux,
            image=image,
            weights=self.weights,
            timings_ms=MappingProxyType(timings),
        )

    def _aux_output(self, name: str, after: str, probabilities: torch.Tensor) -> AuxOutput:
        return AuxOutput(
            name=name,
            after=after,
            top5=top_k(probabilities, self.categories),
            probabilities=_read_only(probabilities),
            trained=self.weights.aux_trained,
            note=self.weights.aux_note,
        )


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
