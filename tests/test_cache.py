"""Identical pictures saved by concurrent sessions are never served half-written."""
from __future__ import annotations

import threading

import numpy as np
from gradio import processing_utils
from PIL import Image

from demo import cache


def test_concurrent_saves_of_one_picture_never_expose_a_partial_file(tmp_path):
    cache.install()
    assert processing_utils.save_pil_to_cache is cache.save_pil_to_cache
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))  # noisy: a large PNG
    expected = processing_utils.encode_pil_to_bytes(image, "png")
    first = processing_utils.save_img_array_to_cache(np.asarray(image), str(tmp_path), format="png")
    short_reads = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            assert processing_utils.save_img_array_to_cache(np.asarray(image), str(tmp_path), format="png") == first

    def reader() -> None:
        for _ in range(300):
            data = open(first, "rb").read()
            if data != expected:
                short_reads.append(len(data))

    threads = [threading.Thread(target=writer) for _ in range(3)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads[3:]:
        t.join()
    stop.set()
    for t in threads[:3]:
        t.join()
    assert short_reads == []
    assert [p.name for p in (tmp_path / processing_utils.hash_bytes(expected)).iterdir()] == ["image.png"]
