"""distill-aux: the aux heads learn the main head's softmax; nothing else in the model changes. Offline, CPU, small
crops (64 px: the aux heads pool adaptively to 4x4, so any crop from 64 up runs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import distill
from model.distill import DistillError, distill_aux, list_images, save_distilled
from model.images import load_image
from model.preprocess import Preprocess
from model.weights import checkpoint_googlenet, random_googlenet

SIZE = 64
N_GOOD = 12
HEADS = {"aux1": "inception4a", "aux2": "inception4d"}
SETTINGS = dict(epochs=8, batch_size=6, lr=1e-3, resize=SIZE, crop=SIZE, device="cpu", progress=False, seed=0)


def write_photos(folder: Path, n: int = N_GOOD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((SIZE, SIZE), Image.NEAREST).save(folder / f"photo{i:02d}.png")
    return folder


def batch(files: list[Path]) -> torch.Tensor:
    prep = Preprocess(resize=SIZE, crop=SIZE)
    return torch.stack([prep(load_image(f))[0] for f in files])


@torch.no_grad()
def outputs(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Main logits and each aux head's logits, through forward hooks (independent of model.distill)."""
    model.eval()
    seen: dict[str, torch.Tensor] = {}
    hooks = [getattr(model, module).register_forward_hook(lambda m, i, o, k=key: seen.__setitem__(k, o))
             for key, module in HEADS.items()]
    try:
        logits = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return logits, {key: getattr(model, key)(seen[key]) for key in HEADS}


def kl_main_aux(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    logits, aux = outputs(model, x)
    log_p = logits.log_softmax(-1)
    return {k: float((log_p.exp() * (log_p - a.log_softmax(-1))).sum(-1).mean()) for k, a in aux.items()}


def trunk(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("aux1.", "aux2."))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = write_photos(tmp_path_factory.mktemp("photos"))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    (folder / "notes.txt").write_text("not a photo")
    good = sorted(folder.glob("photo*.png"))
    model, info = random_googlenet(0)
    for name, p in model.named_parameters():  # an unusual pattern, to see it restored exactly
        p.requires_grad_(name.startswith(("fc.", "aux2.fc1")))
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    x = batch(good)
    before = {"kl": kl_main_aux(model, x), "trunk": trunk(model), "aux1": model.aux1.fc2.weight.clone()}
    model.train()
    report = distill_aux(model, list_images(folder), **SETTINGS)
    return dict(model=model, info=info, report=report, x=x, flags=flags, before=before, folder=folder)


def test_kl_falls_for_both_heads(run):
    before, after = run["before"]["kl"], kl_main_aux(run["model"], run["x"])
    for head in HEADS:
        assert after[head] < 0.5 * before[head], (head, before, after)
    # the report measures the same thing
    for head in HEADS:
        assert run["report"].kl_before[head] == pytest.approx(before[head], rel=1e-3)
        assert run["report"].kl_after[head] == pytest.approx(after[head], rel=1e-3)
    assert len(run["report"].epoch_kl) == SETTINGS["epochs"]


def test_only_the_aux_heads_change(run):
    now = trunk(run["model"])
    assert now.keys() == run["before"]["trunk"].keys()
    for key, value in run["before"]["trunk"].items():
        assert torch.equal(now[key], value), key
    assert not torch.equal(run["model"].aux1.fc2.weight, run["before"]["aux1"])


def test_model_left_in_eval_with_flags_restored(run):
    model = run["model"]
    assert not any(m.training for m in model.modules())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == run["flags"]
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_bad_files_are_skipped_with_reasons(run):
    report = run["report"]
    assert report.n_images == N_GOOD
    assert sorted(Path(f).name for f, _ in report.skipped) == ["corrupt.png", "notes.txt"]
    assert all(reason.strip() for _, reason in report.skipped)


def test_checkpoint_round_trip(run, tmp_path):
    path = save_distilled(run["model"], run["report"], tmp_path / "distilled.pth", base=run["info"])
    loaded, info = checkpoint_googlenet(path)
    assert info.aux_trained is True
    assert f"{N_GOOD} images" in info.aux_note
    assert info.predictions_meaningful is False  # the base was random: distilling does not make it meaningful
    meta = torch.load(path, weights_only=True)["meta"]["distill"]
    assert meta["n_images"] == N_GOOD and meta["kl_after"]["aux1"] < meta["kl_before"]["aux1"]
    logits_a, aux_a = outputs(run["model"], run["x"])
    logits_b, aux_b = outputs(loaded, run["x"])
    torch.testing.assert_close(logits_b, logits_a, rtol=0, atol=0)
    for head in HEADS:
        torch.testing.assert_close(aux_b[head], aux_a[head], rtol=0, atol=0)


def test_state_restored_on_error(tmp_path, monkeypatch):
    files = sorted(write_photos(tmp_path / "photos", n=2).iterdir())
    model, _ = random_googlenet(1)
    model.eval()
    flags = {name: p.requires_grad for name, p in model.named_parameters()}

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(distill, "_train", boom)
    with pytest.raises(RuntimeError, match="boom"):
        distill_aux(model, files, **SETTINGS)
    assert not any(m.training for m in model.modules())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags


def test_no_usable_image_is_a_clear_error(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    model, _ = random_googlenet(0)
    with pytest.raises(DistillError, match="None of the 1 files"):
        distill_aux(model, [tmp_path / "a.txt"], **SETTINGS)


def test_cli_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert distill.cli([str(tmp_path / "empty"), "--out", str(tmp_path / "o.pth")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "Traceback" not in err
    assert distill.cli([str(tmp_path / "missing"), "--out", str(tmp_path / "o.pth")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_bad_weights_exits_3(tmp_path, capsys):
    folder = write_photos(tmp_path / "photos", n=1)
    assert distill.cli([str(folder), "--out", str(tmp_path / "o.pth"), "--weights", str(tmp_path / "nope.pth")]) == 3
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_cli_end_to_end(tmp_path, capsys):
    folder = write_photos(tmp_path / "photos", n=2)
    out = tmp_path / "aux.pth"
    code = distill.cli([str(folder), "--out", str(out), "--weights", "random", "--epochs", "1", "--batch-size", "2",
                        "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "on 2 images" in text and f"python app.py --weights {out}" in text
    assert checkpoint_googlenet(out)[1].aux_trained
