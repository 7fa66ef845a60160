"""Turn whatever the user gives us into one RGB PIL image, or a typed error with a plain message."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ImageSource = Union[Image.Image, str, Path, bytes, bytearray, np.ndarray]

MAX_PIXELS = 50_000_000  # ~ 8660 x 5770; far beyond any camera photo a class uses, far below a bomb
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ASPECT = 10.0

# A truncated file must fail loudly, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageInputError(ValueError):
    """A user-facing problem with an input image. `str(err)` is the plain message to show."""

    kind = "invalid"


class EmptyImageError(ImageInputError):
    kind = "empty"


class NotAnImageError(ImageInputError):
    kind = "not_an_image"


class CorruptImageError(ImageInputError):
    kind = "corrupt"


class ImageTooLargeError(ImageInputError):
    kind = "too_large"


class ImageTooSmallError(ImageInputError):
    kind = "too_small"


class AspectRatioError(ImageInputError):
    kind = "aspect_ratio"


def load_image(source: ImageSource, *, min_size: tuple[int, int] = (15, 15)) -> Image.Image:
    """Open, validate and convert `source` to an RGB image with EXIF orientation applied."""
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(_read_bytes(source))
    _check_size(image.size, min_size)
    image = _first_frame(image)
    try:
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except (OSError, SyntaxError, ValueError) as err:  # PIL reports truncation/corruption lazily, on load
        raise CorruptImageError(f"The image file is damaged or truncated and cannot be decoded ({err}).") from None


def _read_bytes(source: str | Path | bytes | bytearray) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise NotAnImageError(f"No such image file: {path.name}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageTooLargeError(f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
        data = path.read_bytes()
    else:
        raise NotAnImageError(f"Expected an image, got {type(source).__name__}.")
    if not data:
        raise EmptyImageError("The file is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
    return data


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise NotAnImageError("This file is not an image format we can read (try JPEG, PNG, WebP, GIF, BMP or TIFF).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(_too_large_message(None)) from None
        except (OSError, SyntaxError, ValueError) as err:
            raise CorruptImageError(f"The image file is damaged and cannot be decoded ({err}).") from None
    # Header only so far: refuse bombs before a single pixel is decoded.
    _check_size(image.size, (1, 1))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise CorruptImageError(f"The image file is damaged or truncated and cannot be decoded ({err}).") from None
    return image


def _too_large_message(size: tuple[int, int] | None) -> str:
    dims = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return f"The image is too large{dims}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels. Please resize it first."


def _check_size(size: tuple[int, int], min_size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(_too_large_message(size))
    if width < min_size[0] or height < min_size[1]:
        raise ImageTooSmallError(
            f"The image is only {width} x {height} pixels; GoogLeNet needs at least {min_size[0]} x {min_size[1]}."
        )
    if max(width / height, height / width) > MAX_ASPECT:
        raise AspectRatioError(
            f"The image is {width} x {height} pixels: its aspect ratio is more extreme than {MAX_ASPECT:.0f}:1, "
            "so the centre crop the model sees would show almost nothing of it. Crop it first."
        )


def _first_frame(image: Image.Image) -> Image.Image:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        frame = image.copy()
        frame.info = dict(image.info)
        return frame
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: alpha is composited on white, 16-bit and float are rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16"):
        return Image.fromarray(_to_uint8(np.asarray(image), full_scale=65535.0), mode="L").convert("RGB")
    if mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image)), mode="L").convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _to_uint8(values: np.ndarray, full_scale: float | None = None) -> np.ndarray:
    """Map 16-bit, 32-bit integer or float pixel values onto 0..255 (guessing the range if not given)."""
    is_float = values.dtype.kind == "f"
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    high = float(values.max(initial=0.0))
    low = float(values.min(initial=0.0))
    if full_scale is not None:
        scale = full_scale
    elif is_float and low >= 0 and high <= 1.0:
        scale = 1.0  # float image in [0, 1]
    elif low >= 0 and high <= 255:
        scale = 255.0
    elif low >= 0 and high <= 65535:
        scale = 65535.0
    else:  # arbitrary range: stretch
        values = values - low
        scale = max(high - low, 1e-12)
    return np.clip(np.rint(values / scale * 255.0), 0, 255).astype(np.uint8)


def _from_array(array: np.ndarray) -> Image.Image:
    if array.size == 0:
        raise EmptyImageError("The image array is empty.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise NotAnImageError(f"Expected an H x W, H x W x 3 or H x W x 4 array, got shape {array.shape}.")
    if array.dtype.kind not in "uifb":
        raise NotAnImageError(f"Unsupported array type {array.dtype}.")
    _check_size((array.shape[1], array.shape[0]), (1, 1))
    if array.dtype == np.uint16:
        array = _to_uint8(array, full_scale=65535.0)
    elif array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = _to_uint8(array)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[array.shape[2] if array.ndim == 3 else 2]
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)
