"""ImageNet-1k class ids (WordNet ids) in the ILSVRC-2012 class order.

Caffe's data/ilsvrc12/synset_words.txt lists the 1000 wnids sorted, and class index i of every Caffe ImageNet
model (BVLC GoogLeNet included) is line i. torchvision's ImageNet models use the same order, so one index means
the same class in both; tests/test_bvlc.py checks this against torchvision's category names.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

WNIDS_FILE = Path(__file__).with_name("data") / "imagenet_wnids.txt"


@cache
def imagenet_wnids() -> tuple[str, ...]:
    return tuple(WNIDS_FILE.read_text(encoding="ascii").split())


def wnid_index(wnid: str) -> int:
    """Class index of a WordNet id such as 'n02128925' (jaguar → 290). KeyError if it is not an ImageNet-1k class."""
    try:
        return _index()[wnid]
    except KeyError:
        raise KeyError(f"{wnid!r} is not one of the 1000 ImageNet-1k classes") from None


@cache
def _index() -> dict[str, int]:
    return {wnid: i for i, wnid in enumerate(imagenet_wnids())}
