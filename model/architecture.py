"""Architecture facts computed from the model object itself, with the paper's Table 1 beside them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .analysis import BRANCHES, MODULES, build_extractor

# Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, params (K), ops (M).
PAPER_TABLE: dict[str, tuple[int, int, int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32, 159, 128),
    "3b": (128, 128, 192, 32, 96, 64, 380, 304),
    "4a": (192, 96, 208, 16, 48, 64, 364, 73),
    "4b": (160, 112, 224, 24, 64, 64, 437, 88),
    "4c": (128, 128, 256, 24, 64, 64, 463, 100),
    "4d": (112, 144, 288, 32, 64, 64, 580, 119),
    "4e": (256, 160, 320, 32, 128, 128, 840, 170),
    "5a": (256, 160, 320, 32, 128, 128, 1072, 54),
    "5b": (384, 192, 384, 48, 128, 128, 1388, 71),
}
PAPER_KERNELS = (1, 3, 5, 1)  # the main kernel of each branch in the paper


@dataclass(frozen=True)
class LayerSpec:
    path: str
    kind: str  # "conv" | "maxpool"
    kernel: int
    in_channels: int
    out_channels: int
    params: int
    macs: int


@dataclass(frozen=True)
class BranchSpec:
    role: str
    path: str
    kernel: int  # the branch's widest kernel as built
    paper_kernel: int
    out_channels: int
    layers: tuple[LayerSpec, ...]
    params: int  # every parameter in the branch (conv weights, biases, batch norm)
    macs: int  # multiply-adds of its convolutions

    @property
    def label(self) -> str:
        """"3x3 · 128 ch", with the paper's kernel where the model differs ("3x3 (paper: 5x5) · 32 ch")."""
        kernel = f"{self.kernel}x{self.kernel}"
        if self.kernel != self.paper_kernel:
            kernel += f" (paper: {self.paper_kernel}x{self.paper_kernel})"
        return f"{kernel} · {self.out_channels} ch"


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    in_channels: int
    out_channels: int
    size: int  # spatial size (H = W) at a 224 x 224 input
    branches: tuple[BranchSpec, ...]
    naive_out_channels: int  # the same module without 1x1 reductions: pool branch passes all input channels
    naive_params: int
    naive_macs: int

    @property
    def params(self) -> int:
        return sum(b.params for b in self.branches)

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.branches)


@dataclass(frozen=True)
class Note:
    key: str  # "kernel" | "batch_norm" | "no_lrn": lets a UI say it in another language
    text: str


@dataclass(frozen=True)
class Architecture:
    modules: tuple[ModuleSpec, ...]
    total_params: int
    head_in_features: int  # channels entering global average pooling
    head_size: int  # spatial size there (7)
    fc_equivalent_weights: int  # a fully connected 7x7xC → C layer instead of global average pooling
    notes: tuple[Note, ...]  # how this model differs from the paper


def _convs_in(module: nn.Module, prefix: str) -> list[tuple[str, nn.Conv2d]]:
    return [(f"{prefix}.{n}" if n else prefix, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def _branch_spec(model: nn.Module, path: str, role: str, paper_kernel: int, size: int) -> BranchSpec:
    branch = model.get_submodule(path)
    layers = []
    for name, module in branch.named_modules():
        if isinstance(module, nn.MaxPool2d):
            k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            layers.append(LayerSpec(f"{path}.{name}", "maxpool", k, 0, 0, 0, 0))
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            weights = module.weight.numel()
            layers.append(
                LayerSpec(
                    f"{path}.{name}",
                    "conv",
                    kh,
                    module.in_channels,
                    module.out_channels,
                    sum(p.numel() for p in module.parameters()),
                    weights * size * size,  # stride 1, same padding inside a module
                )
            )
    convs = [layer for layer in layers if layer.kind == "conv"]
    return BranchSpec(
        role=role,
        path=path,
        kernel=max(layer.kernel for layer in convs),
        paper_kernel=paper_kernel,
        out_channels=convs[-1].out_channels,
        layers=tuple(layers),
        params=sum(p.numel() for p in branch.parameters()),
        macs=sum(layer.macs for layer in convs),
    )


def _naive(branches: tuple[BranchSpec, ...], in_channels: int, size: int) -> tuple[int, int, int]:
    """Each branch applies its main kernel straight to the module input; the pool branch has no projection."""
    weights = sum(in_channels * b.out_channels * b.kernel * b.kernel for b in branches[:3])
    out_channels = sum(b.out_channels for b in branches[:3]) + in_channels
    return out_channels, weights, weights * size * size


@torch.inference_mode()
def _sizes(model: nn.Module, input_size: int) -> dict[str, int]:
    param = next(model.parameters())
    x = torch.zeros(1, 3, input_size, input_size, device=param.device, dtype=param.dtype)
    features = build_extractor(model)(x)
    return {name: features[name].shape[-1] for name in MODULES}


def describe(model: nn.Module, input_size: int = 224) -> Architecture:
    sizes = _sizes(model, input_size)
    modules = []
    for name in MODULES:
        size = sizes[name]
        branches = tuple(
            _branch_spec(model, f"inception{name}.branch{i}", role, PAPER_KERNELS[i - 1], size)
            for i, role in enumerate(BRANCHES, start=1)
        )
        in_channels = branches[0].layers[0].in_channels
        naive_out, naive_params, naive_macs = _naive(branches, in_channels, size)
        modules.append(
            ModuleSpec(
                name=name,
                in_channels=in_channels,
                out_channels=sum(b.out_channels for b in branches),
                size=size,
                branches=branches,
                naive_out_channels=naive_out,
                naive_params=naive_params,
                naive_macs=naive_macs,
            )
        )
    last = modules[-1]
    return Architecture(
        modules=tuple(modules),
        total_params=sum(p.numel() for p in model.parameters()),
        head_in_features=last.out_channels,
        head_size=last.size,
        fc_equivalent_weights=last.size * last.size * last.out_channels * last.out_channels,
        notes=differences_from_paper(model, modules),
    )


def differences_from_paper(model: nn.Module, modules: list[ModuleSpec]) -> tuple[Note, ...]:
    notes = []
    odd = [m.name for m in modules if any(b.kernel != b.paper_kernel for b in m.branches)]
    if odd:
        kernels = sorted({b.kernel for m in modules for b in m.branches if b.kernel != b.paper_kernel})
        kernel_text = "/".join(f"{k}x{k}" for k in kernels)
        notes.append(Note(
            "kernel",
            f"The \"5x5\" branch uses a {kernel_text} kernel here, not 5x5 (modules {', '.join(odd)}); "
            "torchvision kept this from the original port (pytorch/vision#906).",
        ))
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        notes.append(Note("batch_norm", "Every convolution is followed by batch normalization, which the 2014 paper "
                                        "did not have."))
    if not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules()):
        notes.append(Note("no_lrn", "There is no local response normalization (the paper uses it after the first "
                                    "two convolutions)."))
    return tuple(notes)
