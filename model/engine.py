"""The loaded model plus everything needed to analyse an image with it: built once at start, shared by requests."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import devices
from .analysis import Analysis, Analyzer
from .images import ImageSource, load_image
from .preprocess import TORCHVISION_IMAGENET, Preprocess
from .weights import CATEGORIES, MIN_SIZE, WeightsInfo, load_weights


@dataclass
class Engine:
    model: nn.Module
    weights: WeightsInfo
    device: torch.device
    preprocess: Preprocess = TORCHVISION_IMAGENET
    categories: Sequence[str] = CATEGORIES
    half: bool = False
    channels_last: bool = False
    analyzer: Analyzer = field(init=False)

    def __post_init__(self) -> None:
        self.model.eval()
        for p in self.model.parameters():  # inputs get gradients (attribution); weights never do
            p.requires_grad_(False)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model.to(self.device, dtype=self.dtype, memory_format=memory_format)
        self.analyzer = Analyzer(self.model, self.weights, self.categories)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.half else torch.float32

    def prepare(self, source: ImageSource) -> tuple[torch.Tensor, np.ndarray]:
        """Image → (1 x 3 x 224 x 224 batch on the device, the RGB crop the model sees)."""
        image = load_image(source, min_size=MIN_SIZE)
        x, crop = self.preprocess(image)
        return self.to_device(x.unsqueeze(0)), crop

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.to(self.device, dtype=self.dtype, memory_format=memory_format, non_blocking=True)

    def analyze(self, source: ImageSource) -> Analysis:
        start = time.perf_counter()
        x, crop = self.prepare(source)
        crop.flags.writeable = False
        return self.analyzer.run(x, crop, {"preprocess": (time.perf_counter() - start) * 1000.0})

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
    half: bool = False,
    channels_last: bool | None = None,
    seed: int = 0,
    progress: bool = True,
    warm_up: bool = True,
) -> Engine:
    """Load GoogLeNet once: 'imagenet' (torchvision's weights, downloaded and cached), 'random', or a checkpoint path.

    Half precision and channels_last apply on CUDA only (on CPU they are slower, not faster).
    """
    target = devices.pick_device(device)
    devices.configure(target)
    model, info = load_weights(weights, seed=seed, progress=progress)
    on_cuda = target.type == "cuda"
    engine = Engine(
        model,
        info,
        target,
        half=half and on_cuda,
        channels_last=on_cuda if channels_last is None else (channels_last and on_cuda),
    )
    if warm_up:
        engine.warm_up()
    return engine
