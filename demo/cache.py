"""A fix for a race in Gradio's image cache.

Gradio saves every output picture under a name derived from its content and rewrites that file in place on every
save. When two sessions produce the same picture at once (a class all clicking the same example photo, or the same
colour legend), one browser can fetch the file while another request is rewriting it and get an empty or half-written
image. This writes each file once, under a temporary name renamed into place, as Gradio already does for copied files
(`processing_utils.save_file_to_cache`).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils
from PIL import Image


def save_pil_to_cache(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if not path.exists():
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    return str(path)


def install() -> None:
    processing_utils.save_pil_to_cache = save_pil_to_cache
