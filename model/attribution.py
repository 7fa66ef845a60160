"""Attribution maps for GoogLeNet (and any nn.Module classifier), built on Captum.

One call for every method::

    att = attribute(model, x, "gradcam", target=281, layer="inception4d")
    att.heatmap   # HxW float32, ready to overlay ([0, 1], or [-1, 1] when att.signed)

``x`` is an already-preprocessed (ImageNet-normalized) tensor of shape 1x3xHxW;
it is moved to the model's device/dtype if needed.  ``target`` is a class index
(the caller passes the top-1 class by default); :func:`class_index` and
:func:`search_classes` turn class names into indices.

Methods (``METHODS``; see :class:`Settings` for the knobs):

* ``"saliency"`` - vanilla gradient, Captum ``Saliency(abs=True)``.
* ``"integrated_gradients"`` - Captum ``IntegratedGradients`` (Gauss-Legendre,
  ``ig_steps`` steps, batched by ``ig_batch``), baseline = all zeros *in
  normalized space*, i.e. the ImageNet-mean colour (a flat mid grey-brown
  image), not black.  The convergence delta is returned in ``Attribution.delta``.
* ``"smoothgrad"`` - Captum ``NoiseTunnel(Saliency)`` with
  ``nt_type="smoothgrad"``: the mean of |gradient| over ``smoothgrad_samples``
  noisy copies; noise stdev = ``smoothgrad_noise`` x (max(x) - min(x)) (the
  SmoothGrad paper's "noise level"), reported in ``params["stdevs"]``.  The
  noise comes from torch's global RNG (seed it for reproducible maps).
* ``"gradcam"`` - Captum ``LayerGradCam(relu_attributions=True)`` at any
  Inception module (``"inception4d"``) or a single branch
  (``"inception4d.branch2"``), upsampled bilinearly to HxW with
  ``LayerAttribution.interpolate``.  The layer-resolution map is kept in
  ``Attribution.coarse``.
* ``"guided_gradcam"`` - Captum ``GuidedGradCam`` (guided backprop x Grad-CAM,
  bilinear upsampling) on a private view of the model in which every
  torchvision ``BasicConv2d`` applies its ReLU through an ``nn.ReLU`` module
  (torchvision uses functional ``F.relu``, which Captum cannot hook).  The view
  is checked once per model: the same logits (bit-identical on CPU), and no
  ReLU left outside an ``nn.ReLU`` module (counted with a TorchFunctionMode
  during one forward); otherwise :class:`GuidedUnavailable` is raised.
* ``"occlusion"`` - Captum ``Occlusion`` with a square grey (zero in normalized
  space = mean colour) window of ``occlusion_window`` pixels moved by
  ``occlusion_stride``; attribution = drop of the target logit when the patch is
  hidden (positive = evidence for the class).

Heatmap normalization (:func:`normalize_heatmap`):

* channel reduction: Saliency / SmoothGrad / Guided Grad-CAM -> max over
  channels of |raw| (absolute); Integrated Gradients -> sum over channels
  (signed); Occlusion -> mean over channels (signed; all channels are equal);
  Grad-CAM has one channel (absolute, >= 0).
* scale: divide by the ``clip_percentile`` (default 99) percentile of |map| and
  clip to [0, 1] (absolute) or [-1, 1] (signed; 0 stays 0 so a diverging
  colormap is centred).  Pixel-gradient maps are spiky, so the top 1 % saturate;
  Grad-CAM and Occlusion are smooth/blocky and are divided by their maximum
  (percentile 100).  If the percentile is 0 (a map that is zero almost
  everywhere) the maximum is used instead; an all-zero or non-finite map gives
  zeros (NaN/inf entries count as 0).

Safety: every call runs on a *private view* of the model - a fresh module tree
that shares the parameter and buffer tensors but has its own hook dictionaries
and its own train/eval flags (set to eval).  Captum's temporary hooks are
therefore never attached to the shared model, so concurrent calls (and the
app's own forward passes) cannot see each other's hooks, no lock is needed, and
the shared model is never switched to train mode nor left with hooks, even when
a call fails.  Gradients are taken with ``torch.autograd.grad`` w.r.t. a private
clone of the input only (Captum never calls ``backward()``), so nothing
accumulates in ``.grad`` and parameters may stay ``requires_grad=False``.
Calls work inside ``torch.inference_mode()`` / ``no_grad()`` too.
"""

from __future__ import annotations

import difflib
import math
import operator
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from captum.attr import (
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

__all__ = [
    "METHODS",
    "SIGNED_METHODS",
    "LAYER_METHODS",
    "INCEPTION_MODULES",
    "BRANCHES",
    "DEFAULT_LAYER",
    "Settings",
    "Attribution",
    "GuidedUnavailable",
    "attribute",
    "layer_names",
    "normalize_heatmap",
    "guided_model",
    "class_index",
    "search_classes",
]

METHODS = (
    "saliency",
    "integrated_gradients",
    "smoothgrad",
    "gradcam",
    "guided_gradcam",
    "occlusion",
)
SIGNED_METHODS = frozenset({"integrated_gradients", "occlusion"})
LAYER_METHODS = frozenset({"gradcam", "guided_gradcam"})
_ALIASES = {
    "ig": "integrated_gradients",
    "integratedgradients": "integrated_gradients",
    "vanilla_gradients": "saliency",
    "gradients": "saliency",
    "smooth_grad": "smoothgrad",
    "grad_cam": "gradcam",
    "guided_grad_cam": "guided_gradcam",
}

INCEPTION_MODULES = (
    "inception3a",
    "inception3b",
    "inception4a",
    "inception4b",
    "inception4c",
    "inception4d",
    "inception4e",
    "inception5a",
    "inception5b",
)
BRANCHES = ("branch1", "branch2", "branch3", "branch4")
DEFAULT_LAYER = "inception5b"  # the last conv block: classic Grad-CAM choice

# Captum's GuidedBackprop warns on every call that it sets (temporary) hooks.
# They live on our private view and are removed in Captum's own try/finally.
warnings.filterwarnings(
    "ignore", message="Setting backward hooks on ReLU activations", category=UserWarning
)


class GuidedUnavailable(ValueError):
    """Guided Grad-CAM cannot be computed correctly for this model."""


@dataclass(frozen=True)
class Settings:
    """Knobs for :func:`attribute`.  ``None`` batch sizes pick a device default."""

    ig_steps: int = 32
    ig_batch: int | None = None  # CPU: 8, CUDA: all steps in one batch
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15  # stdev as a fraction of (max(x) - min(x))
    smoothgrad_batch: int | None = None  # CPU: 8, CUDA: all samples at once
    occlusion_window: int = 48  # pixels (square), at most min(H, W)
    occlusion_stride: int = 24  # pixels, 1 <= stride <= window
    occlusion_batch: int | None = None  # perturbations per forward; CPU 16, CUDA 64
    clip_percentile: float = 99.0  # for pixel-gradient heatmaps, see module doc


@dataclass(frozen=True, eq=False)
class Attribution:
    method: str
    target: int
    layer: str | None  # Grad-CAM / Guided Grad-CAM layer name, else None
    raw: torch.Tensor  # CPU float32; 1x3xHxW (input methods), 1x1xHxW (Grad-CAM, upsampled)
    heatmap: np.ndarray  # HxW float32 in [0, 1] or, if signed, [-1, 1]
    signed: bool
    seconds: float  # wall time of the whole call
    delta: float | None = None  # IG convergence delta: sum(raw) - (f(x) - f(baseline))
    coarse: torch.Tensor | None = None  # Grad-CAM at layer resolution, 1x1xhxw, CPU float32
    params: Mapping[str, Any] = field(default_factory=dict)  # effective settings used


# --------------------------------------------------------------------------- names


def layer_names(model: nn.Module | None = None) -> list[str]:
    """The nine Inception modules, each followed by its four branches.

    With ``model`` given, only names that exist in it are returned.
    """
    names = []
    for mod in INCEPTION_MODULES:
        names.append(mod)
        names.extend(f"{mod}.{b}" for b in BRANCHES)
    if model is not None:
        names = [n for n in names if _has_submodule(model, n)]
    return names


def _has_submodule(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False


def _canonical_method(method: str) -> str:
    key = str(method).strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    return key


# --------------------------------------------------------------------------- private views


def _private_view(module: nn.Module) -> nn.Module:
    """A new module tree with the same classes, parameters and buffers.

    Every module object is new, with its own ``_modules`` dict, its own (empty)
    hook dicts and its own ``training`` flag; tensors are shared, not copied, so
    building a view costs well under a millisecond per module and the view
    always sees the current weights.  Hooks already attached to the shared model
    (e.g. by another request) are deliberately not carried over.
    """
    memo: dict[int, nn.Module] = {}

    def clone(m: nn.Module) -> nn.Module:
        done = memo.get(id(m))
        if done is not None:
            return done
        new = m.__class__.__new__(m.__class__)
        state = dict(m.__dict__)
        for key, value in state.items():
            if "hook" in key and isinstance(value, dict):
                state[key] = type(value)()
        state["_parameters"] = dict(m._parameters)
        state["_buffers"] = dict(m._buffers)
        memo[id(m)] = new
        state["_modules"] = {k: (clone(c) if c is not None else None) for k, c in m._modules.items()}
        new.__dict__.update(state)
        return new

    return clone(module)


class _Logits(nn.Module):
    """Root module handed to Captum: view -> logits, counting evaluated examples.

    It also checks the target against the number of classes, so an
    out-of-range target fails with a clear message (inside Captum's call).
    """

    def __init__(self, net: nn.Module, target: int, on_batch: Callable[[int], None] | None):
        super().__init__()
        self.net = net
        self._target = target
        self._on_batch = on_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if not isinstance(out, torch.Tensor):  # GoogLeNetOutputs / tuples
            out = out.logits if hasattr(out, "logits") else out[0]
        if out.dim() != 2:
            raise ValueError(f"model output must be N x classes, got shape {tuple(out.shape)}")
        if self._target >= out.shape[1]:
            raise ValueError(f"target {self._target} is out of range: the model has {out.shape[1]} classes")
        if self._on_batch is not None:
            self._on_batch(x.shape[0])
        return out


class _GuidedBasicConv2d(nn.Module):
    """conv -> bn -> nn.ReLU(): torchvision's BasicConv2d with a hookable ReLU."""

    def __init__(self, conv: nn.Module, bn: nn.Module):
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _basic_conv_classes() -> tuple[type, ...]:
    classes = []
    try:
        from torchvision.models.googlenet import BasicConv2d as _G

        classes.append(_G)
    except ImportError:  # pragma: no cover
        pass
    try:
        from torchvision.models.inception import BasicConv2d as _I

        classes.append(_I)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


_BASIC_CONV = _basic_conv_classes()


def _patch_relus(view: nn.Module) -> nn.Module:
    """In the private view only: every torchvision BasicConv2d gets an nn.ReLU
    module, and every nn.ReLU(inplace=True) becomes nn.ReLU() (same values;
    Captum's guided-backprop tensor hooks need the ReLU input intact)."""
    for parent in list(view.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and type(child) in _BASIC_CONV:
                parent._modules[name] = _GuidedBasicConv2d(child.conv, child.bn)
            elif type(child) is nn.ReLU and child.inplace:
                parent._modules[name] = nn.ReLU()
    return view


_RELU_FUNCS = frozenset(
    f
    for f in (
        F.relu,
        getattr(F, "relu_", None),
        torch.relu,
        getattr(torch, "relu_", None),
        torch.Tensor.relu,
        getattr(torch.Tensor, "relu_", None),
    )
    if f is not None
)


class _CountReLU(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCS:
            self.calls += 1
        return func(*args, **(kwargs or {}))


_guided_checked: "weakref.WeakKeyDictionary[nn.Module, str | None]" = weakref.WeakKeyDictionary()
_guided_lock = threading.Lock()


def _check_guided(model: nn.Module, x: torch.Tensor) -> None:
    """Once per model: patched view gives identical logits, all ReLUs are modules."""
    with _guided_lock:
        if model in _guided_checked:
            problem = _guided_checked[model]
        else:
            problem = _verify_guided(model, x)
            _guided_checked[model] = problem
    if problem:
        raise GuidedUnavailable(problem)


def _verify_guided(model: nn.Module, x: torch.Tensor) -> str | None:
    plain = _private_view(model).eval()
    guided = _patch_relus(_private_view(model)).eval()
    relu_modules = [m for m in guided.modules() if isinstance(m, nn.ReLU)]
    if any(m.inplace for m in relu_modules):
        return "the model uses an in-place nn.ReLU subclass, which guided backprop hooks cannot handle"
    module_calls = [0]
    per_module: dict[int, int] = {}

    def count(m, *_):
        module_calls[0] += 1
        per_module[id(m)] = per_module.get(id(m), 0) + 1

    handles = [m.register_forward_hook(count) for m in relu_modules]
    try:
        with torch.no_grad():
            ref = _Logits(plain, 0, None)(x)
            with _CountReLU() as counter:
                out = _Logits(guided, 0, None)(x)
    finally:
        for h in handles:
            h.remove()
    if counter.calls != module_calls[0]:
        return (
            f"the model applies {counter.calls - module_calls[0]} ReLU(s) functionally (F.relu) "
            "outside nn.ReLU modules; guided backprop would silently skip them"
        )
    if module_calls[0] == 0:
        return "the model has no ReLU modules to guide"
    if any(n > 1 for n in per_module.values()):
        return (
            "the model calls one nn.ReLU module several times per forward; Captum's "
            "guided-backprop hooks keep one gradient per module and would mix them up"
        )
    # Bit-identical on CPU; a hair of slack for nondeterministic GPU kernels.
    if not torch.allclose(out, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max())):
        return "the ReLU-module copy does not reproduce the model's logits"
    return None


def guided_model(model: nn.Module) -> nn.Module:
    """The private, eval-mode view used for Guided Grad-CAM (BasicConv2d -> nn.ReLU module).

    Shares the model's parameter tensors; the model itself is not modified.
    """
    return _patch_relus(_private_view(model)).eval()


# --------------------------------------------------------------------------- heatmaps


def normalize_heatmap(values: torch.Tensor | np.ndarray, signed: bool, percentile: float = 99.0) -> np.ndarray:
    """Scale an HxW map for overlay (see the module docstring for the rule)."""
    v = values.detach().float().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    v = np.nan_to_num(v.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if not signed:
        v = np.abs(v)
    if not 0.0 < percentile <= 100.0:
        raise ValueError("percentile must be in (0, 100]")
    mag = np.abs(v)
    scale = float(np.percentile(mag, percentile)) if v.size else 0.0
    if scale <= 0.0 and v.size:  # sparse map: fall back to the maximum
        scale = float(mag.max())
    if not math.isfinite(scale) or scale <= 0.0:
        return np.zeros(v.shape, dtype=np.float32)
    lo = -1.0 if signed else 0.0
    return np.clip(v / scale, lo, 1.0).astype(np.float32)


def _reduce_channels(method: str, raw: torch.Tensor) -> torch.Tensor:
    r = raw[0]
    if method == "integrated_gradients":
        return r.sum(0)
    if method == "occlusion":
        return r.mean(0)
    return r.abs().amax(0)


# --------------------------------------------------------------------------- main entry


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in model.parameters():
        return t.device, t.dtype
    for t in model.buffers():
        return t.device, t.dtype
    return torch.device("cpu"), torch.float32


def _batch(value: int | None, device: torch.device, cpu: int, cuda: int) -> int:
    if value is None:
        value = cpu if device.type == "cpu" else cuda
    value = int(value)
    if value < 1:
        raise ValueError("batch sizes must be >= 1")
    return value


def _check_target(target: Any) -> int:
    if isinstance(target, torch.Tensor) and target.numel() == 1:
        target = target.item()
    if isinstance(target, bool):
        raise TypeError("target must be a class index (int), got a bool")
    try:
        t = operator.index(target)
    except TypeError:
        raise TypeError(f"target must be a class index (int), got {target!r}") from None
    if t < 0:
        raise ValueError(f"target must be a non-negative class index, got {t}")
    return t


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int,
    *,
    layer: str | None = None,
    settings: Settings | None = None,
    progress: Callable[[float], None] | None = None,
) -> Attribution:
    """Compute one attribution map for ``target`` (see module docstring).

    ``layer`` is used by "gradcam" / "guided_gradcam" (default ``DEFAULT_LAYER``)
    and must be ``None`` otherwise.  ``progress`` (optional) is called with the
    fraction of model evaluations done, in [0, 1], from the calling thread; an
    exception it raises aborts the computation (e.g. to cancel).
    """
    t0 = time.perf_counter()
    method = _canonical_method(method)
    target = _check_target(target)
    s = settings if settings is not None else Settings()
    if method in LAYER_METHODS:
        layer = DEFAULT_LAYER if layer is None else str(layer)
        if not _has_submodule(model, layer):
            raise ValueError(
                f"no layer {layer!r} in the model; valid names are e.g. "
                + ", ".join(layer_names(model)[:10])
                + " ..."
            )
    elif layer is not None:
        raise ValueError(f"method {method!r} does not take a layer")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be a 1xCxHxW tensor, got {getattr(x, 'shape', type(x))}")
    device, dtype = _device_dtype(model)

    with torch.inference_mode(False), torch.enable_grad():
        # A private, autograd-capable copy of the input (works even if x is an
        # inference-mode tensor).
        inp = x.detach().to(device=device, dtype=dtype).clone().requires_grad_(True)
        if method == "guided_gradcam":
            _check_guided(model, inp.detach())
            view = guided_model(model)
        else:
            view = _private_view(model).eval()
        total = [1]
        seen = [0]

        def on_batch(n: int) -> None:
            seen[0] += n
            if progress is not None:
                progress(min(seen[0] / total[0], 1.0))

        root = _Logits(view, target, on_batch)
        if progress is not None:
            progress(0.0)
        params: dict[str, Any] = {}
        delta = None
        coarse = None
        H, W = inp.shape[-2:]

        if method == "saliency":
            raw = Saliency(root).attribute(inp, target=target, abs=True)

        elif method == "integrated_gradients":
            steps = int(s.ig_steps)
            if steps < 1:
                raise ValueError("ig_steps must be >= 1")
            batch = _batch(s.ig_batch, device, 8, steps)
            total[0] = steps + 2  # + f(x) and f(baseline) for the delta
            baseline = torch.zeros_like(inp)
            raw, d = IntegratedGradients(root).attribute(
                inp,
                baselines=baseline,
                target=target,
                n_steps=steps,
                internal_batch_size=batch,
                return_convergence_delta=True,
            )
            delta = float(d.reshape(-1)[0])
            params = {"n_steps": steps, "internal_batch_size": batch, "baseline": "zeros (normalized space)"}

        elif method == "smoothgrad":
            n = int(s.smoothgrad_samples)
            if n < 1:
                raise ValueError("smoothgrad_samples must be >= 1")
            batch = _batch(s.smoothgrad_batch, device, 8, n)
            stdev = float(s.smoothgrad_noise) * float(inp.detach().max() - inp.detach().min())
            if not stdev >= 0.0:
                raise ValueError("smoothgrad_noise must be >= 0")
            total[0] = n
            raw = NoiseTunnel(Saliency(root)).attribute(
                inp,
                nt_type="smoothgrad",
                nt_samples=n,
                nt_samples_batch_size=batch,
                stdevs=stdev,
                target=target,
                abs=True,
            )
            params = {"nt_samples": n, "nt_samples_batch_size": batch, "stdevs": stdev}

        elif method == "gradcam":
            cam = LayerGradCam(root, view.get_submodule(layer)).attribute(
                inp, target=target, relu_attributions=True
            )
            if cam.dim() != 4:
                raise ValueError(f"layer {layer!r} has no spatial output (shape {tuple(cam.shape)})")
            coarse = cam
            raw = LayerAttribution.interpolate(cam, (H, W), interpolate_mode="bilinear")
            params = {"interpolate_mode": "bilinear", "layer_size": tuple(cam.shape[-2:])}

        elif method == "guided_gradcam":
            total[0] = 2
            raw = GuidedGradCam(root, view.get_submodule(layer)).attribute(
                inp, target=target, interpolate_mode="bilinear"
            )
            if raw.shape != inp.shape:
                raise ValueError(f"layer {layer!r} has no spatial output to upsample")
            params = {"interpolate_mode": "bilinear"}

        else:  # occlusion
            w, st = int(s.occlusion_window), int(s.occlusion_stride)
            if not 1 <= w <= min(H, W):
                raise ValueError(f"occlusion_window must be in 1..{min(H, W)}")
            if not 1 <= st <= w:
                raise ValueError("occlusion_stride must be in 1..occlusion_window")
            batch = _batch(s.occlusion_batch, device, 16, 64)
            positions = (math.ceil((H - w) / st) + 1) * (math.ceil((W - w) / st) + 1)
            total[0] = 1 + positions
            C = inp.shape[1]
            with torch.no_grad():
                raw = Occlusion(root).attribute(
                    inp.detach(),
                    sliding_window_shapes=(C, w, w),
                    strides=(C, st, st),
                    baselines=0.0,
                    target=target,
                    perturbations_per_eval=batch,
                    show_progress=False,
                )
            params = {"window": w, "stride": st, "positions": positions, "perturbations_per_eval": batch}

        raw = raw.detach().float().cpu()
        if coarse is not None:
            coarse = coarse.detach().float().cpu()

    signed = method in SIGNED_METHODS
    pct = 100.0 if method in ("gradcam", "occlusion") else float(s.clip_percentile)
    heat = raw[0, 0] if method == "gradcam" else _reduce_channels(method, raw)
    heatmap = normalize_heatmap(heat, signed, pct)
    if progress is not None:
        progress(1.0)
    return Attribution(
        method=method,
        target=target,
        layer=layer if method in LAYER_METHODS else None,
        raw=raw,
        heatmap=heatmap,
        signed=signed,
        seconds=time.perf_counter() - t0,
        delta=delta,
        coarse=coarse,
        params=params,
    )


# --------------------------------------------------------------------------- class names


def _norm(s: str) -> str:
    return " ".join(str(s).replace("_", " ").casefold().split())


def class_index(name: str, categories: Sequence[str]) -> int:
    """Index of the class called ``name``.

    Case-insensitive exact match first, then a unique substring match; a
    decimal string is taken as an index.  Raises ``ValueError`` listing the
    candidates (ambiguous) or close matches (unknown).
    """
    q = _norm(name)
    if not q:
        raise ValueError("empty class name")
    if q.isdigit():
        i = int(q)
        if i < len(categories):
            return i
        raise ValueError(f"class index {i} out of range (0..{len(categories) - 1})")
    normed = [_norm(c) for c in categories]
    exact = [i for i, c in enumerate(normed) if c == q]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        listing = ", ".join(f"{i} ({categories[i]})" for i in exact)
        raise ValueError(f"{name!r} names several classes: {listing}; pass the index instead")
    sub = [i for i, c in enumerate(normed) if q in c]
    if len(sub) == 1:
        return sub[0]
    if len(sub) > 1:
        shown = ", ".join(f"{categories[i]!r} ({i})" for i in sub[:10])
        more = f" and {len(sub) - 10} more" if len(sub) > 10 else ""
        raise ValueError(f"{name!r} is ambiguous: it matches {shown}{more}")
    close = [i for i, _ in search_classes(name, categories, limit=5)]
    hint = ", ".join(f"{categories[i]!r} ({i})" for i in close) if close else "none"
    raise ValueError(f"no class named {name!r}; close matches: {hint}")


def search_classes(query: str, categories: Sequence[str], limit: int = 10) -> list[tuple[int, str]]:
    """Up to ``limit`` (index, name) pairs matching ``query``, best first.

    Order: exact, prefix, word-prefix, substring, then fuzzy (difflib) matches.
    """
    q = _norm(query)
    if not q or limit <= 0:
        return []
    ranked: list[tuple[tuple, int]] = []
    for i, c in enumerate(categories):
        n = _norm(c)
        if n == q:
            rank = 0
        elif n.startswith(q):
            rank = 1
        elif any(w.startswith(q) for w in n.replace("-", " ").split()):
            rank = 2
        elif q in n:
            rank = 3
        else:
            continue
        ranked.append(((rank, len(n), i), i))
    ranked.sort()
    out = [i for _, i in ranked[:limit]]
    if len(out) < limit:
        normed = [_norm(c) for c in categories]
        fuzzy = difflib.get_close_matches(q, normed, n=limit * 3, cutoff=0.6)
        for f in fuzzy:
            for i, n in enumerate(normed):
                if n == f and i not in out:
                    out.append(i)
            if len(out) >= limit:
                break
    return [(i, categories[i]) for i in out[:limit]]
