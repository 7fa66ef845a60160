"""End to end through the real HTTP API: `python app.py --weights random --device cpu` in a subprocess, driven with
gradio_client (and raw HTTP where the client itself would refuse to send the request).

One server for the whole module; every test uses its own Client unless it needs a session's analysis.
"""
from __future__ import annotations

import base64
import io
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ASSETS

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

EXAMPLES = sorted(ASSETS.glob("*.jpg"))
BRANCHES = ("1x1", "3x3", "5x5", "pool proj")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


# ---- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client-downloads")


def new_client(url: str, downloads: Path) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, download_files=str(downloads))


@pytest.fixture(scope="module")
def client(app_url, downloads) -> Client:
    return new_client(app_url, downloads)


def analyze(client: Client, photo, *, module="4c", language="English", cmap="viridis", opacity=0.6,
            presenter=False, arch="torchvision"):
    return client.predict(handle_file(str(photo)), arch, language, module, cmap, opacity, presenter,
                          api_name="/analyze")


def module_view(client: Client, module: str, *, language="English", cmap="viridis", opacity=0.6, presenter=False,
                arch="torchvision"):
    return client.predict(arch=arch, module=module, cmap=cmap, opacity=opacity, presenter=presenter,
                          language=language, api_name="/module")


def split_analyze(result) -> dict:
    """Name the 27 outputs of /analyze (see demo/ui.py all_outputs, minus the gr.State ones)."""
    assert len(result) == 27, f"/analyze returned {len(result)} outputs"
    return {
        "top5": result[0], "crop": result[1], "status": result[2], "banner": result[3],
        **split_module(result[4:20]),
        "aux_note": result[20], "aux_panels": list(result[21:24]),
        "targets": result[24], "attr_image": result[25], "attr_caption": result[26],
    }


def split_module(result) -> dict:
    assert len(result) == 16, f"/module returned {len(result)} outputs"
    return {
        "overview": result[0], "legend": result[1], "heading": result[2], "stats": result[3],
        "titles": list(result[4:8]), "maps": list(result[8:12]), "grids": list(result[12:16]),
    }


def open_image(path) -> Image.Image:
    assert isinstance(path, str) and Path(path).is_file(), f"expected a downloaded image file, got {path!r}"
    image = Image.open(path)
    assert image.format in ("PNG", "WEBP"), f"{path}: {image.format}"
    image.load()
    return image


def label_pairs(label_output) -> list[tuple[str, float]]:
    return [(c["label"], c["confidence"]) for c in label_output["confidences"]]


def assert_same_top5(label_output, expected) -> None:
    got = label_pairs(label_output)
    assert [label for label, _ in got] == [p.label for p in expected.top5]
    assert [prob for _, prob in got] == pytest.approx([p.probability for p in expected.top5], abs=1e-4)
    assert label_output["label"] == expected.top5[0].label


def blocks_photo(path: Path, seed: int, size: tuple[int, int]) -> Path:
    """A synthetic photo: random colour blocks, different per seed and size."""
    rng = np.random.default_rng(seed)
    w, h = size
    blocks = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    pixels = np.kron(blocks, np.ones((16, 16, 1), np.uint8))[:h, :w]
    Image.fromarray(pixels).save(path, quality=92) if path.suffix == ".jpg" else Image.fromarray(pixels).save(path)
    return path


def raw_call(url: str, api_name: str, data: list, timeout: float = 120) -> tuple[str, str]:
    """POST /gradio_api/call/<api_name> and read the event stream: (last event name, its data)."""
    with httpx.Client(base_url=url + "/gradio_api", timeout=timeout, trust_env=False) as http:
        start = http.post(f"/call/{api_name}", json={"data": data})
        start.raise_for_status()
        stream = http.get(f"/call/{api_name}/{start.json()['event_id']}")
    events = re.findall(r"event: (\w+)\ndata: (.*)", stream.text)
    assert events, stream.text
    return events[-1]


# ---- the same numbers as the engine ---------------------------------------------------------------------------------


def test_analyze_matches_the_engine(client, engine):
    photo = ASSETS / "cat.jpg"
    out = split_analyze(analyze(client, photo))
    assert_same_top5(out["top5"], engine.analyze(photo))
    assert "ms" in out["status"] and "cpu" in out["status"]
    assert "Random weights" in out["banner"]


def test_predict_matches_the_engine(client, engine):
    photo = ASSETS / "palace.jpg"
    assert_same_top5(client.predict(handle_file(str(photo)), "torchvision", "English", api_name="/predict"),
                     engine.analyze(photo))


# ---- every endpoint is well formed ---------------------------------------------------------------------------------


def test_api_lists_the_named_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert {"/analyze", "/module", "/predict", "/architecture", "/aux", "/explain", "/compare"} <= set(
        api["named_endpoints"])
    assert [p["parameter_name"] for p in api["named_endpoints"]["/module"]["parameters"]] == [
        "arch", "module", "cmap", "opacity", "presenter", "language"]
    assert len(api["named_endpoints"]["/analyze"]["parameters"]) == 7
    assert len(api["named_endpoints"]["/analyze"]["returns"]) == 27
    assert [p["parameter_name"] for p in api["named_endpoints"]["/analyze"]["parameters"]] == [
        "photo", "arch", "language", "module", "cmap", "opacity", "presenter"]


def test_analyze_outputs_are_well_formed(client):
    out = split_analyze(analyze(client, ASSETS / "coffee.jpg"))
    crop = open_image(out["crop"])
    assert crop.size == (224, 224) and crop.mode == "RGB"
    for path in out["maps"]:
        image = open_image(path)
        assert image.size == (224, 224) and len(image.getbands()) >= 3
    for path in out["grids"]:
        image = open_image(path)
        assert image.width > 0 and image.height > 0
        assert np.asarray(image).std() > 0, "a channel grid is a blank image"
    overview, legend = open_image(out["overview"]), open_image(out["legend"])
    assert overview.width >= 300 and legend.width >= 100
    assert out["heading"].startswith("### Inception 4c") and "512" in out["heading"]
    for name in BRANCHES:
        assert f"</span>{name}</td>" in out["stats"], name
    assert [t.split("**")[1] for t in out["titles"]] == list(BRANCHES)
    assert "aux" in out["aux_note"].lower() or "untrained" in out["aux_note"]
    assert len(out["aux_panels"]) == 3


def test_module_5b_uses_the_sessions_analysis(client):
    analyze(client, ASSETS / "raccoon.jpg")
    out = split_module(module_view(client, "5b"))
    assert "5b" in out["heading"] and "1024" in out["heading"]
    assert "832" in out["heading"] and "7 × 7" in out["heading"]
    assert any("384 ch" in t for t in out["titles"])
    for path in out["maps"]:
        assert open_image(path).size == (224, 224)
    for name in BRANCHES:
        assert name in out["stats"]


def test_module_presenter_mode_draws_larger_pictures(client):
    analyze(client, ASSETS / "rocket.jpg")
    normal = split_module(module_view(client, "3a"))
    big = split_module(module_view(client, "3a", presenter=True))
    assert open_image(big["legend"]).height > open_image(normal["legend"]).height
    assert open_image(big["overview"]).height > open_image(normal["overview"]).height


def test_module_and_aux_before_any_analysis_change_nothing(app_url, downloads):
    fresh = new_client(app_url, downloads)  # a new session: its gr.State holds no analysis yet
    assert all(isinstance(v, dict) and v.get("__type__") == "update"
               for v in module_view(fresh, "4a")), "module views without an analysis should be skipped"
    assert len(fresh.predict("English", api_name="/aux")) == 4


def test_architecture_markdown(client):
    text = client.predict("torchvision", "English", api_name="/architecture")
    assert "51,380,224" in text  # 7 x 7 x 1024 -> 1024: what a fully connected head would cost
    assert "pytorch/vision#906" in text
    assert "<table" in text and "4c" in text


def test_architecture_in_korean(client):
    text = client.predict("torchvision", "한국어", api_name="/architecture")
    assert len(HANGUL.findall(text)) > 50
    assert "불러온 모델의 전체 파라미터 수" in text and "51,380,224" in text


def test_aux_panels_say_they_are_untrained(client):
    analyze(client, ASSETS / "tripod.jpg")
    note, aux1, aux2, main = client.predict("English", api_name="/aux")
    assert "untrained" in note and "not as predictions" in note
    assert "aux1" in aux1 and "4a" in aux1 and "not predictions" in aux1
    assert "aux2" in aux2 and "4d" in aux2 and "not predictions" in aux2
    assert "Main classifier" in main and "5b" in main
    note_ko, *panels_ko = client.predict("한국어", api_name="/aux")
    assert "학습되지 않았습니다" in note_ko and all("예측이 아님" in p for p in panels_ko[:2])


def test_analyze_in_korean(client):
    out = split_analyze(analyze(client, ASSETS / "astronaut.jpg", language="한국어"))
    assert "분석했습니다" in out["status"]
    assert "무작위 가중치" in out["banner"]
    assert HANGUL.search(out["heading"]) and HANGUL.search(out["stats"])


# ---- bad files fail cleanly ----------------------------------------------------------------------------------------


def _corrupt(path: Path) -> None:
    path.write_bytes(b"this is a text file pretending to be a JPEG\n" * 20)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = (ASSETS / "cat.jpg").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _tiny(path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)


BAD_FILES = [
    ("corrupt.jpg", _corrupt, "not an image format"),
    ("empty.jpg", _empty, "empty"),
    ("truncated.jpg", _truncated, "damaged or truncated"),
    ("tiny.png", _tiny, "15 x 15"),
]


@pytest.mark.parametrize("name, make, expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_gives_a_plain_error_and_the_server_carries_on(client, tmp_path, engine, name, make, expected):
    bad = tmp_path / name
    make(bad)
    with pytest.raises(Exception) as info:
        analyze(client, bad)
    message = str(info.value)
    assert expected in message, message
    assert message.startswith("Could not analyse this image: "), message
    assert "Traceback" not in message and 'File "' not in message
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(bad)), "torchvision", "English", api_name="/predict")
    assert expected in str(info.value)
    # the same server, the same session: the next request works
    good = ASSETS / "grace_hopper.jpg"
    assert_same_top5(client.predict(handle_file(str(good)), "torchvision", "English", api_name="/predict"),
                     engine.analyze(good))


def test_bad_file_error_in_korean(client, tmp_path):
    bad = tmp_path / "notes.jpg"
    _corrupt(bad)
    with pytest.raises(Exception) as info:
        analyze(client, bad, language="한국어")
    message = str(info.value)
    assert "이 이미지를 분석할 수 없습니다" in message and "Traceback" not in message


# ---- concurrency ----------------------------------------------------------------------------------------------------


def test_eight_clients_at_once_each_get_their_own_results(app_url, downloads, tmp_path, engine):
    photos = list(EXAMPLES[:5])
    photos += [
        blocks_photo(tmp_path / "blocks-a.png", 1, (320, 240)),
        blocks_photo(tmp_path / "blocks-b.jpg", 2, (500, 375)),
        blocks_photo(tmp_path / "blocks-c.png", 3, (256, 400)),
    ]
    assert len(photos) == 8
    expected = {p: engine.analyze(p) for p in photos}  # sequential, in this process
    # Random weights rank the same few labels for most photos: the probabilities tell the photos apart.
    probs = [np.array([p.probability for p in e.top5]) for e in expected.values()]
    assert min(np.abs(a - b).max() for i, a in enumerate(probs) for b in probs[i + 1:]) > 5e-3, "photos too alike"

    clients = [new_client(app_url, downloads) for _ in photos]
    barrier = threading.Barrier(len(photos))
    results: dict[Path, object] = {}
    errors: list[BaseException] = []

    def work(c: Client, photo: Path) -> None:
        try:
            barrier.wait(timeout=60)
            top5 = analyze(c, photo)[0]
            # the session's own analysis feeds /aux: its main panel lists this photo's top-5, not a neighbour's
            main_panel = c.predict("English", api_name="/aux")[3]
            results[photo] = (top5, main_panel)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(c, p)) for c, p in zip(clients, photos)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=150)
    elapsed = time.perf_counter() - start
    assert not errors, errors
    assert len(results) == 8, f"only {len(results)} of 8 clients finished in {elapsed:.0f} s"
    for photo, (top5, main_panel) in results.items():
        assert_same_top5(top5, expected[photo])
        rows = re.findall(r"<tr><td>([^<]+)</td><td class='gx-prob'>([0-9.]+)%", main_panel)
        assert [label for label, _ in rows] == [p.label for p in expected[photo].top5], photo.name
        assert [float(pct) for _, pct in rows] == pytest.approx(
            [100 * p.probability for p in expected[photo].top5], abs=0.02), f"{photo.name}: another session's analysis"


# ---- security ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oversized(tmp_path_factory) -> Path:
    """A 21 MB file that is a valid JPEG (the bytes after its end marker are ignored by decoders)."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    data = (ASSETS / "cat.jpg").read_bytes()
    path.write_bytes(data + np.random.default_rng(0).bytes(21 * 1024 * 1024 - len(data)))
    assert path.stat().st_size == 21 * 1024 * 1024
    return path


def test_oversized_upload_is_refused(client, app_url, oversized):
    with pytest.raises(Exception, match=r"(?i)maximum file size|exceeds"):
        analyze(client, oversized)
    # the client checks the limit itself; the server refuses it too
    with httpx.Client(timeout=120, trust_env=False) as http, open(oversized, "rb") as f:
        response = http.post(app_url + "/gradio_api/upload", files={"files": ("big.jpg", f, "image/jpeg")})
    assert response.status_code == 413, response.text[:300]
    assert client.predict(handle_file(str(ASSETS / "cat.jpg")), "torchvision", "English", api_name="/predict")


def test_oversized_data_url_is_refused(app_url, oversized):
    data_url = "data:image/jpeg;base64," + base64.b64encode(oversized.read_bytes()).decode()
    event, data = raw_call(app_url, "predict", [{"path": None, "url": data_url, "meta": {"_type": "gradio.FileData"}},
                                                "torchvision", "English"])
    assert event == "error", f"a 21 MB data URL was analysed: {data[:120]}"


def test_a_request_cannot_name_a_server_file(app_url):
    for path in ("/etc/hostname", str(ASSETS / "cat.jpg")):
        event, data = raw_call(app_url, "predict", [{"path": path, "meta": {"_type": "gradio.FileData"}},
                                                    "torchvision", "English"])
        assert event == "error", f"the server read {path} for a request that did not upload it: {data[:120]}"
        assert "not an image" not in data


def test_binds_loopback_only_and_never_shares_by_default(app_server):
    import app

    args = app.parse_args([])
    assert args.command == "serve" and args.host == "127.0.0.1" and args.share is False
    assert app.parse_args(["--weights", "random"]).host == "127.0.0.1"
    assert app_server.printed_url is not None, app_server.log()[-2000:]
    assert app_server.printed_url.startswith("http://127.0.0.1:"), app_server.printed_url
    assert "gradio.live" not in app_server.log()
    # If this machine has another address, the app must not answer on it.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            other = probe.getsockname()[0]
    except OSError:
        other = None
    if other and not other.startswith("127."):
        port = int(app_server.url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=3).close()


def test_no_tracebacks_reach_the_client_for_internal_paths(app_url):
    # Gradio's own refusal of an unknown path (InvalidPathError) must not leak the exception text either.
    event, data = raw_call(app_url, "analyze", [{"path": "/nonexistent/x.jpg", "meta": {"_type": "gradio.FileData"}},
                                                "torchvision", "English", "4c", "viridis", 0.6, False])
    assert event == "error" and "Traceback" not in data and "/nonexistent" not in data


def test_photo_bytes_in_memory_roundtrip(client, engine, tmp_path):
    """A PNG written from memory (RGBA, composited on white by the engine) gives the engine's answer too."""
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    image.paste((30, 120, 200, 255), (50, 40, 250, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = tmp_path / "rgba.png"
    path.write_bytes(buffer.getvalue())
    assert_same_top5(client.predict(handle_file(str(path)), "torchvision", "English", api_name="/predict"),
                     engine.analyze(path))


def explain(client: Client, method: str, target: int | None, *, layer="inception4d", language="English"):
    return client.predict(arch="torchvision", method=method, target=target, layer=layer, ig_steps=8, sg_samples=4,
                          sg_noise=0.15, occ_window=56, occ_stride=56, attr_opacity=0.6, cmap="viridis",
                          presenter=False, language=language, api_name="/explain")


def test_every_attribution_method_returns_an_overlay(client, engine):
    photo = ASSETS / "cat.jpg"
    outputs = split_analyze(analyze(client, photo))
    expected = engine.analyze(photo)
    top1 = expected.top5[0].index
    assert outputs["targets"]["value"] == top1
    assert [v for _, v in outputs["targets"]["choices"][:5]] == [p.index for p in expected.top5]
    from model.attribution import METHODS

    for method in METHODS:
        image, legend, caption = explain(client, method, top1)
        overlay = open_image(image)
        assert overlay.size == (224, 224), method
        assert not np.array_equal(np.asarray(overlay.convert("RGB")), expected.image), f"{method}: no heatmap drawn"
        assert expected.top5[0].label in caption and str(top1) in caption
        open_image(legend)
    # Grad-CAM through the app equals the engine's own map, drawn the same way.
    image, _, _ = explain(client, "gradcam", 281)
    direct = engine.attribute(expected.image, "gradcam", 281, layer="inception4d")
    from demo import views

    drawn = views.attribution_overlay(expected.image, direct.heatmap, direct.signed, 0.6, "viridis")
    got = np.asarray(open_image(image).convert("RGB")).astype(int)
    assert np.abs(got - drawn.astype(int)).mean() < 3  # WebP is lossy; a different map differs by far more


def test_attribution_needs_an_analysis_and_valid_settings(app_url, downloads, client):
    fresh = new_client(app_url, downloads)
    with pytest.raises(Exception, match="Analyse a photo first"):
        explain(fresh, "saliency", None)
    analyze(client, ASSETS / "coffee.jpg")
    with pytest.raises(Exception) as info:
        client.predict(arch="torchvision", method="occlusion", target=0, layer="inception4d", ig_steps=8,
                       sg_samples=4, sg_noise=0.15, occ_window=16, occ_stride=40, attr_opacity=0.6, cmap="viridis",
                       presenter=False, language="English", api_name="/explain")
    assert "stride" in str(info.value) and "Traceback" not in str(info.value)


def test_compare_shows_every_method(client):
    analyze(client, ASSETS / "cat.jpg")
    gallery = client.predict(arch="torchvision", target=281, layer="inception5b", ig_steps=8, sg_samples=4,
                             sg_noise=0.15, occ_window=56, occ_stride=56, attr_opacity=0.6, cmap="viridis",
                             language="English", api_name="/compare")
    assert len(gallery) == 6
    assert [item["caption"].split(" · ")[0] for item in gallery] == [
        "Saliency", "Integrated Gradients", "SmoothGrad", "Grad-CAM", "Guided Grad-CAM", "Occlusion"]
    for item in gallery:
        assert open_image(item["image"]).size == (224, 224)
