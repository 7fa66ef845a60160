"""Tests for demo/render.py and demo/colormaps.py: real pixel values, no model needed."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from demo import render
from demo.colormaps import LUTS, NAMES, get_lut, matplotlib_name

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
BRANCHES = ["1x1", "3x3", "5x5", "pool proj"]
TEXT_DARK = 120  # label text is drawn in (34, 34, 34); antialiasing makes some pixels lighter


def _luminance(rgb: np.ndarray) -> np.ndarray:
    s = rgb.astype(np.float64) / 255.0
    lin = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def _dark_pixels(region: np.ndarray) -> int:
    return int((region.max(axis=2) < TEXT_DARK).sum())


# --------------------------------------------------------------------------- colormaps


@pytest.mark.parametrize("name", NAMES)
def test_lut_shape_dtype_readonly(name):
    lut = get_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert not lut.flags.writeable


def test_required_maps_and_aliases():
    for name in ("viridis", "cividis", "magma", "rdbu", "gray"):
        assert name in NAMES
    assert get_lut("RdBu_r") is LUTS["rdbu"]
    assert get_lut("diverging") is LUTS["rdbu"]
    assert get_lut("VIRIDIS") is LUTS["viridis"]
    with pytest.raises(ValueError, match="Unknown colormap"):
        get_lut("jet")


def test_known_lut_entries():
    # Spot values of matplotlib's tables (checked by hand against matplotlib 3.x).
    assert tuple(get_lut("viridis")[0]) == (68, 1, 84)
    assert tuple(get_lut("viridis")[255]) == (253, 231, 37)
    assert tuple(get_lut("magma")[0]) == (0, 0, 4)
    assert tuple(get_lut("cividis")[0]) == (0, 34, 78)
    assert tuple(get_lut("rdbu")[0]) == (5, 48, 97)
    assert tuple(get_lut("rdbu")[255]) == (103, 0, 31)


@pytest.mark.parametrize("name", NAMES)
def test_apply_colormap_endpoints_and_middle(name):
    lut = get_lut(name)
    out = render.apply_colormap(np.array([[0.0, 0.5, 1.0]]), name)
    assert out.shape == (1, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], lut[0])
    np.testing.assert_array_equal(out[0, 1], lut[128])
    np.testing.assert_array_equal(out[0, 2], lut[255])


def test_apply_colormap_clips_nan_and_out_of_range():
    lut = get_lut("viridis")
    v = np.array([[np.nan, -3.0, 7.0, np.inf, -np.inf]])
    before = v.copy()
    out = render.apply_colormap(v, "viridis")
    np.testing.assert_array_equal(out[0], np.stack([lut[0], lut[0], lut[255], lut[255], lut[0]]))
    np.testing.assert_array_equal(v, before)  # input untouched (NaN compares equal here)


def test_apply_colormap_rejects_non_2d():
    with pytest.raises(ValueError):
        render.apply_colormap(np.zeros((2, 2, 3)), "viridis")


@pytest.mark.parametrize("name", ["viridis", "cividis", "magma", "rdbu", "gray"])
def test_embedded_luts_match_matplotlib(name):
    matplotlib = pytest.importorskip("matplotlib")
    cmap = matplotlib.colormaps[matplotlib_name(name)]
    assert cmap.N == 256
    xs = np.concatenate([[0.0, 0.25, 0.5, 0.75, 1.0], np.random.default_rng(0).random(200)])
    ref = cmap(xs)[:, :3] * 255.0
    ours = render.apply_colormap(xs[None, :], name)[0].astype(np.float64)
    assert np.abs(ours - ref).max() <= 1.0


@pytest.mark.parametrize("name", ["viridis", "cividis", "magma", "gray"])
def test_sequential_maps_rise_in_lightness(name):
    y = _luminance(get_lut(name))
    assert np.diff(y).min() > -1e-3  # monotone up to uint8 rounding
    assert y[-1] - y[0] > 0.5


def test_diverging_map_is_blue_white_red():
    lut = get_lut("rdbu").astype(int)
    assert lut[0, 2] > lut[0, 0] + 50  # blue end
    assert lut[255, 0] > lut[255, 2] + 50  # red end
    assert lut[127:129].min() >= 240  # near-white centre
    assert _luminance(lut).argmax() in (127, 128)


def test_signed_to_unit():
    np.testing.assert_allclose(render.signed_to_unit(np.array([-1.0, 0.0, 1.0, 5.0])), [0.0, 0.5, 1.0, 1.0])


# --------------------------------------------------------------------------- normalize


def test_normalize_constant_zero_and_nan_inputs_give_zeros():
    for a in (np.full((4, 4), 3.5), np.zeros((4, 4)), np.full((4, 4), np.nan), np.full((3,), np.inf)):
        out = render.normalize(a)
        assert out.dtype == np.float32 and out.shape == a.shape
        assert np.all(out == 0.0)
        out = render.normalize(a, signed=True)
        assert np.all(np.isfinite(out))


def test_normalize_constant_nonzero_signed_is_unit():
    np.testing.assert_array_equal(render.normalize(np.full(5, -2.0), signed=True), -np.ones(5))


def test_normalize_min_max_with_negative_values():
    a = np.array([-4.0, -2.0, 0.0, 4.0])
    out = render.normalize(a, low_pct=0, high_pct=100)
    np.testing.assert_allclose(out, [0.0, 0.25, 0.5, 1.0])


def test_normalize_percentile_clipping_tames_an_outlier():
    a = np.concatenate([np.arange(100, dtype=float), [1e6]])
    plain = render.normalize(a, low_pct=0, high_pct=100)
    clipped = render.normalize(a, low_pct=0, high_pct=99)
    assert plain[50] < 1e-3  # the outlier squashes everything else
    assert clipped[-1] == 1.0 and 0.45 < clipped[50] < 0.55
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_normalize_nan_entries_become_zero_others_scaled():
    a = np.array([np.nan, 0.0, 5.0, 10.0, np.inf])
    out = render.normalize(a, low_pct=0, high_pct=100)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 0.0])


def test_normalize_sparse_map_falls_back_to_min_max():
    a = np.zeros((14, 14))
    a[3, 4] = 5.0  # 195 of 196 values are 0: the 1st and 99th percentiles are both 0
    assert np.percentile(a, 99) == 0.0
    out = render.normalize(a)
    assert out[3, 4] == 1.0 and out.sum() == 1.0


def test_normalize_signed_keeps_zero_and_sign():
    a = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_allclose(render.normalize(a, signed=True, high_pct=100), [-1.0, 0.0, 0.5])
    np.testing.assert_array_equal(render.normalize(np.zeros(3), signed=True), np.zeros(3))


def test_normalize_does_not_mutate_and_validates():
    a = np.array([[1.0, 2.0], [3.0, np.nan]])
    before = a.copy()
    render.normalize(a)
    np.testing.assert_array_equal(a, before)
    with pytest.raises(ValueError):
        render.normalize(a, low_pct=50, high_pct=10)
    with pytest.raises(ValueError):
        render.normalize(a, high_pct=101)


# --------------------------------------------------------------------------- overlay


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)


def test_overlay_alpha_zero_returns_image(photo):
    heat = np.random.default_rng(2).random((7, 7))
    out = render.overlay(photo, heat, alpha=0.0)
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, photo)
    assert out is not photo
    out[0, 0] = 0
    assert not np.shares_memory(out, photo)


def test_overlay_alpha_one_is_pure_colormap(photo):
    heat = np.full((7, 7), 1.0)
    out = render.overlay(photo, heat, alpha=1.0, cmap="magma")
    assert np.all(out == get_lut("magma")[255])
    heat = np.random.default_rng(3).random((60, 80))  # same size: no resampling
    np.testing.assert_array_equal(render.overlay(photo, heat, alpha=1.0), render.apply_colormap(heat, "viridis"))


def test_overlay_resizes_heat_to_image(photo):
    heat = np.zeros((4, 4))
    heat[:, 2:] = 1.0
    out = render.overlay(photo, heat, alpha=1.0)
    lut = get_lut("viridis")
    assert out.shape == (60, 80, 3)
    assert np.all(out[:, :15] == lut[0])  # left quarter: cold
    assert np.all(out[:, -15:] == lut[255])  # right quarter: hot
    middle = out[30, 30:50].astype(int)
    assert len({tuple(p) for p in middle}) > 3  # bilinear ramp, not a hard step


def test_overlay_partial_alpha_blends(photo):
    black = np.zeros_like(photo)
    white = np.full_like(photo, 255)
    top = get_lut("viridis")[255].astype(float)
    out = render.overlay(black, np.ones((3, 3)), alpha=0.25).astype(int)
    assert np.abs(out - 0.25 * top).max() <= 1
    out = render.overlay(white, np.ones((3, 3)), alpha=0.25).astype(int)
    assert np.abs(out - (0.75 * 255 + 0.25 * top)).max() <= 1


def test_overlay_weight_by_heat_leaves_cold_pixels(photo):
    heat = np.zeros((60, 80))
    heat[:, 40:] = 1.0
    out = render.overlay(photo, heat, alpha=1.0, weight_by_heat=True)
    np.testing.assert_array_equal(out[:, :40], photo[:, :40])
    assert np.all(out[:, 40:] == get_lut("viridis")[255])


def test_overlay_accepts_grey_and_rgba_and_does_not_mutate(photo):
    grey = photo[:, :, 0].copy()
    out = render.overlay(grey, np.ones((7, 7)), alpha=0.0)
    assert out.shape == (60, 80, 3) and np.all(out[:, :, 1] == grey)
    rgba = np.concatenate([photo, np.full((60, 80, 1), 255, np.uint8)], axis=2)
    assert render.overlay(rgba, np.ones((7, 7))).shape == (60, 80, 3)
    heat = np.random.default_rng(4).random((7, 7))
    h0, p0 = heat.copy(), photo.copy()
    render.overlay(photo, heat, alpha=0.7, weight_by_heat=True)
    np.testing.assert_array_equal(heat, h0)
    np.testing.assert_array_equal(photo, p0)


def test_overlay_validates(photo):
    with pytest.raises(TypeError):
        render.overlay(photo.astype(np.float32), np.ones((7, 7)))
    with pytest.raises(ValueError):
        render.overlay(photo, np.ones((7, 7)), alpha=1.5)
    with pytest.raises(ValueError):
        render.overlay(photo, np.ones((7, 7, 2)))


# --------------------------------------------------------------------------- channel grid


def test_channel_grid_constant_channels_land_in_their_tiles():
    acts = np.zeros((10, 7, 7), np.float32)
    for c in range(10):
        acts[c] = c
    chans = [4, 1, 7]
    out = render.channel_grid(acts, chans, [4.0, 1.0, 7.0], tile=28, labels=False)
    boxes = render.grid_tile_boxes(3, tile=28, labels=False)
    assert out.dtype == np.uint8 and out.ndim == 3
    assert out.shape[:2] == (boxes[-1][3] + 4, boxes[-1][2] + 4)  # 1 row x 3 tiles plus 4 px gaps
    lut = get_lut("viridis")
    expected = [lut[128], lut[0], lut[255]]  # shared min..max over 1..7: 4 -> 0.5, 1 -> 0, 7 -> 1
    for (l, t, r, b), colour in zip(boxes, expected):
        assert np.all(out[t:b, l:r] == colour)
    per_tile = render.channel_grid(acts, chans, [0, 0, 0], tile=28, labels=False, shared=False)
    for l, t, r, b in boxes:
        assert np.all(per_tile[t:b, l:r] == lut[0])  # a constant tile has no contrast of its own


def test_channel_grid_one_hot_activation_in_right_tile_and_cell():
    acts = np.zeros((8, 7, 7), np.float32)
    acts[3, 1, 5] = 2.0
    chans = [0, 5, 3, 6, 2]
    tile = 70  # 10 px per activation cell
    out = render.channel_grid(acts, chans, [0, 0, 2.0, 0, 0], cols=2, tile=tile)
    boxes = render.grid_tile_boxes(5, cols=2, tile=tile)
    lut = get_lut("viridis")
    hot = np.all(out == lut[255], axis=2)
    l, t, r, b = boxes[2]  # channel 3 is the third tile: row 1, column 0
    assert hot[t + 10 : t + 20, l + 50 : l + 60].all()  # cell (1, 5), nearest-neighbour block
    assert hot.sum() == 100
    for i, (l2, t2, r2, b2) in enumerate(boxes):
        tile_px = out[t2:b2, l2:r2]
        if i != 2:
            assert np.all(tile_px == lut[0])
    assert boxes[2][1] > boxes[0][3] and boxes[2][0] == boxes[0][0]  # wrapped to the second row


def test_channel_grid_labels_drawn_below_tiles():
    acts = np.random.default_rng(5).random((6, 14, 14)).astype(np.float32)
    with_labels = render.channel_grid(acts, [0, 1], [0.5, 12.25])
    without = render.channel_grid(acts, [0, 1], [0.5, 12.25], labels=False)
    assert with_labels.shape[0] > without.shape[0]
    for l, t, r, b in render.grid_tile_boxes(2):
        strip = with_labels[b : b + 14, l:r]
        assert _dark_pixels(strip) > 20
    big = render.channel_grid(acts, [0, 1], [0.5, 12.25], scale=2.0)
    assert big.shape[0] > with_labels.shape[0]


def test_channel_grid_non_square_maps_and_default_values():
    acts = np.random.default_rng(6).random((3, 7, 14)).astype(np.float32)
    out = render.channel_grid(acts, [2, 0], tile=56, labels=False)
    l, t, r, b = render.grid_tile_boxes(2, tile=56, labels=False)[0]
    assert np.all(out[t : t + 14, l:r] == render.BACKGROUND)  # letterbox above a 28-px-high map
    assert not np.all(out[t + 14 : t + 42, l:r] == render.BACKGROUND)


def test_channel_grid_validates_and_handles_empty():
    acts = np.zeros((4, 7, 7), np.float32)
    with pytest.raises(IndexError):
        render.channel_grid(acts, [4], [1.0])
    with pytest.raises(ValueError):
        render.channel_grid(acts, [0, 1], [1.0])
    with pytest.raises(ValueError):
        render.channel_grid(acts[0], [0], [1.0])
    empty = render.channel_grid(acts, [], [])
    assert empty.ndim == 3 and empty.dtype == np.uint8 and np.all(empty == 255)


def test_channel_grid_does_not_mutate():
    acts = np.random.default_rng(7).random((5, 7, 7)).astype(np.float32)
    before = acts.copy()
    render.channel_grid(acts, [0, 3], [1.0, 2.0], shared=False)
    np.testing.assert_array_equal(acts, before)


# --------------------------------------------------------------------------- colorbar


def test_colorbar_horizontal():
    out = render.colorbar("viridis", width=200, height=40, low_label="low", high_label="high")
    lut = get_lut("viridis")
    assert out.shape == (40, 200, 3) and out.dtype == np.uint8
    assert np.all(out[0, 0] == lut[0]) and np.all(out[0, -1] == lut[255])
    assert np.all(out[0, 100] == lut[128])
    assert _dark_pixels(out[25:, :40]) > 5 and _dark_pixels(out[25:, -40:]) > 5


def test_colorbar_vertical_high_at_top():
    out = render.colorbar("rdbu", width=60, height=150, low_label="-1", high_label="+1", mid_label="0")
    lut = get_lut("rdbu")
    assert out.shape == (150, 60, 3)
    assert np.all(out[0, 0] == lut[255]) and np.all(out[-1, 0] == lut[0])
    assert _dark_pixels(out[:, 30:]) > 10


def test_colorbar_too_small_for_text_draws_bar_only():
    out = render.colorbar("magma", width=100, height=8, low_label="a", high_label="b")
    assert out.shape == (8, 100, 3)
    assert np.all(out[:, 0] == get_lut("magma")[0])
    assert np.all(out[-1, -1] == get_lut("magma")[255])


# --------------------------------------------------------------------------- share chart


def _runs_on_row(row: np.ndarray, colours) -> list[int]:
    return [int(np.all(row == np.array(c, np.uint8), axis=1).sum()) for c in colours]


def test_branch_colours_are_okabe_ito():
    assert render.BRANCH_COLORS == ((0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167))
    assert render.BRANCH_COLORS_HEX == ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
    assert set(render.BRANCH_COLORS) <= set(render.OKABE_ITO.values())


@pytest.mark.parametrize("show_values", [True, False])
def test_share_chart_segments_proportional(show_values):
    rng = np.random.default_rng(8)
    shares = rng.random((9, 4))
    shares /= shares.sum(axis=1, keepdims=True)
    shares[0] = [0.5, 0.25, 0.125, 0.125]
    out = render.share_chart(shares, MODULES, BRANCHES, highlight=None, show_values=show_values)
    lay = render.share_chart_layout(MODULES, BRANCHES)
    assert out.shape == (lay["height"], 640, 3) and out.dtype == np.uint8
    bar_w = lay["bar_right"] - lay["bar_left"]
    for i, top in enumerate(lay["bar_tops"]):
        runs = _runs_on_row(out[top + 1], render.BRANCH_COLORS)  # top row: above any percent label
        assert sum(runs) == bar_w
        np.testing.assert_allclose(runs, shares[i] * bar_w, atol=1.0)


def test_share_chart_finds_bars_without_layout_helper():
    # Independent of share_chart_layout: scan for rows containing the first branch colour.
    shares = np.tile([0.4, 0.3, 0.2, 0.1], (9, 1))
    out = render.share_chart(shares, MODULES, BRANCHES, highlight=None, show_values=False)
    rows = np.where(np.all(out == np.array(render.BRANCH_COLORS[0], np.uint8), axis=2).sum(axis=1) > 100)[0]
    groups = np.split(rows, np.where(np.diff(rows) > 1)[0] + 1)
    assert len(groups) == 9
    for g in groups:
        runs = np.array(_runs_on_row(out[g[len(g) // 2]], render.BRANCH_COLORS))
        np.testing.assert_allclose(runs / runs.sum(), [0.4, 0.3, 0.2, 0.1], atol=0.005)


def test_share_chart_normalizes_rows_and_handles_zero_rows():
    shares = np.tile([2.0, 1.0, 1.0, 0.0], (9, 1))
    shares[5] = 0.0
    shares[6] = [np.nan, -1.0, 3.0, 1.0]
    out = render.share_chart(shares, MODULES, BRANCHES, show_values=False)
    lay = render.share_chart_layout(MODULES, BRANCHES)
    bar_w = lay["bar_right"] - lay["bar_left"]
    runs = _runs_on_row(out[lay["bar_tops"][0] + 1], render.BRANCH_COLORS)
    np.testing.assert_allclose(runs, [bar_w / 2, bar_w / 4, bar_w / 4, 0], atol=1)
    assert sum(_runs_on_row(out[lay["bar_tops"][5] + 1], render.BRANCH_COLORS)) == 0
    np.testing.assert_allclose(
        _runs_on_row(out[lay["bar_tops"][6] + 1], render.BRANCH_COLORS), [0, 0, 0.75 * bar_w, 0.25 * bar_w], atol=1
    )


def test_share_chart_highlight_marks_row_but_keeps_segments():
    shares = np.random.default_rng(9).random((9, 4))
    plain = render.share_chart(shares, MODULES, BRANCHES, highlight=None)
    marked = render.share_chart(shares, MODULES, BRANCHES, highlight=4)
    lay = render.share_chart_layout(MODULES, BRANCHES)
    x0, x1, bh = lay["bar_left"], lay["bar_right"], lay["bar_height"]
    for top in lay["bar_tops"]:
        np.testing.assert_array_equal(plain[top : top + bh, x0:x1], marked[top : top + bh, x0:x1])
    top = lay["bar_tops"][4]
    diff = np.any(plain != marked, axis=2)
    changed_rows = np.where(diff.any(axis=1))[0]
    assert changed_rows.min() >= top - lay["row_height"] and changed_rows.max() <= top + lay["row_height"]
    assert np.all(marked[top - 2, x0 - 2] == render.TEXT)  # outline just outside the bar
    assert np.all(marked[top + bh // 2, 1] == render.HIGHLIGHT_BAND)


def test_share_chart_legend_and_labels_present():
    out = render.share_chart(np.ones((9, 4)), MODULES, BRANCHES)
    lay = render.share_chart_layout(MODULES, BRANCHES)
    for (sx, sy), colour in zip(lay["legend"], render.BRANCH_COLORS):
        assert np.all(out[sy + 2, sx + 2] == colour)
    label_area = out[lay["bar_tops"][0] : lay["bar_tops"][-1] + lay["bar_height"], : lay["bar_left"] - 2]
    assert _dark_pixels(label_area) > 9 * 10


def test_share_chart_scale_and_width():
    shares = np.ones((9, 4))
    small = render.share_chart(shares, MODULES, BRANCHES, width=500)
    big = render.share_chart(shares, MODULES, BRANCHES, width=900, scale=2.0)
    assert small.shape[1] == 500 and big.shape[1] == 900
    assert big.shape[0] > 1.6 * small.shape[0]


def test_share_chart_validates():
    with pytest.raises(ValueError):
        render.share_chart(np.ones((9, 4)), MODULES[:8], BRANCHES)
    with pytest.raises(ValueError):
        render.share_chart(np.ones(9), MODULES, BRANCHES)
    with pytest.raises(IndexError):
        render.share_chart(np.ones((9, 4)), MODULES, BRANCHES, highlight=9)
    with pytest.raises(ValueError):
        render.share_chart(np.ones((9, 4)), MODULES, BRANCHES, scale=0)


# --------------------------------------------------------------------------- cross-cutting


def test_render_imports_neither_matplotlib_nor_torch():
    code = "import sys, demo.render; bad = [m for m in ('matplotlib', 'torch') if m in sys.modules]; print(bad)"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_concurrent_calls_match_serial():
    rng = np.random.default_rng(10)
    acts = rng.random((32, 14, 14)).astype(np.float32)
    shares = rng.random((9, 4))

    def job(i: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            render.channel_grid(acts, [i, i + 1, i + 2], [float(i), 1.0, 2.0]),
            render.share_chart(shares, MODULES, BRANCHES, highlight=i % 9),
        )

    serial = [job(i) for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(job, range(12)))
    for (g1, c1), (g2, c2) in zip(serial, parallel):
        np.testing.assert_array_equal(g1, g2)
        np.testing.assert_array_equal(c1, c2)


# --------------------------------------------------------------------------- example images


def test_example_assets_are_licensed_small_and_readable():
    from PIL import Image

    assets = ROOT / "assets"
    photos = sorted(p for p in assets.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    licenses = (assets / "LICENSES.md").read_text(encoding="utf-8")
    assert len(photos) >= 8
    assert sum(p.stat().st_size for p in photos) < 1_500_000
    for p in photos:
        assert f"`{p.name}`" in licenses, f"{p.name} has no row in assets/LICENSES.md"
        with Image.open(p) as im:
            assert im.mode == "RGB" and max(im.size) <= 640 and min(im.size) >= 224
