"""The paper's network (BVLC layout) runs through the same engine and views as torchvision's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model import MODULES, load_engine
from model.bvlc import caffe_input
from model.preprocess import CAFFE_BVLC


@pytest.fixture(scope="module")
def original():
    return load_engine("random", "cpu", arch="original", warm_up=False)


def test_caffe_preprocessing_matches_bvlc(original):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    x, crop = original.prepare(photo)
    expected = caffe_input(torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255)
    torch.testing.assert_close(x[0], expected, rtol=0, atol=1e-4)
    assert original.preprocess is CAFFE_BVLC
    # Warped to 256 x 256 (aspect ratio not kept), then the centre 224: the whole width survives.
    assert crop.shape == (224, 224, 3)


def test_branches_equal_the_models_own_modules(original):
    photo = np.kron(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    x, crop = original.prepare(photo)
    analysis = original.analyzer.run(x, crop)
    model = original.model
    with torch.inference_mode():
        h = x
        for name in ("conv1", "maxpool1", "lrn1", "conv2", "conv3", "lrn2", "maxpool2"):
            h = getattr(model, name)(h)
        for name in MODULES:
            module = getattr(model, f"inception{name}")
            for i, branch in enumerate(analysis.module(name).branches, start=1):
                expected = getattr(module, f"branch{i}")(h)[0].numpy()
                np.testing.assert_allclose(branch.activation, expected, rtol=1e-5, atol=1e-5)
            h = module(h)
            if name == "4a":
                aux1 = torch.softmax(model.aux1(h)[0], 0).numpy()
            if name == "4d":
                aux2 = torch.softmax(model.aux2(h)[0], 0).numpy()
            h = {"3b": model.maxpool3, "4e": model.maxpool4}.get(name, lambda v: v)(h)
    np.testing.assert_allclose(analysis.aux[0].probabilities, aux1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(analysis.aux[1].probabilities, aux2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(analysis.logits, original.forward(x)[0].numpy(), rtol=1e-5, atol=1e-5)


def test_architecture_of_the_paper_network(original):
    arch = original.architecture
    assert arch.notes == ()  # nothing differs from the paper
    assert [b.kernel for b in arch.modules[0].branches] == [1, 3, 5, 1]
    a3 = arch.modules[0]
    assert a3.macs == 28 * 28 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32)


def test_offline_original_model_says_what_is_missing(tmp_path, monkeypatch):
    """The selector loads the paper's network lazily; offline, the first use names the missing file and the way out."""
    import urllib.error

    from model.engine import EnginePool
    from model.weights import WeightsUnavailableError, load_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    checkpoint = tmp_path / "googlenet.pth"
    torch.save(load_weights("random", seed=2)[0].state_dict(), checkpoint)
    pool = EnginePool(str(checkpoint), "cpu", first="torchvision")  # starts fine with a local checkpoint
    with pytest.raises(WeightsUnavailableError) as info:
        pool.get("original")
    message = str(info.value)
    assert "bvlc_googlenet.caffemodel" in message and str(tmp_path / "torch") in message
    assert "--model torchvision" in message
    assert pool.get("torchvision").weights.kind == "checkpoint"  # the loaded model keeps serving


def test_random_pool_gives_both_models_random_weights():
    from model.engine import EnginePool

    pool = EnginePool("random", "cpu", first="torchvision")
    original = pool.get("original")
    assert original.weights.kind == "random" and original.arch == "original"
    assert pool.get("original") is original  # loaded once, then shared
