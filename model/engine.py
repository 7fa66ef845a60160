"""The loaded model plus everything needed to analyse an image with it: built once at start, shared by requests."""
from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from . import devices
from .analysis import Analysis, Analyzer
from .architecture import Architecture, describe
from .attribution import Attribution, attribute
from .images import ImageSource, load_image
from .preprocess import CAFFE_BVLC, TORCHVISION_IMAGENET, Preprocess
from .weights import CATEGORIES, MIN_SIZE, WeightsInfo, load_weights


@dataclass
class Engine:
    model: nn.Module
    weights: WeightsInfo
    device: torch.device
    arch: str = "torchvision"  # or "original" (the paper's network)
    preprocess: Preprocess = TORCHVISION_IMAGENET
    categories: Sequence[str] = CATEGORIES
    half: bool = False
    channels_last: bool = False
    analyzer: Analyzer = field(init=False)

    def __post_init__(self) -> None:
        self.model.eval()
        for p in self.model.parameters():  # inputs get gradients (attribution); weights never do
            p.requires_grad_(False)
        self.model.to(self.device, dtype=self.dtype, memory_format=self.memory_format)
        self.analyzer = Analyzer(self.model, self.weights, self.categories)

    @functools.cached_property
    def architecture(self) -> Architecture:
        return describe(self.model)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.half else torch.float32

    def prepare(self, source: ImageSource) -> tuple[torch.Tensor, np.ndarray]:
        """Image → (1 x 3 x 224 x 224 batch on the device, the RGB crop the model sees)."""
        image = load_image(source, min_size=MIN_SIZE)
        x, crop = self.preprocess(image)
        return self.to_device(x.unsqueeze(0)), crop

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, dtype=self.dtype, memory_format=self.memory_format, non_blocking=True)

    def analyze(self, source: ImageSource) -> Analysis:
        start = time.perf_counter()
        x, crop = self.prepare(source)
        crop.flags.writeable = False
        return self.analyzer.run(x, crop, {"preprocess": (time.perf_counter() - start) * 1000.0})

    def attribute(self, crop: np.ndarray, method: str, target: int, **options) -> Attribution:
        """Attribution map for the crop an analysis saw (`Analysis.image`); options as `model.attribution.attribute`."""
        x = self.to_device(self.preprocess.to_tensor(Image.fromarray(crop)).unsqueeze(0))
        return attribute(self.model, x, method, target, **options)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The bare model: logits only."""
        return self.model(x)

    def warm_up(self, runs: int = 2) -> None:
        grey = np.full((256, 256, 3), 128, dtype=np.uint8)
        for _ in range(runs):
            self.analyze(grey)


def load_engine(
    weights: str = "imagenet",
    device: str = "auto",
    *,
    arch: str = "torchvision",
    half: bool = False,
    channels_last: bool | None = None,
    seed: int = 0,
    progress: bool = True,
    warm_up: bool = True,
) -> Engine:
    """Load GoogLeNet once: 'imagenet' (downloaded once and cached), 'random', or a checkpoint path.

    arch 'torchvision' is torchvision's GoogLeNet; 'original' is the paper's network with BVLC's Caffe weights.

    Half precision and channels_last apply on CUDA only (on CPU they are slower, not faster).
    """
    target = devices.pick_device(device)
    devices.configure(target)
    model, info = load_weights(weights, arch=arch, seed=seed, progress=progress)
    on_cuda = target.type == "cuda"
    engine = Engine(
        model,
        info,
        target,
        arch=arch,
        preprocess=CAFFE_BVLC if arch == "original" else TORCHVISION_IMAGENET,
        half=half and on_cuda,
        channels_last=on_cuda if channels_last is None else (channels_last and on_cuda),
    )
    if warm_up:
        engine.warm_up()
    return engine


class EnginePool:
    """One engine per architecture, each loaded lazily on first use and then shared by every request."""

    def __init__(self, weights: str = "imagenet", device: str = "auto", *, half: bool = False, seed: int = 0,
                 first: str = "torchvision") -> None:
        self.weights, self.device, self.half, self.seed = weights, device, half, seed
        self.first = first
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()
        self.get(first)

    def get(self, arch: str) -> Engine:
        with self._lock:
            if arch not in self._engines:
                # A checkpoint path names weights for the architecture it was given with; the other one uses its
                # own pretrained weights, or random ones when the user asked for random.
                weights = self.weights if arch == self.first or self.weights == "random" else "imagenet"
                self._engines[arch] = load_engine(weights, self.device, arch=arch, half=self.half, seed=self.seed)
            return self._engines[arch]
