from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL_PHOTOS = SHARED / "images" / "real"
ASSETS = ROOT / "assets"


@pytest.fixture(scope="session")
def engine():
    from model import load_engine

    return load_engine("random", "cpu", seed=0, warm_up=False)


def real_photos() -> list[Path]:
    return sorted(REAL_PHOTOS.glob("*.JPEG")) if REAL_PHOTOS.is_dir() else []


@pytest.fixture
def shared_photos() -> list[Path]:
    photos = real_photos()
    if not photos:
        pytest.skip("../shared/images/real is not present (a fresh clone has no ../shared)")
    return photos


@pytest.fixture(scope="session")
def app_server():
    """One real app (`python app.py --weights random`) for every test that drives it over HTTP or in a browser."""
    from tests.app_server import AppServer

    with AppServer() as server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url
