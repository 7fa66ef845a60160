"""The one-pass analysis against torchvision's own modules, run by hand."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model import BRANCHES, MODULES, CATEGORIES
from tests.conftest import ASSETS


def reference_features(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Walk torchvision's GoogLeNet.forward step by step, calling each InceptionX.branchN ourselves."""
    out = {}
    with torch.inference_mode():
        h = model._transform_input(x)
        h = model.maxpool1(model.conv1(h))
        h = model.maxpool2(model.conv3(model.conv2(h)))
        for name in MODULES:
            module = getattr(model, f"inception{name}")
            branches = [getattr(module, f"branch{i}")(h) for i in range(1, 5)]
            for i, b in enumerate(branches, start=1):
                out[f"{name}/{i}"] = b
            h = module(h)
            out[name] = h
            if name == "3b":
                h = model.maxpool3(h)
            elif name == "4e":
                h = model.maxpool4(h)
        out["logits"] = model.fc(torch.flatten(model.avgpool(h), 1))
        out["aux1"] = model.aux1(out["4a"])
        out["aux2"] = model.aux2(out["4d"])
    return out


def synthetic_image(seed: int, size=(320, 240)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))  # blocky, so features are not pure noise


@pytest.fixture(scope="module")
def case(engine):
    img = synthetic_image(1)
    x, crop = engine.prepare(img)
    return x, engine.analyzer.run(x, crop), reference_features(engine.model, x)


def test_branches_equal_torchvision_modules_and_concatenate(case):
    _, analysis, ref = case
    assert [m.name for m in analysis.modules] == list(MODULES)
    for module in analysis.modules:
        assert [b.role for b in module.branches] == list(BRANCHES)
        for i, branch in enumerate(module.branches, start=1):
            np.testing.assert_allclose(branch.activation, ref[f"{module.name}/{i}"][0].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(module.output, ref[module.name][0].numpy(), rtol=1e-5, atol=1e-6)
        concatenated = np.concatenate([b.activation for b in module.branches], axis=0)
        np.testing.assert_array_equal(concatenated, module.output)


def test_branch_statistics(case):
    _, analysis, _ = case
    for module in analysis.modules:
        shares = [b.share for b in module.branches]
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)
        total = module.output.astype(np.float64).sum()
        for b in module.branches:
            act = b.activation.astype(np.float64)
            assert b.mean == pytest.approx(act.mean(), rel=1e-4)
            assert b.share == pytest.approx(act.sum() / total, rel=1e-4)
            assert b.active_fraction == pytest.approx((act > 0).mean(), abs=1e-6)
            channel_means = act.mean(axis=(1, 2))
            top = [c for c, _ in b.top_channels]
            assert top == list(np.argsort(-channel_means, kind="stable")[: len(top)]) or np.allclose(
                channel_means[top], np.sort(channel_means)[::-1][: len(top)], rtol=1e-5
            )
            assert [v for _, v in b.top_channels] == pytest.approx(list(channel_means[top]), rel=1e-4, abs=1e-9)


def test_logits_top5_and_probabilities(case, engine):
    x, analysis, ref = case
    logits = engine.forward(x)[0]
    np.testing.assert_allclose(analysis.logits, logits.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(analysis.logits, ref["logits"][0].numpy(), rtol=1e-5, atol=1e-6)
    probs = torch.softmax(logits, 0)
    values, indices = torch.topk(probs, 5)
    assert [p.index for p in analysis.top5] == indices.tolist()
    assert [p.probability for p in analysis.top5] == pytest.approx(values.tolist(), rel=1e-5)
    assert [p.label for p in analysis.top5] == [CATEGORIES[i] for i in indices.tolist()]
    assert analysis.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_aux_heads_in_eval_mode(case, engine):
    _, analysis, ref = case
    assert not engine.model.training
    for aux, name, after in zip(analysis.aux, ("aux1", "aux2"), ("4a", "4d")):
        assert (aux.name, aux.after) == (name, after)
        expected = torch.softmax(ref[name][0], 0)
        np.testing.assert_allclose(aux.probabilities, expected.numpy(), rtol=1e-5, atol=1e-7)
        assert [p.index for p in aux.top5] == torch.topk(expected, 5).indices.tolist()
        assert aux.trained is False and "untrained" in aux.note
    # Deterministic: dropout (p=0.7 in the aux heads) is off.
    again = engine.analyzer.run(*engine.prepare(synthetic_image(1)))
    np.testing.assert_array_equal(again.aux[0].probabilities, analysis.aux[0].probabilities)


def test_result_is_immutable(case):
    _, analysis, _ = case
    with pytest.raises(ValueError):
        analysis.modules[0].branches[0].activation[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        analysis.probabilities[0] = 1.0
    with pytest.raises(TypeError):
        analysis.timings_ms["forward"] = 0.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        analysis.top5 = ()  # type: ignore[misc]
    assert {"forward", "aux", "summarize", "total"} <= set(analysis.timings_ms)


def test_analyze_timings_include_preprocess(engine):
    analysis = engine.analyze(synthetic_image(2))
    assert analysis.timings_ms["preprocess"] > 0
    assert analysis.timings_ms["total"] == pytest.approx(sum(v for k, v in analysis.timings_ms.items() if k != "total"))


def test_concurrent_analyses_match_sequential(engine):
    sources = [synthetic_image(seed) for seed in range(6)]
    sequential = [engine.analyze(s) for s in sources]
    results: dict[int, object] = {}
    barrier = threading.Barrier(len(sources))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = engine.analyze(sources[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, expected in enumerate(sequential):
        got = results[i]
        assert [p.index for p in got.top5] == [p.index for p in expected.top5]
        np.testing.assert_allclose(got.logits, expected.logits, rtol=1e-5, atol=1e-6)
        for gm, em in zip(got.modules, expected.modules):
            np.testing.assert_allclose(gm.output, em.output, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got.image, expected.image)
    # The images really differ, so a mix-up would have been caught.
    assert not np.allclose(sequential[0].logits, sequential[1].logits)


def test_example_photos_analyse(engine):
    examples = sorted(ASSETS.glob("*.jpg"))
    assert len(examples) >= 8
    for path in examples:
        analysis = engine.analyze(path)
        assert analysis.image.shape == (224, 224, 3) and np.isfinite(analysis.logits).all()


def test_real_photos_analyse(engine, shared_photos):
    assert len(shared_photos) == 30
    for path in shared_photos:
        analysis = engine.analyze(path)
        assert analysis.image.shape == (224, 224, 3) and np.isfinite(analysis.logits).all()
