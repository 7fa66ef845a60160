"""Resize, crop and normalise an RGB image exactly as the loaded weights expect."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F


@dataclass(frozen=True)
class Preprocess:
    """The steps of torchvision's `ImageClassification` transform, with Caffe's variant (BGR, 0-255) as an option.

    resize: shorter side to this many pixels (int), or warp to (height, width).
    scale: 1.0 for pixels in [0, 1], 255.0 for Caffe's 0-255 range; mean and std are in that range.
    """

    resize: int | tuple[int, int] = 256
    crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    scale: float = 1.0
    bgr: bool = False
    interpolation: InterpolationMode = InterpolationMode.BILINEAR

    def crop_image(self, image: Image.Image) -> Image.Image:
        """The exact pixels the model sees (before normalisation)."""
        size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
        image = F.resize(image, size, interpolation=self.interpolation, antialias=True)
        return F.center_crop(image, [self.crop])

    def to_tensor(self, crop: Image.Image) -> torch.Tensor:
        x = F.convert_image_dtype(F.pil_to_tensor(crop), torch.float)
        if self.bgr:
            x = x.flip(0)
        if self.scale != 1.0:
            x = x * self.scale
        return F.normalize(x, list(self.mean), list(self.std))

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, np.ndarray]:
        """Returns the 3 x crop x crop input tensor and the crop as an H x W x 3 uint8 array (RGB) for display."""
        crop = self.crop_image(image)
        return self.to_tensor(crop), np.asarray(crop, dtype=np.uint8)


TORCHVISION_IMAGENET = Preprocess()
# BVLC GoogLeNet (Caffe): warp to 256 x 256, centre 224 crop, BGR, 0-255 minus the BGR mean (model.bvlc.CAFFE_PREPROCESS).
CAFFE_BVLC = Preprocess(resize=(256, 256), crop=224, mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0), scale=255.0, bgr=True)
