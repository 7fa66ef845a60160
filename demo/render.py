"""Pure numpy + PIL rendering for the explorer: colormaps, overlays, channel grids, legends, share charts.

Every function takes numpy arrays, never mutates them, and returns a fresh ``H x W x 3`` uint8 array.
Nothing here imports torch or matplotlib (pyplot is not thread-safe; these run inside request
handlers), and no state is shared between calls, so any function may run on many threads at once.
Functions that draw text take ``scale`` (1.0 normal, ~1.5-2.0 for presenter mode / projectors).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from demo.colormaps import DIVERGING, NAMES as COLORMAPS, get_lut

__all__ = [
    "BRANCH_COLORS",
    "BRANCH_COLORS_HEX",
    "COLORMAPS",
    "DIVERGING",
    "OKABE_ITO",
    "apply_colormap",
    "channel_grid",
    "colorbar",
    "grid_tile_boxes",
    "normalize",
    "overlay",
    "share_chart",
    "share_chart_layout",
    "signed_to_unit",
]

RGB = tuple[int, int, int]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under all common colour-vision deficiencies.
OKABE_ITO: dict[str, RGB] = {
    "black": (0, 0, 0),
    "orange": (230, 159, 0),
    "sky_blue": (86, 180, 233),
    "bluish_green": (0, 158, 115),
    "yellow": (240, 228, 66),
    "blue": (0, 114, 178),
    "vermillion": (213, 94, 0),
    "reddish_purple": (204, 121, 167),
}
# Inception branches in torchvision order: 1x1, 3x3, 5x5, pool proj. Yellow and sky blue are left out:
# they are too light against a white background for thin segments.
BRANCH_COLORS: tuple[RGB, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
)
BRANCH_COLORS_HEX: tuple[str, ...] = tuple("#{:02X}{:02X}{:02X}".format(*c) for c in BRANCH_COLORS)

BACKGROUND: RGB = (255, 255, 255)
TEXT: RGB = (34, 34, 34)
MUTED: RGB = (110, 110, 110)
GRIDLINE: RGB = (225, 225, 225)
HIGHLIGHT_BAND: RGB = (238, 238, 238)

# Fonts with Hangul/CJK coverage from common Debian/Ubuntu packages, tried only when a label needs them
# (PIL's built-in font covers Latin only). Missing files are skipped; digits never need them.
_WIDE_FONTS = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansKR-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


# --------------------------------------------------------------------------- values and colours


def normalize(
    a: np.ndarray,
    *,
    low_pct: float = 1.0,
    high_pct: float = 99.0,
    signed: bool = False,
) -> np.ndarray:
    """Scale `a` to [0, 1] (or [-1, 1] when `signed`) with percentile clipping; returns float32.

    Unsigned: values at or below the `low_pct` percentile map to 0, at or above `high_pct` to 1.
    Signed: zero stays zero; ``|a|``'s `high_pct` percentile maps to +-1 (`low_pct` is unused).
    NaN/inf are ignored when computing the range and come out as 0. If the percentile range is empty
    (sparse maps: mostly zeros with a few peaks) it falls back to min/max; a constant, all-zero or
    all-NaN input gives all zeros.
    """
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    x = np.asarray(a, dtype=np.float64)
    out = np.zeros(x.shape, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.any():
        return out
    v = x[finite]
    if signed:
        mag = np.abs(v)
        top = float(np.percentile(mag, high_pct))
        if not top > 0.0:
            top = float(mag.max())
        if not top > 0.0:
            return out
        out[finite] = np.clip(v / top, -1.0, 1.0)
        return out
    lo, hi = (float(p) for p in np.percentile(v, [low_pct, high_pct]))
    if not hi > lo:
        lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        return out
    out[finite] = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    return out


def signed_to_unit(a: np.ndarray) -> np.ndarray:
    """Map [-1, 1] to [0, 1] (0 -> 0.5) for the diverging colormap; float32, clipped."""
    return ((np.clip(np.asarray(a, dtype=np.float32), -1.0, 1.0) + 1.0) * 0.5).astype(np.float32)


def apply_colormap(values01: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Colour an H x W array of values in [0, 1] with colormap `name`; returns H x W x 3 uint8.

    Index as matplotlib does: ``min(floor(v * 256), 255)``. Values outside [0, 1] are clipped,
    NaN maps to the first entry. Names: viridis, cividis, magma, gray, rdbu (alias RdBu_r, diverging).
    """
    v = np.asarray(values01, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"apply_colormap expects an H x W array, got shape {v.shape}")
    lut = get_lut(name)
    scaled = v * np.float32(256.0)  # a new array: the input is never touched
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return np.take(lut, scaled.astype(np.uint8), axis=0)


# --------------------------------------------------------------------------- overlay


def _as_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return img[:, :, :3]
    raise ValueError(f"image must be H x W x 3 (or H x W, H x W x 4), got shape {img.shape}")


def _resize_float(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a 2-D float map (pixel-centre aligned, like the feature grid over the image)."""
    src = np.nan_to_num(np.asarray(a, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if src.shape == (height, width):
        return src.copy()
    resized = Image.fromarray(np.ascontiguousarray(src)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def overlay(
    image: np.ndarray,
    heat: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str = "viridis",
    weight_by_heat: bool = False,
) -> np.ndarray:
    """Blend a colormapped heat map (h x w, values in [0, 1]) over `image` (H x W x 3 uint8).

    The heat map is resized to the image bilinearly. ``alpha=0`` returns the image unchanged,
    ``alpha=1`` the pure colormap. With `weight_by_heat` the opacity is ``alpha * heat`` per pixel, so
    cold regions show the photo untouched (the usual Grad-CAM look). For signed maps use
    ``overlay(img, signed_to_unit(normalize(a, signed=True)), cmap="rdbu")``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = _as_rgb(image)
    h = np.asarray(heat)
    if h.ndim != 2:
        raise ValueError(f"heat must be a 2-D map, got shape {h.shape}")
    height, width = img.shape[:2]
    heat_full = np.clip(_resize_float(h, width, height), 0.0, 1.0)
    colour = apply_colormap(heat_full, cmap)
    if alpha == 0.0:
        return img.copy()
    if alpha == 1.0 and not weight_by_heat:
        return colour
    base, top = Image.fromarray(np.ascontiguousarray(img)), Image.fromarray(colour)
    if weight_by_heat:
        mask = Image.fromarray(np.rint(heat_full * np.float32(alpha * 255.0)).astype(np.uint8))
        return np.asarray(Image.composite(top, base, mask)).copy()
    return np.asarray(Image.blend(base, top, alpha)).copy()


# --------------------------------------------------------------------------- text helpers


def _needs_wide_font(text: str) -> bool:
    return any(ord(ch) > 0x24F for ch in text)


def _font(size: int, text: str = "") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's built-in font at `size` px (a fresh object per call: cheap, and nothing shared between threads)."""
    size = max(6, int(round(size)))
    if _needs_wide_font(text):
        for path in _WIDE_FONTS:
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _line_height(font) -> int:
    try:
        ascent, descent = font.getmetrics()
        return int(ascent + descent)
    except AttributeError:
        return 11


def _text_on(bg: RGB) -> RGB:
    """Black or white, whichever contrasts more with `bg` (WCAG relative luminance)."""

    def lin(c: int) -> float:
        s = c / 255.0
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(bg[0]) + 0.7152 * lin(bg[1]) + 0.0722 * lin(bg[2])
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


def _fmt(value: float) -> str:
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _px(value: float, scale: float) -> int:
    return max(1, int(round(value * scale)))


def _check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and 0.25 <= scale <= 8.0):
        raise ValueError(f"scale must be between 0.25 and 8, got {scale}")


# --------------------------------------------------------------------------- channel grid


def _grid_metrics(tile: int, labels: bool, scale: float) -> tuple[int, int, int]:
    """(gap, label strip height, font size)."""
    gap = _px(4, scale)
    font_size = _px(12, scale)
    label_h = (_line_height(_font(font_size)) + _px(4, scale)) if labels else 0
    return gap, label_h, font_size


def grid_tile_boxes(
    n: int,
    *,
    cols: int = 4,
    tile: int = 96,
    labels: bool = True,
    scale: float = 1.0,
) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each map area in `channel_grid`'s output, in channel order.

    Right/bottom are exclusive. Useful to map a click on the grid back to a channel.
    """
    if n <= 0:
        return []
    cols_eff = max(1, min(int(cols), n))
    gap, label_h, _ = _grid_metrics(tile, labels, scale)
    boxes = []
    for i in range(n):
        r, c = divmod(i, cols_eff)
        left = gap + c * (tile + gap)
        top = gap + r * (tile + label_h + gap)
        boxes.append((left, top, left + tile, top + tile))
    return boxes


def _upscale_nearest(rgb: np.ndarray, tile: int) -> tuple[np.ndarray, int, int]:
    """Nearest-neighbour upscale of an h x w x 3 map to fit a tile x tile box; returns (image, dx, dy)."""
    h, w = rgb.shape[:2]
    s = tile / max(h, w)
    th, tw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    rows = (np.arange(th) * h) // th
    cols = (np.arange(tw) * w) // tw
    return rgb[rows[:, None], cols[None, :]], (tile - tw) // 2, (tile - th) // 2


def channel_grid(
    acts: np.ndarray,
    channels: Sequence[int],
    values: Sequence[float] | None = None,
    *,
    cols: int = 4,
    tile: int = 96,
    cmap: str = "viridis",
    labels: bool = True,
    shared: bool = True,
    low_pct: float = 0.0,
    high_pct: float = 100.0,
    scale: float = 1.0,
) -> np.ndarray:
    """Tiles of the chosen channels of a C x H x W activation tensor, labelled "#index value".

    `shared=True` (default) normalizes all tiles with one range, so a brighter tile really is a
    stronger channel; `shared=False` stretches each tile on its own (shows the shape of weak maps).
    The range is min..max by default (`low_pct`/`high_pct` clip outliers, see `normalize`).
    Maps are upscaled nearest-neighbour (each activation cell stays a visible square). `values` (one per
    channel, e.g. the mean activation that ranked it) defaults to each channel's mean.
    Tile positions: `grid_tile_boxes(len(channels), cols=..., tile=..., labels=..., scale=...)`.
    """
    _check_scale(scale)
    a = np.asarray(acts)
    if a.ndim != 3:
        raise ValueError(f"acts must be C x H x W, got shape {a.shape}")
    if tile < 4:
        raise ValueError(f"tile must be at least 4 px, got {tile}")
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    chans = [int(c) for c in channels]
    for c in chans:
        if not 0 <= c < a.shape[0]:
            raise IndexError(f"channel {c} out of range for {a.shape[0]} channels")
    if values is None:
        vals = [float(np.nanmean(a[c])) if a[c].size else float("nan") for c in chans]
    else:
        vals = [float(v) for v in values]
        if len(vals) != len(chans):
            raise ValueError(f"{len(chans)} channels but {len(vals)} values")

    gap, label_h, font_size = _grid_metrics(tile, labels, scale)
    n = len(chans)
    if n == 0:
        return np.full((tile + label_h + 2 * gap, tile + 2 * gap, 3), BACKGROUND, dtype=np.uint8)
    cols_eff = min(cols, n)
    rows = math.ceil(n / cols_eff)
    width = cols_eff * tile + (cols_eff + 1) * gap
    height = rows * (tile + label_h) + (rows + 1) * gap
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = BACKGROUND

    maps = a[chans].astype(np.float32)
    if shared:
        norm = normalize(maps, low_pct=low_pct, high_pct=high_pct)
    else:
        norm = np.stack([normalize(m, low_pct=low_pct, high_pct=high_pct) for m in maps])

    boxes = grid_tile_boxes(n, cols=cols_eff, tile=tile, labels=labels, scale=scale)
    for (left, top, _, _), m in zip(boxes, norm):
        big, dx, dy = _upscale_nearest(apply_colormap(m, cmap), tile)
        out[top + dy : top + dy + big.shape[0], left + dx : left + dx + big.shape[1]] = big

    if labels:
        pil = Image.fromarray(out)
        draw = ImageDraw.Draw(pil)
        font = _font(font_size)
        for (left, top, right, bottom), c, v in zip(boxes, chans, vals):
            text = f"#{c}  {_fmt(v)}"
            tw, _ = _text_size(draw, text, font)
            if tw > tile:
                text = f"#{c} {_fmt(v)}"
                tw, _ = _text_size(draw, text, font)
            if tw > tile:
                text = f"#{c}"
                tw, _ = _text_size(draw, text, font)
            draw.text((left + (tile - tw) / 2, bottom + label_h / 2), text, font=font, fill=TEXT, anchor="lm")
        out = np.asarray(pil).copy()
    return out


# --------------------------------------------------------------------------- colorbar


def colorbar(
    cmap: str = "viridis",
    *,
    width: int = 256,
    height: int = 40,
    low_label: str = "low",
    high_label: str = "high",
    mid_label: str | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """A legend image of exactly `height` x `width`.

    Wider than tall: a horizontal gradient (low on the left) with labels underneath. Taller than wide:
    a vertical gradient (high at the top) with labels to its right. `mid_label` (e.g. "0" for the
    diverging map) goes in the middle. If the image is too small for text, only the bar is drawn.
    """
    _check_scale(scale)
    if width < 4 or height < 4:
        raise ValueError(f"colorbar needs at least 4 x 4 px, got {width} x {height}")
    lut = get_lut(cmap)
    pil = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(pil)
    labels = [low_label, high_label] + ([mid_label] if mid_label else [])
    font = _font(_px(12, scale), "".join(labels))
    line_h = _line_height(font)
    pad = _px(3, scale)
    horizontal = width >= height

    if horizontal:
        text_h = line_h + pad if height >= line_h + pad + 6 else 0
        bar_h = height - text_h
        ramp = lut[np.minimum((np.linspace(0.0, 1.0, width) * 256).astype(np.intp), 255)]
        pil.paste(Image.fromarray(np.ascontiguousarray(np.broadcast_to(ramp[None], (bar_h, width, 3)))), (0, 0))
        if text_h:
            y = bar_h + pad
            draw.text((0, y), low_label, font=font, fill=TEXT, anchor="la")
            draw.text((width - 1, y), high_label, font=font, fill=TEXT, anchor="ra")
            if mid_label:
                draw.text((width / 2, y), mid_label, font=font, fill=TEXT, anchor="ma")
    else:
        tw = max(_text_size(draw, t, font)[0] for t in labels)
        text_w = tw + 2 * pad if width >= tw + 2 * pad + 6 else 0
        bar_w = width - text_w
        ramp = lut[np.minimum((np.linspace(1.0, 0.0, height) * 256).astype(np.intp), 255)]
        pil.paste(Image.fromarray(np.ascontiguousarray(np.broadcast_to(ramp[:, None], (height, bar_w, 3)))), (0, 0))
        if text_w:
            x = bar_w + pad
            draw.text((x, 0), high_label, font=font, fill=TEXT, anchor="la")
            draw.text((x, height - 1), low_label, font=font, fill=TEXT, anchor="ld")
            if mid_label:
                draw.text((x, height / 2), mid_label, font=font, fill=TEXT, anchor="lm")
    return np.asarray(pil).copy()


# --------------------------------------------------------------------------- share chart


def share_chart(
    shares: np.ndarray,
    modules: Sequence[str],
    branches: Sequence[str],
    *,
    highlight: int | None = None,
    width: int = 640,
    colors: Sequence[RGB] = BRANCH_COLORS,
    show_values: bool = True,
    scale: float = 1.0,
) -> np.ndarray:
    """Stacked horizontal bars: one per Inception module, one segment per branch.

    `shares` is modules x branches (9 x 4 for GoogLeNet); each row is divided by its sum, so raw
    totals work too (negative/NaN entries count as 0; an all-zero row draws an empty outlined bar).
    Segment widths are proportional to the shares to the pixel (rounded cumulative edges). The
    highlighted row (index into `modules`) gets a grey band, a dark outline and a marker; segment
    colours are never altered. Percent labels are drawn inside segments wide enough to hold them.
    Geometry for callers/tests: `share_chart_layout`.
    """
    _check_scale(scale)
    s = np.asarray(shares, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"shares must be modules x branches, got shape {s.shape}")
    n_mod, n_br = s.shape
    if len(modules) != n_mod or len(branches) != n_br:
        raise ValueError(f"shares is {n_mod} x {n_br} but got {len(modules)} modules, {len(branches)} branches")
    if len(colors) < n_br:
        raise ValueError(f"need {n_br} colours, got {len(colors)}")
    if highlight is not None and not 0 <= highlight < n_mod:
        raise IndexError(f"highlight {highlight} out of range for {n_mod} modules")
    s = np.where(np.isfinite(s) & (s > 0), s, 0.0)
    totals = s.sum(axis=1, keepdims=True)
    fractions = np.divide(s, totals, out=np.zeros_like(s), where=totals > 0)

    lay = share_chart_layout(modules, branches, width=width, scale=scale)
    x0, x1 = lay["bar_left"], lay["bar_right"]
    bar_w = x1 - x0
    pil = Image.new("RGB", (width, lay["height"]), BACKGROUND)
    draw = ImageDraw.Draw(pil)
    all_text = "".join(modules) + "".join(branches)
    font = _font(lay["font_size"], all_text)
    small = _font(_px(11, scale))
    pad = lay["pad"]

    # Legend: swatch + name, left to right, wrapping.
    for (sx, sy), name, colour in zip(lay["legend"], branches, colors):
        sw = lay["swatch"]
        draw.rectangle([sx, sy, sx + sw - 1, sy + sw - 1], fill=tuple(colour))
        draw.text((sx + sw + pad, sy + sw / 2), name, font=font, fill=TEXT, anchor="lm")

    # Highlight band behind the selected row.
    row_h, bar_h = lay["row_height"], lay["bar_height"]
    if highlight is not None:
        top = lay["bar_tops"][highlight] - (row_h - bar_h) // 2
        draw.rectangle([0, top, width - 1, top + row_h - 1], fill=HIGHLIGHT_BAND)

    # Gridlines at 25/50/75 % (bars paint over them), axis labels underneath.
    axis_y = lay["axis_y"]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + int(round(frac * bar_w)) - (1 if frac == 1.0 else 0)
        draw.line([x, lay["bar_tops"][0] - pad, x, axis_y - 1], fill=GRIDLINE, width=1)
        anchor = "la" if frac == 0.0 else ("ra" if frac == 1.0 else "ma")
        draw.text((x, axis_y + 1), f"{int(frac * 100)}%", font=small, fill=MUTED, anchor=anchor)

    for i, (name, row) in enumerate(zip(modules, fractions)):
        top = lay["bar_tops"][i]
        bottom = top + bar_h - 1
        draw.text((x0 - pad, top + bar_h / 2), name, font=font, fill=TEXT, anchor="rm")
        if i == highlight:  # faux bold + a triangle marker at the far left
            draw.text((x0 - pad + 1, top + bar_h / 2), name, font=font, fill=TEXT, anchor="rm")
            m = max(3, bar_h // 3)
            cy = top + bar_h // 2
            draw.polygon([(pad, cy - m), (pad, cy + m), (pad + m + m // 2, cy)], fill=TEXT)
        edges = np.rint(np.concatenate([[0.0], np.cumsum(row)]) * bar_w).astype(int)
        edges[-1] = bar_w if totals[i, 0] > 0 else 0
        for j in range(n_br):
            a, b = x0 + edges[j], x0 + edges[j + 1]
            if b > a:
                draw.rectangle([a, top, b - 1, bottom], fill=tuple(colors[j]))
        if totals[i, 0] <= 0:
            draw.rectangle([x0, top, x1 - 1, bottom], outline=GRIDLINE)
        if show_values:
            for j in range(n_br):
                a, b = x0 + edges[j], x0 + edges[j + 1]
                text = f"{row[j] * 100:.0f}%"
                tw, th = _text_size(draw, text, small)
                if b - a >= tw + 4 and bar_h >= th + 4:
                    draw.text(((a + b) / 2, top + bar_h / 2), text, font=small,
                              fill=_text_on(tuple(colors[j])), anchor="mm")
        if i == highlight:
            lw = max(2, _px(2, scale))
            o = lw + 1  # the outline sits wholly outside the bar, so segment pixels keep their colour
            draw.rectangle([x0 - o, top - o, x1 - 1 + o, bottom + o], outline=TEXT, width=lw)
    return np.asarray(pil).copy()


def share_chart_layout(
    modules: Sequence[str],
    branches: Sequence[str],
    *,
    width: int = 640,
    scale: float = 1.0,
) -> dict:
    """Pixel geometry of `share_chart` for the same arguments.

    Keys: height, bar_left, bar_right (exclusive), bar_tops (one per module), bar_height, row_height,
    legend (swatch top-left corners), swatch, axis_y, pad, font_size.
    """
    _check_scale(scale)
    font_size = _px(13, scale)
    font = _font(font_size, "".join(modules) + "".join(branches))
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = _px(6, scale)
    line_h = _line_height(font)
    swatch = max(8, line_h - 2)

    legend = []
    x, y = pad, pad
    for name in branches:
        item_w = swatch + pad + _text_size(scratch, name, font)[0] + 2 * pad
        if x > pad and x + item_w > width - pad:
            x, y = pad, y + line_h + pad
        legend.append((x, y + (line_h - swatch) // 2))
        x += item_w
    legend_bottom = y + line_h + 2 * pad

    marker = _px(14, scale)
    label_w = max((_text_size(scratch, m, font)[0] for m in modules), default=0)
    bar_left = pad + marker + label_w + 2 * pad
    bar_right = width - pad - _px(4, scale)
    if bar_right - bar_left < 20:
        raise ValueError(f"width {width} is too small for the labels")
    bar_h = max(line_h + _px(6, scale), _px(20, scale))
    row_h = bar_h + _px(10, scale)
    first = legend_bottom + (row_h - bar_h) // 2
    bar_tops = [first + i * row_h for i in range(len(modules))]
    axis_y = legend_bottom + len(modules) * row_h + pad // 2
    small_h = _line_height(_font(_px(11, scale)))
    height = axis_y + small_h + pad
    return {
        "height": height,
        "bar_left": bar_left,
        "bar_right": bar_right,
        "bar_tops": bar_tops,
        "bar_height": bar_h,
        "row_height": row_h,
        "legend": legend,
        "swatch": swatch,
        "axis_y": axis_y,
        "pad": pad,
        "font_size": font_size,
    }
