"""The original GoogLeNet (Szegedy et al. 2014) as BVLC trained it in Caffe, auxiliary classifiers included.

Layer for layer BVLC's models/bvlc_googlenet/deploy.prototxt: local response normalization, true 5x5
convolutions, convolutions with biases and no batch norm, max pooling that rounds up like Caffe's. Module names
mirror torchvision's GoogLeNet (conv1, inception3a.branch1, aux1, fc, ...) so that feature extraction and every
view treat both models the same. The classes are in Caffe's ILSVRC-2012 order, which is torchvision's order.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.googlenet import GoogLeNetOutputs

from model.caffe import CaffeFormatError, CaffeLayer, fit_blob, read_caffemodel, require_layer

BVLC_URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
BVLC_SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"  # BVLC/caffe models/bvlc_googlenet/readme.md
BVLC_FILENAME = "bvlc_googlenet.caffemodel"
START_INSTEAD = (
    "To start without it, use --model torchvision (torchvision's GoogLeNet), "
    "or --weights random to explore the architecture untrained."
)


@dataclass(frozen=True)
class CaffePreprocess:
    """The input BVLC GoogLeNet was trained on, as in Caffe's ILSVRC-2012 examples (classify.py, train_val):
    warp the image to 256 x 256 (aspect ratio not kept), centre-crop 224 x 224, channels in BGR order,
    pixel values 0-255 (scale times [0, 1]), minus the per-channel mean (given in BGR order), divided by std."""

    channel_order: str = "BGR"
    scale: float = 255.0
    mean: tuple[float, float, float] = (104.0, 117.0, 123.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: tuple[int, int] = (256, 256)
    crop: int = 224
    interpolation: str = "bilinear"


CAFFE_PREPROCESS = CaffePreprocess()


def caffe_input(rgb: Tensor) -> Tensor:
    """RGB values in [0, 1] (3 x H x W or N x 3 x H x W, e.g. the output of ToTensor) → the network's input."""
    p = CAFFE_PREPROCESS
    mean = torch.tensor(p.mean, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    std = torch.tensor(p.std, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb.flip(-3) * p.scale - mean) / std


def rgb_from_caffe_input(x: Tensor) -> Tensor:
    """The inverse of caffe_input: back to RGB values in [0, 1] (not clamped)."""
    p = CAFFE_PREPROCESS
    mean = torch.tensor(p.mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(p.std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return ((x * std + mean) / p.scale).flip(-3)


class BasicConv2d(nn.Module):
    """A Caffe convolution (with bias) and its ReLU, a module so that hooks (guided backprop) can reach it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x))


class Inception(nn.Module):
    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 5, padding=2))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(in_channels, pool_proj, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, in_channels: int, num_classes: int = 1000, dropout: float = 0.7) -> None:
        super().__init__()
        self.avgpool = nn.AvgPool2d(5, stride=3, ceil_mode=True)
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        # N x 512 (aux1) or 528 (aux2) x 14 x 14 → N x 128 x 4 x 4
        x = self.conv(self.avgpool(x))
        x = self.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(self.dropout(x))


class BVLCGoogLeNet(nn.Module):
    """Input: N x 3 x 224 x 224, see CAFFE_PREPROCESS. In eval mode forward returns the main logits; in training
    mode torchvision's GoogLeNetOutputs(logits, aux_logits2, aux_logits1)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.4, dropout_aux: float = 0.7) -> None:
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        self.aux1 = InceptionAux(512, num_classes, dropout_aux)
        self.aux2 = InceptionAux(528, num_classes, dropout_aux)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # Caffe's 7x7/1 average pool at 224 x 224 input
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        x = self.lrn1(self.maxpool1(self.conv1(x)))  # N x 64 x 56 x 56
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))  # N x 192 x 28 x 28
        x = self.inception3b(self.inception3a(x))  # N x 480 x 28 x 28
        x = self.inception4a(self.maxpool3(x))  # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.training else None
        x = self.maxpool4(self.inception4e(x))  # N x 832 x 7 x 7
        x = self.inception5b(self.inception5a(x))  # N x 1024 x 7 x 7
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if self.training:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def build_bvlc_googlenet(seed: int | None = 0) -> BVLCGoogLeNet:
    """Untrained, initialised as BVLC's train_val.prototxt does (Caffe's xavier, biases 0.2, classifier biases 0),
    reproducibly for a given seed without touching the global random state. In eval mode."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = BVLCGoogLeNet()
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = (3.0 / fan_in) ** 0.5
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.constant_(module.bias, 0.0 if name in ("fc", "aux1.fc2", "aux2.fc2") else 0.2)
    return model.eval()


def _caffe_layer_names() -> dict[str, str]:
    names = {"conv1/7x7_s2": "conv1.conv", "conv2/3x3_reduce": "conv2.conv", "conv2/3x3": "conv3.conv"}
    for block in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        caffe, ours = f"inception_{block}", f"inception{block}"
        names |= {
            f"{caffe}/1x1": f"{ours}.branch1.conv",
            f"{caffe}/3x3_reduce": f"{ours}.branch2.0.conv",
            f"{caffe}/3x3": f"{ours}.branch2.1.conv",
            f"{caffe}/5x5_reduce": f"{ours}.branch3.0.conv",
            f"{caffe}/5x5": f"{ours}.branch3.1.conv",
            f"{caffe}/pool_proj": f"{ours}.branch4.1.conv",
        }
    for i in (1, 2):
        names |= {f"loss{i}/conv": f"aux{i}.conv.conv", f"loss{i}/fc": f"aux{i}.fc1", f"loss{i}/classifier": f"aux{i}.fc2"}
    names["loss3/classifier"] = "fc"
    return names


# BVLC layer name (deploy/train_val.prototxt) → module in BVLCGoogLeNet; each holds a weight and a bias blob.
CAFFE_LAYER_NAMES: dict[str, str] = _caffe_layer_names()


def state_dict_from_caffemodel(layers: Mapping[str, CaffeLayer]) -> dict[str, Tensor]:
    """BVLCGoogLeNet's state_dict from read_caffemodel's layers. CaffeFormatError (MissingLayerError for a
    missing layer) names the layer that is absent or has the wrong shape."""
    with torch.device("meta"):
        shapes = {key: tuple(value.shape) for key, value in BVLCGoogLeNet().state_dict().items()}
    state: dict[str, Tensor] = {}
    for caffe_name, module in CAFFE_LAYER_NAMES.items():
        layer = require_layer(layers, caffe_name, blobs=2)
        for blob, kind in zip(layer.blobs, ("weight", "bias")):
            key = f"{module}.{kind}"
            state[key] = torch.from_numpy(fit_blob(blob, shapes[key], f"Caffe layer {caffe_name!r} {kind}").copy())
    return state


class BvlcWeightsError(RuntimeError):
    """BVLC GoogLeNet's weights could not be loaded. `str(err)` is a complete, actionable message."""


class BvlcWeightsUnavailableError(BvlcWeightsError):
    """The weights are not cached and could not be downloaded."""


class BvlcChecksumError(BvlcWeightsError):
    """The cached or downloaded .caffemodel is not BVLC's file (SHA-1 mismatch)."""


def bvlc_cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def bvlc_caffemodel_path() -> Path:
    return bvlc_cache_dir() / BVLC_FILENAME


def bvlc_converted_path() -> Path:
    return bvlc_cache_dir() / f"bvlc_googlenet-{BVLC_SHA1[:8]}.pth"


def load_bvlc_googlenet(
    source: str | os.PathLike | None = None, *, progress: bool = True
) -> tuple[BVLCGoogLeNet, dict[str, object]]:
    """The trained BVLC GoogLeNet in eval mode, and where its weights came from (the fields of
    model.weights.WeightsInfo). source None: BVLC's official file from torch hub's cache, downloaded (with a
    progress bar) and SHA-1-checked on first use and converted once to a .pth beside it. Otherwise a local
    .caffemodel with BVLC GoogLeNet's layers, or a .pth converted earlier."""
    if source is None:
        state = _official_state(progress)
        origin, description = BVLC_URL, "BVLC GoogLeNet (Caffe, bvlc_googlenet.caffemodel: 68.7% top-1, 88.9% top-5)"
    else:
        path = Path(source)
        state = _local_state(path)
        origin, description = str(path), f"BVLC GoogLeNet, weights from {path.name}"
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise BvlcWeightsError(f"{origin} holds no state_dict of tensors.")
    model = BVLCGoogLeNet()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BvlcWeightsError(f"{origin} does not fit BVLC GoogLeNet: {str(err).splitlines()[-1].strip()}") from None
    provenance = {
        "kind": "bvlc",
        "description": description,
        "source": origin,
        "predictions_meaningful": True,
        "aux_trained": True,
        "aux_note": "BVLC trained both auxiliary classifiers with the network (loss weight 0.3 each): "
        "their outputs are real predictions from inception 4a and 4d.",
    }
    return model.eval(), provenance


def _local_state(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise BvlcWeightsError(f"Weights file not found: {path}")
    if path.suffix == ".caffemodel":
        try:
            return state_dict_from_caffemodel(read_caffemodel(path))
        except CaffeFormatError as err:
            raise BvlcWeightsError(str(err)) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an untrusted file: torch.load raises many kinds (KeyError for plain bytes)
        raise BvlcWeightsError(f"{path.name} is neither a .caffemodel nor a PyTorch state_dict that loads safely ({err}).") from None


def _official_state(progress: bool) -> dict[str, Tensor]:
    converted = bvlc_converted_path()
    if converted.is_file():
        try:
            return torch.load(converted, map_location="cpu", weights_only=True)
        except Exception:  # damaged (torch.load raises many kinds): convert again from the .caffemodel
            pass
    caffemodel = bvlc_caffemodel_path()
    downloaded = not caffemodel.is_file()
    if downloaded:
        _download(caffemodel, progress)
    sha1 = _sha1(caffemodel)
    if sha1 != BVLC_SHA1:
        if downloaded:
            caffemodel.unlink(missing_ok=True)
        raise BvlcChecksumError(
            f"{caffemodel} is not BVLC's {BVLC_FILENAME}: its SHA-1 is {sha1}, expected {BVLC_SHA1}.\n"
            + ("  The download was damaged and has been deleted; start again to retry.\n" if downloaded else
               "  Delete it and start again to download it afresh.\n")
            + f"  {START_INSTEAD}"
        )
    try:
        state = state_dict_from_caffemodel(read_caffemodel(caffemodel))
    except CaffeFormatError as err:
        raise BvlcWeightsError(str(err)) from None
    tmp = converted.with_suffix(".pth.partial")
    try:
        torch.save(state, tmp)
        os.replace(tmp, converted)
    except OSError:
        pass  # a read-only cache only costs converting again next time
    return state


def _download(dst: Path, progress: bool) -> None:
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(BVLC_URL, str(dst), progress=progress)
    except OSError as err:  # URLError, HTTPError, timeouts, connection resets
        reason = getattr(err, "reason", None) or err
        raise BvlcWeightsUnavailableError(
            f"Could not download BVLC GoogLeNet's weights ({reason}).\n"
            f"  Missing file: {BVLC_FILENAME} (53 MB, SHA-1 {BVLC_SHA1})\n"
            f"  Download it on a machine with internet from {BVLC_URL}\n"
            f"  and put it at {dst} (set TORCH_HOME to use another cache folder).\n"
            f"  {START_INSTEAD}"
        ) from None


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
