"""Loading: torchvision's weights API and cache (offline, simulated), local checkpoints, seeded random."""
from __future__ import annotations

import urllib.error

import pytest
import torch

from model import weights as W
from model.weights import CheckpointError, WeightsUnavailableError, load_weights


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def logits(model: torch.nn.Module, seed: int = 3) -> torch.Tensor:
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return model.eval()(x)


def test_random_is_seeded_and_labelled():
    a, info = load_weights("random", seed=7)
    b, _ = load_weights("random", seed=7)
    c, _ = load_weights("random", seed=8)
    torch.testing.assert_close(logits(a), logits(b), rtol=0, atol=0)
    assert not torch.allclose(logits(a), logits(c))
    assert info.kind == "random" and not info.predictions_meaningful and not info.aux_trained


def test_checkpoint_round_trip(tmp_path):
    model, _ = load_weights("random", seed=1)
    path = tmp_path / "googlenet.pth"
    torch.save(model.state_dict(), path)
    loaded, info = load_weights(str(path))
    torch.testing.assert_close(logits(loaded), logits(model), rtol=0, atol=0)
    assert info.kind == "checkpoint" and info.aux_trained is False and path.name in info.description
    # Wrapped and DataParallel-prefixed layouts load too.
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, wrapped)
    torch.testing.assert_close(logits(load_weights(str(wrapped))[0]), logits(model), rtol=0, atol=0)


def test_checkpoint_metadata_is_honoured(tmp_path):
    model, _ = load_weights("random", seed=1)
    path = tmp_path / "distilled.pth"
    meta = {"aux_trained": True, "aux_note": "aux heads distilled from the main head on 12 images"}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    _, info = load_weights(str(path))
    assert info.aux_trained is True and info.aux_note == meta["aux_note"]


def test_wrong_shape_checkpoint(tmp_path):
    model, _ = load_weights("random")
    state = model.state_dict()
    state["fc.weight"] = torch.zeros(10, 1024)
    state["fc.bias"] = torch.zeros(10)
    path = tmp_path / "ten_classes.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="size mismatch for fc.weight"):
        load_weights(str(path))


def test_missing_keys_checkpoint(tmp_path):
    model, _ = load_weights("random")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("aux")}
    path = tmp_path / "no_aux.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="Missing key"):
        load_weights(str(path))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_non_checkpoint_files(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_weights(str(path))


def test_checkpoint_with_code_is_refused(tmp_path):
    """weights_only=True: a pickle that would run code is rejected, not executed."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_weights(str(path))


def test_missing_checkpoint_path():
    with pytest.raises(CheckpointError, match="not found"):
        load_weights("/no/such/googlenet.pth")


def test_offline_first_run_gives_actionable_message(torch_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        load_weights("imagenet", progress=False)
    message = str(info.value)
    assert "googlenet-1378be20.pth" in message
    assert str(torch_home / "hub" / "checkpoints" / "googlenet-1378be20.pth") in message
    assert "--weights random" in message and W.IMAGENET.url in message


def test_imagenet_loads_from_torchvision_cache_without_network(torch_home, monkeypatch):
    """The real loading path (torchvision's weights API) reads a file already in the hub cache."""
    model, _ = load_weights("random", seed=5)
    cached = torch_home / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    torch.save(model.state_dict(), cached)
    assert W.imagenet_cache_path() == cached

    def no_network(*args, **kwargs):
        raise AssertionError("must not download when the file is cached")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    loaded, info = load_weights("imagenet", progress=False)
    torch.testing.assert_close(logits(loaded), logits(model), rtol=0, atol=0)
    assert info.kind == "imagenet" and info.predictions_meaningful and info.aux_trained is False
    assert "untrained" in info.aux_note


def test_damaged_cache_file(torch_home):
    cached = torch_home / "hub" / "checkpoints" / "googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(WeightsUnavailableError, match="damaged"):
        load_weights("imagenet", progress=False)
