"""Tests for model/attribution.py (offline, CPU, seeded random GoogLeNet)."""

from __future__ import annotations

import copy
import threading
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from captum.attr import (
    GuidedGradCam,
    IntegratedGradients,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

from model.attribution import (
    METHODS,
    Attribution,
    GuidedUnavailable,
    Settings,
    attribute,
    class_index,
    guided_model,
    layer_names,
    normalize_heatmap,
    search_classes,
)

# Captum's GuidedBackprop warns on every call that it sets temporary hooks.
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")

CATEGORIES = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]


def make_model(seed: int = 0) -> nn.Module:
    """Seeded random GoogLeNet as the app builds it, re-initialised (Kaiming) so
    that activations and logits have a useful scale (torchvision's init_weights
    gives near-constant logits, which would make many checks vacuous)."""
    torch.manual_seed(seed)
    m = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
        elif isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, std=mod.in_features**-0.5)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def scaled_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = float(expected.detach().abs().max())
    assert scale > 0, "reference is all zero: the check would be vacuous"
    torch.testing.assert_close(actual, expected, rtol=0, atol=rel * scale)


def hooks_on(model: nn.Module) -> list[str]:
    found = []
    for name, mod in model.named_modules():
        for attr, value in vars(mod).items():
            if "hook" in attr and isinstance(value, dict) and value:
                found.append(f"{name or '<root>'}.{attr}")
    return found


def assert_pristine(model: nn.Module, x: torch.Tensor, logits: torch.Tensor) -> None:
    assert hooks_on(model) == []
    assert all(not m.training for m in model.modules())
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(model(x), logits)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return make_model(0)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, 224, 224, generator=g)


@pytest.fixture(scope="module")
def small() -> torch.Tensor:  # for the many-evaluation methods, to keep the file fast
    g = torch.Generator().manual_seed(2)
    return torch.randn(1, 3, 128, 128, generator=g)


@pytest.fixture(scope="module")
def logits(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


@pytest.fixture(scope="module")
def top2(logits) -> tuple[int, int]:
    a, b = logits[0].topk(2).indices.tolist()
    return a, b


def _req(x: torch.Tensor) -> torch.Tensor:
    return x.clone().requires_grad_(True)


# ------------------------------------------------------------------ equality with Captum


def test_saliency_matches_captum(model, x, top2, logits):
    t = top2[0]
    att = attribute(model, x, "saliency", t)
    ref = Saliency(model).attribute(_req(x), target=t, abs=True)
    assert isinstance(att, Attribution) and att.method == "saliency" and att.target == t
    assert att.raw.dtype == torch.float32 and att.raw.device.type == "cpu"
    assert att.raw.shape == (1, 3, 224, 224) and not att.signed and att.layer is None
    scaled_close(att.raw, ref)
    expected_heat = normalize_heatmap(ref[0].abs().amax(0), signed=False, percentile=99.0)
    np.testing.assert_allclose(att.heatmap, expected_heat, atol=1e-4)
    assert_pristine(model, x, logits)


def test_integrated_gradients_matches_captum_and_is_complete(model, small):
    with torch.no_grad():
        t = int(model(small).argmax())
    s = Settings(ig_steps=32, ig_batch=8)
    att = attribute(model, small, "ig", t, settings=s)
    ref, ref_delta = IntegratedGradients(model).attribute(
        _req(small),
        baselines=torch.zeros_like(small),
        target=t,
        n_steps=32,
        internal_batch_size=8,
        return_convergence_delta=True,
    )
    assert att.method == "integrated_gradients" and att.signed
    scaled_close(att.raw, ref)
    assert att.delta == pytest.approx(float(ref_delta), abs=1e-5 * float(ref.detach().abs().sum()))
    # The returned delta is the actual completeness gap.
    with torch.no_grad():
        gap = float(model(small)[0, t] - model(torch.zeros_like(small))[0, t])
    total = float(att.raw.double().sum())
    assert abs(gap) > 0.1
    assert att.delta == pytest.approx(total - gap, abs=1e-4 * abs(gap))
    # ... and it is small with enough steps.
    assert abs(att.delta) < 0.05 * abs(gap)
    # More steps -> (much) smaller gap: Gauss-Legendre converges on this path.
    fine = attribute(model, small, "ig", t, settings=Settings(ig_steps=128, ig_batch=16))
    assert abs(fine.delta) < abs(att.delta) or abs(fine.delta) < 1e-3 * abs(gap)
    assert att.heatmap.min() < 0 < att.heatmap.max()


def test_smoothgrad_matches_captum(model, small):
    t = 7
    s = Settings(smoothgrad_samples=6, smoothgrad_batch=4, smoothgrad_noise=0.2)
    torch.manual_seed(123)
    att = attribute(model, small, "smoothgrad", t, settings=s)
    stdev = 0.2 * float(small.max() - small.min())
    assert att.params["stdevs"] == pytest.approx(stdev)
    torch.manual_seed(123)
    ref = NoiseTunnel(Saliency(model)).attribute(
        _req(small), nt_type="smoothgrad", nt_samples=6, nt_samples_batch_size=4, stdevs=stdev, target=t, abs=True
    )
    scaled_close(att.raw, ref)
    # The noise matters (not a disguised Saliency) ...
    plain = attribute(model, small, "saliency", t)
    assert not torch.allclose(att.raw, plain.raw, atol=1e-3 * float(plain.raw.max()))
    # ... and zero noise gives Saliency (up to batch-size-dependent float
    # rounding, which can flip near-tied ReLU/max-pool decisions: ~1 % here).
    zero = attribute(model, small, "smoothgrad", t, settings=Settings(smoothgrad_samples=2, smoothgrad_noise=0.0))
    assert zero.params["stdevs"] == 0.0
    scaled_close(zero.raw, plain.raw, rel=0.03)


def test_occlusion_matches_captum_and_reports_progress(model, small):
    t = 11
    s = Settings(occlusion_window=32, occlusion_stride=24, occlusion_batch=5)
    seen = []
    att = attribute(model, small, "occlusion", t, settings=s, progress=seen.append)
    with torch.no_grad():
        ref = Occlusion(model).attribute(
            small.clone(), sliding_window_shapes=(3, 32, 32), strides=(3, 24, 24), baselines=0.0, target=t,
            perturbations_per_eval=5,
        )
    scaled_close(att.raw, ref)
    positions = ((128 - 32 + 23) // 24 + 1) ** 2
    assert att.params["positions"] == positions == 25
    # progress: starts at 0, rises monotonically, ends at exactly 1; one report per forward batch
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    assert len(seen) == 2 + 1 + -(-positions // 5)
    assert att.signed and att.heatmap.min() < 0 < att.heatmap.max()


# ------------------------------------------------------------------ Grad-CAM


def hand_gradcam(model: nn.Module, x: torch.Tensor, layer: str, target: int, relu: bool = True) -> torch.Tensor:
    store = {}
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    try:
        with torch.enable_grad():
            out = model(x.clone().requires_grad_(True))
            A = store["A"]
            (g,) = torch.autograd.grad(out[0, target], A)
    finally:
        h.remove()
    w = g.mean(dim=(2, 3), keepdim=True)
    cam = (w * A).sum(dim=1, keepdim=True).detach()
    return F.relu(cam) if relu else cam


@pytest.mark.parametrize(
    "layer,rank", [("inception4d", 0), ("inception3a", 0), ("inception5b", 0), ("inception4c.branch3", 1)]
)
def test_gradcam_equals_hand_computed(model, x, top2, logits, layer, rank):
    t = top2[rank]
    att = attribute(model, x, "gradcam", t, layer=layer)
    cam = hand_gradcam(model, x, layer, t)
    assert float(cam.max()) > 0
    if layer == "inception4c.branch3":  # a case where the ReLU in Grad-CAM matters
        assert (hand_gradcam(model, x, layer, t, relu=False) < 0).any()
    assert att.layer == layer and not att.signed
    assert att.coarse.shape == cam.shape
    scaled_close(att.coarse, cam)
    up = F.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)
    assert att.raw.shape == (1, 1, 224, 224)
    scaled_close(att.raw, up)
    np.testing.assert_allclose(att.heatmap, (up[0, 0] / up.max()).numpy(), atol=1e-5)
    assert att.heatmap.max() == pytest.approx(1.0) and att.heatmap.min() >= 0
    assert_pristine(model, x, logits)


def test_gradcam_at_branch(model, x, top2, logits):
    t = top2[0]
    branch = attribute(model, x, "gradcam", t, layer="inception4c.branch3")
    whole = attribute(model, x, "gradcam", t, layer="inception4c")
    ref = LayerGradCam(model, model.inception4c.branch3).attribute(_req(x), target=t, relu_attributions=True)
    scaled_close(branch.coarse, ref)
    scaled_close(branch.coarse, hand_gradcam(model, x, "inception4c.branch3", t))
    assert branch.raw.shape == whole.raw.shape == (1, 1, 224, 224)
    assert not torch.allclose(branch.raw, whole.raw, atol=1e-3 * float(whole.raw.max()))
    assert_pristine(model, x, logits)


def test_layer_names(model):
    names = layer_names(model)
    assert len(names) == 45 and names[0] == "inception3a" and "inception5b.branch4" in names
    assert all(model.get_submodule(n) is not None for n in names)


# ------------------------------------------------------------------ Guided Grad-CAM


def patched_deepcopy(model: nn.Module) -> nn.Module:
    """The test's own, independent patch: every BasicConv2d gets an nn.ReLU module."""
    m = copy.deepcopy(model)
    for mod in m.modules():
        if type(mod).__name__ == "BasicConv2d":
            mod.relu = nn.ReLU()
            mod.forward = types.MethodType(lambda self, z: self.relu(self.bn(self.conv(z))), mod)
    return m


def test_guided_gradcam(model, x, top2, logits):
    t = top2[0]
    gm = guided_model(model)
    assert gm is not model
    assert sum(isinstance(m, nn.ReLU) for m in gm.modules()) == 57 + 2  # + the two aux heads
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 0  # original untouched
    with torch.no_grad():
        assert torch.equal(gm(x), logits)
    att = attribute(model, x, "guided_gradcam", t, layer="inception4d")
    ref_model = patched_deepcopy(model)
    ref = GuidedGradCam(ref_model, ref_model.inception4d).attribute(_req(x), target=t, interpolate_mode="bilinear")
    assert att.raw.shape == (1, 3, 224, 224) and not att.signed
    scaled_close(att.raw, ref)
    # Without the patch Captum silently falls back to plain gradients x CAM: different.
    unguided = GuidedGradCam(model, model.inception4d).attribute(_req(x), target=t, interpolate_mode="bilinear")
    assert not torch.allclose(unguided, ref, atol=1e-3 * float(ref.detach().abs().max()))
    # Guided backprop never passes negative gradients through ReLUs: the guided
    # map is a (masked) product with the CAM, so it vanishes where the CAM does.
    cam = attribute(model, x, "gradcam", t, layer="inception4d").raw
    assert torch.all(att.raw[:, :, cam[0, 0] == 0] == 0)
    assert_pristine(model, x, logits)


class _FunctionalReluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)

    def forward(self, z):
        z = F.relu(self.conv(self.features(z)))  # functional: not hookable
        return self.fc(z.mean(dim=(2, 3)))


def test_guided_gradcam_refuses_functional_relu():
    torch.manual_seed(0)
    net = _FunctionalReluNet().eval()
    z = torch.randn(1, 3, 16, 16)
    with pytest.raises(GuidedUnavailable, match="functionally"):
        attribute(net, z, "guided_gradcam", 1, layer="conv")
    assert hooks_on(net) == []
    # Grad-CAM itself works on any nn.Module.
    att = attribute(net, z, "gradcam", 1, layer="conv")
    assert att.raw.shape == (1, 1, 16, 16)


class _PaperStyleNet(nn.Module):
    """nn.ReLU modules, some in-place (as hand-written paper models often are)."""

    def __init__(self, reuse: bool = False):
        super().__init__()
        self.reuse = reuse
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, z):
        z = self.relu1(self.conv1(z))
        z = (self.relu1 if self.reuse else self.relu2)(self.conv2(z))
        return self.fc(z.mean(dim=(2, 3)))


def test_guided_gradcam_on_a_model_with_relu_modules():
    torch.manual_seed(0)
    net = _PaperStyleNet().eval()
    z = torch.randn(1, 3, 16, 16)
    att = attribute(net, z, "guided_gradcam", 2, layer="conv2")
    ref_net = copy.deepcopy(net)
    ref_net.relu1.inplace = ref_net.relu2.inplace = False
    ref = GuidedGradCam(ref_net, ref_net.conv2).attribute(_req(z), target=2, interpolate_mode="bilinear")
    scaled_close(att.raw, ref)
    assert net.relu1.inplace and net.relu2.inplace and hooks_on(net) == []  # untouched
    with pytest.raises(GuidedUnavailable, match="several times"):
        attribute(_PaperStyleNet(reuse=True).eval(), z, "guided_gradcam", 2, layer="conv2")


# ------------------------------------------------------------------ targets and names


def test_targets_give_different_maps(model, x, top2):
    a, b = top2
    for method in ("saliency", "gradcam"):
        ma = attribute(model, x, method, a, layer="inception4d" if method == "gradcam" else None)
        mb = attribute(model, x, method, b, layer="inception4d" if method == "gradcam" else None)
        assert ma.target == a and mb.target == b
        assert not np.allclose(ma.heatmap, mb.heatmap, atol=1e-3)


def test_class_index_and_search():
    assert CATEGORIES[281] == "tabby"
    assert class_index("tabby", CATEGORIES) == 281
    assert class_index("  TABBY ", CATEGORIES) == 281
    assert class_index("Persian cat", CATEGORIES) == 283
    assert class_index("golden retr", CATEGORIES) == 207  # unique substring
    assert class_index("281", CATEGORIES) == 281
    with pytest.raises(ValueError, match="ambiguous.*tiger cat.*Persian cat"):
        class_index("cat", CATEGORIES)
    with pytest.raises(ValueError, match="no class named 'tabbby'.*'tabby' \\(281\\)"):
        class_index("tabbby", CATEGORIES)
    with pytest.raises(ValueError, match="no class named 'xyzzy'"):
        class_index("xyzzy", CATEGORIES)
    with pytest.raises(ValueError, match="several classes: 0 \\(crane\\), 2 \\(Crane\\)"):
        class_index("crane", ["crane", "heron", "Crane"])
    with pytest.raises(ValueError, match="out of range"):
        class_index("1000", CATEGORIES)
    hits = search_classes("tab", CATEGORIES, limit=5)
    assert hits[0] == (281, "tabby") and len(hits) == 5
    assert all(CATEGORIES[i] == n for i, n in hits)
    assert (283, "Persian cat") in search_classes("persian", CATEGORIES)
    assert search_classes("tabbby", CATEGORIES)[0] == (281, "tabby")
    assert search_classes("", CATEGORIES) == []


# ------------------------------------------------------------------ failures leave no trace


def test_failures_leave_model_pristine(model, x, logits, small):
    with pytest.raises(ValueError, match="no layer 'inception9z'"):
        attribute(model, x, "gradcam", 1, layer="inception9z")
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(model, x, "lrp", 1)
    with pytest.raises(ValueError, match="does not take a layer"):
        attribute(model, x, "saliency", 1, layer="inception4d")
    with pytest.raises(ValueError, match="1xCxHxW"):
        attribute(model, x[0], "saliency", 1)
    with pytest.raises(TypeError):
        attribute(model, x, "saliency", 1.5)
    with pytest.raises(ValueError, match="non-negative"):
        attribute(model, x, "saliency", -1)
    # Out-of-range target: raised inside Captum's call, while its hooks are attached.
    for method in METHODS:
        settings = Settings(ig_steps=2, smoothgrad_samples=2, occlusion_window=128, occlusion_stride=64)
        with pytest.raises(ValueError, match="target 5000 is out of range"):
            attribute(model, small, method, 5000, layer="inception4d" if "cam" in method else None, settings=settings)
        assert_pristine(model, x, logits)

    # A failure in the middle of the backward pass of a hooked layer method.
    class Boom(RuntimeError):
        pass

    calls = []

    def cancel(frac):
        calls.append(frac)
        if frac > 0.3:
            raise Boom()

    with pytest.raises(Boom):
        attribute(model, small, "occlusion", 3, settings=Settings(occlusion_window=32, occlusion_stride=16), progress=cancel)
    assert 0.3 < calls[-1] < 1.0
    with pytest.raises(Boom):
        attribute(model, x, "guided_gradcam", 3, layer="inception4d", progress=cancel)
    assert_pristine(model, x, logits)


def test_inference_mode_and_train_mode_callers(model, x, top2, logits):
    t = top2[0]
    ref = attribute(model, x, "gradcam", t, layer="inception4d")
    with torch.inference_mode():
        xi = x.clone()  # an inference tensor
        att = attribute(model, xi, "gradcam", t, layer="inception4d")
        sal = attribute(model, xi, "saliency", t)
    assert torch.equal(att.raw, ref.raw)
    scaled_close(sal.raw, attribute(model, x, "saliency", t).raw)
    # A caller's model that happens to be in train mode: the call runs in eval
    # mode on its private view and does not touch the caller's flags.
    trained = copy.deepcopy(model).train()
    out = attribute(trained, x, "gradcam", t, layer="inception4d")
    assert torch.equal(out.raw, ref.raw)
    assert all(m.training for m in trained.modules())
    assert hooks_on(trained) == []
    assert_pristine(model, x, logits)


# ------------------------------------------------------------------ concurrency


def test_concurrent_layer_methods_match_sequential(model, x, top2, logits):
    jobs = [
        ("gradcam", "inception4d", top2[0]),
        ("gradcam", "inception3b.branch2", top2[1]),
        ("gradcam", "inception5a", 5),
        ("guided_gradcam", "inception4a", top2[0]),
    ]
    sequential = [attribute(model, x, m, t, layer=layer).raw for m, layer, t in jobs]
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []
    forwards: list[torch.Tensor] = []
    barrier = threading.Barrier(len(jobs) + 1)

    def work(i):
        try:
            barrier.wait()
            for _ in range(2):
                m, layer, t = jobs[i]
                results.setdefault(i, attribute(model, x, m, t, layer=layer).raw)
                assert torch.equal(attribute(model, x, m, t, layer=layer).raw, results[i])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def plain_forwards():  # the app's own forwards on the shared model, at the same time
        try:
            barrier.wait()
            for _ in range(4):
                with torch.no_grad():
                    forwards.append(model(x))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    threads.append(threading.Thread(target=plain_forwards))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    for i, ref in enumerate(sequential):
        assert torch.equal(results[i], ref), jobs[i]
    assert len(forwards) == 4 and all(torch.equal(f, logits) for f in forwards)
    assert_pristine(model, x, logits)


# ------------------------------------------------------------------ heatmap normalization


def test_normalize_heatmap_rules():
    v = np.arange(10000, dtype=np.float32).reshape(100, 100)
    v[0, 0] = 1e9  # one outlier
    h = normalize_heatmap(v, signed=False, percentile=99.0)
    assert h.shape == (100, 100) and h.dtype == np.float32
    p99 = np.percentile(v, 99)
    assert h.min() == pytest.approx(1 / p99, rel=1e-5) and h.max() == 1.0
    assert (h == 1.0).mean() == pytest.approx(0.01, abs=0.002)  # the top 1 % saturate
    assert h[50, 50] == pytest.approx(5050 / np.percentile(v, 99), rel=1e-5)
    # signed keeps the sign and zero, scales by |.| percentile
    s = normalize_heatmap(np.array([[-4.0, 0.0, 2.0]]), signed=True, percentile=100.0)
    np.testing.assert_allclose(s, [[-1.0, 0.0, 0.5]])
    # absolute takes |.|
    np.testing.assert_allclose(normalize_heatmap(np.array([[-4.0, 2.0]]), signed=False, percentile=100), [[1.0, 0.5]])
    # constant / zero / non-finite inputs are safe
    for bad in (np.zeros((5, 5)), np.full((5, 5), np.nan), np.full((5, 5), np.inf)):
        out = normalize_heatmap(bad, signed=False)
        assert out.shape == (5, 5) and np.all(out == 0)
    sparse = np.zeros((100, 100))
    sparse[0, :5] = [1, 2, 3, 4, 8]  # 0.05 % non-zero: the 99th percentile is 0
    np.testing.assert_allclose(normalize_heatmap(sparse, signed=False)[0, :5], [0.125, 0.25, 0.375, 0.5, 1.0])
    const = normalize_heatmap(np.full((5, 5), 3.0), signed=True)
    assert np.all(const == 1.0)
    with pytest.raises(ValueError):
        normalize_heatmap(v, signed=False, percentile=0)


def test_heatmaps_of_every_method_are_in_range(model, small):
    s = Settings(ig_steps=4, smoothgrad_samples=2, occlusion_window=64, occlusion_stride=64)
    with torch.no_grad():
        t = int(model(small).argmax())
    for method in METHODS:
        att = attribute(model, small, method, t, layer="inception4b" if "cam" in method else None, settings=s)
        h = att.heatmap
        assert h.shape == (128, 128) and h.dtype == np.float32 and np.isfinite(h).all()
        lo = -1.0 if att.signed else 0.0
        assert h.min() >= lo and h.max() <= 1.0 and h.max() > 0.5, method
        assert att.signed == (method in ("integrated_gradients", "occlusion"))
        assert att.seconds > 0
    # a constant input image is safe too
    flat = torch.zeros(1, 3, 128, 128)
    for method in ("saliency", "gradcam"):
        att = attribute(model, flat, method, t, layer="inception4b" if method == "gradcam" else None)
        assert np.isfinite(att.heatmap).all() and att.heatmap.min() >= 0 and att.heatmap.max() <= 1
