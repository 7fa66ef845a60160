"""`python app.py analyze`: JSON on success, a plain message and non-zero exit on bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT


def run(*args: str, env_home=None) -> subprocess.CompletedProcess:
    env = None
    if env_home is not None:
        import os

        env = {**os.environ, "TORCH_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def test_analyze_json_matches_the_engine(tmp_path, engine):
    photo = tmp_path / "blocks.png"
    rng = np.random.default_rng(4)
    Image.fromarray(np.kron(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))).save(photo)
    result = run("analyze", str(photo), "--weights", "random", "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    expected = engine.analyze(photo)
    assert [p["index"] for p in summary["top5"]] == [p.index for p in expected.top5]
    assert summary["weights"]["kind"] == "random" and summary["weights"]["aux_trained"] is False
    assert list(summary["modules"]) == ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
    shares = summary["modules"]["4c"]
    assert sum(b["share"] for b in shares.values()) == __import__("pytest").approx(1.0, abs=1e-3)
    assert shares["1x1"]["share"] == round(expected.module("4c").branches[0].share, 4)
    assert [a["after"] for a in summary["aux"]] == ["4a", "4d"]
    assert all("top5_untrained_noise" in a and "top5" not in a for a in summary["aux"])
    assert {"preprocess", "forward", "aux", "total"} <= set(summary["timings_ms"])


def test_analyze_bad_input_exits_cleanly(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("just text")
    result = run("analyze", str(bad), "--weights", "random")
    assert result.returncode == 2
    assert "not an image" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_offline_imagenet_exits_with_instructions(tmp_path):
    # No network in tests: the first run has no cached weights, so the download fails (or is refused) fast.
    import socket

    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=3).close()
        __import__("pytest").skip("network available: the offline path is tested in test_weights instead")
    except OSError:
        pass
    result = run("analyze", str(ROOT / "tests" / "conftest.py"), env_home=tmp_path)
    assert result.returncode == 3
    assert "googlenet-1378be20.pth" in result.stderr and "--weights random" in result.stderr
    assert "Traceback" not in result.stderr
