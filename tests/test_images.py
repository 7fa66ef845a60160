"""Every input kind converts to RGB, every bad input gets its typed error."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from model import images
from model.images import (
    AspectRatioError,
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    load_image,
)
from model.preprocess import TORCHVISION_IMAGENET
from model.weights import IMAGENET


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.uint8)[:, None, None].repeat(w, 1)
    return Image.fromarray(np.concatenate([x, y, 255 - x], axis=2))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: only the header is valid, as in a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)  # a few rows; the rest would decompress to ~30 GB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_rgb_file_bytes_path_array_and_pil_agree(tmp_path):
    img = gradient()
    path = tmp_path / "g.png"
    img.save(path)
    expected = np.asarray(img)
    for source in (img, path, str(path), path.read_bytes(), expected):
        np.testing.assert_array_equal(np.asarray(load_image(source)), expected)


@pytest.mark.parametrize(
    "mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1", "YCbCr", "PA"]
)
def test_every_mode_becomes_a_3x224x224_tensor(mode):
    base = gradient(300, 260)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    elif mode == "PA":
        img = base.convert("P").convert("PA")
    else:
        img = base.convert(mode)
    rgb = load_image(img)
    assert rgb.mode == "RGB" and rgb.size == (300, 260)
    if mode == "I;16":
        assert img.mode == "I;16"
    x, crop = TORCHVISION_IMAGENET(rgb)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and crop.shape == (224, 224, 3)


def test_16_bit_grayscale_is_scaled_not_clipped():
    values = np.array([[0, 32896, 65535]], dtype=np.uint16).repeat(20, 0).repeat(10, 1)
    rgb = np.asarray(load_image(Image.fromarray(values)))
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[0, 15].tolist() == [128, 128, 128]
    assert rgb[0, 25].tolist() == [255, 255, 255]
    rgb16 = np.asarray(load_image(values))  # a uint16 numpy array: same rule
    np.testing.assert_array_equal(rgb16, rgb)


def test_transparency_is_composited_on_white():
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:, 10:, 3] = 255  # left half transparent, right half opaque red
    out = np.asarray(load_image(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 15].tolist() == [200, 0, 0]
    pal = Image.fromarray(rgba, "RGBA").convert("P")  # palette with a transparent index via PNG
    out_png = np.asarray(load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert out_png[0, 0].tolist() == [255, 255, 255]
    assert load_image(pal).mode == "RGB"


def test_cmyk_jpeg_converts():
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    out = np.asarray(load_image(encode(cmyk, "JPEG", quality=95)))
    r, g, b = out[15, 20].tolist()
    assert r > 200 and g < 60 and b < 60


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = np.asarray(load_image(data))
    r, g, b = out[16, 16].tolist()
    assert r > 200 and b < 60


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (60, 30), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 30, 30))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (30, 60)  # width and height swapped
    arr = np.asarray(out).mean(axis=2)
    assert arr[:25].mean() > 200 and arr[35:].mean() < 50  # white half now on top


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", EmptyImageError),
        (b"this is plain text, not an image" * 10, NotAnImageError),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 400, NotAnImageError),
        (png_header_only(100_000, 100_000), ImageTooLargeError),  # PIL's own bomb check
        (png_header_only(10_000, 6_000), ImageTooLargeError),  # under PIL's limit, over ours
    ],
)
def test_bad_bytes_get_typed_errors(data, error):
    with pytest.raises(error) as info:
        load_image(data)
    assert str(info.value) and "Traceback" not in str(info.value)


def test_truncated_files_are_corrupt():
    for fmt in ("JPEG", "PNG"):
        data = encode(gradient(400, 300), fmt)
        with pytest.raises(CorruptImageError):
            load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(ImageTooLargeError, match="too large"):
        load_image(encode(gradient(101, 100), "PNG"))
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((101, 100, 3), np.uint8))


def test_too_small_and_extreme_aspect():
    with pytest.raises(ImageTooSmallError, match="15 x 15"):
        load_image(encode(gradient(14, 40), "PNG"))
    with pytest.raises(ImageTooSmallError):
        load_image(np.zeros((8, 8), np.uint8))
    with pytest.raises(AspectRatioError):
        load_image(encode(gradient(2000, 100), "PNG"))
    assert load_image(encode(gradient(15, 15), "PNG")).size == (15, 15)


def test_bad_arrays_and_types():
    with pytest.raises(EmptyImageError):
        load_image(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(NotAnImageError):
        load_image(np.zeros((20, 20, 5), np.uint8))
    with pytest.raises(NotAnImageError):
        load_image(12345)  # type: ignore[arg-type]
    with pytest.raises(NotAnImageError):
        load_image("/definitely/not/here.png")


def test_float_array_in_unit_range():
    arr = np.full((20, 20, 3), 0.5, dtype=np.float32)
    assert np.asarray(load_image(arr))[0, 0].tolist() == [128, 128, 128]


def test_preprocess_equals_torchvision_weights_transforms():
    img = load_image(gradient(517, 389))
    x, crop = TORCHVISION_IMAGENET(img)
    torch.testing.assert_close(x, IMAGENET.transforms()(img), rtol=0, atol=0)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8


def test_real_photos_load(shared_photos):
    for path in shared_photos:
        img = load_image(path)
        assert img.mode == "RGB" and min(img.size) >= 15
