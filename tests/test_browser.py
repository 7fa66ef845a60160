"""The page in a real browser (Debian's Chromium driven by Playwright): upload, module switch, language, presenter mode.

Full-page screenshots of every step go to test-artifacts/ (gitignored) for a human to look at:
browser-1-uploaded.png, browser-2-module-5b.png, browser-3-korean.png, browser-4-presenter.png.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.conftest import ASSETS, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
PHOTO = ASSETS / "cat.jpg"
SLOW_MS = 120_000  # analysis on a busy 2-core CPU, plus image transfers
STEP_MS = 60_000

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError as err:  # pragma: no cover - depends on the environment
    pytest.skip(f"playwright is not importable ({err}); pip install playwright", allow_module_level=True)
if not CHROMIUM.exists():  # pragma: no cover
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need a local Chromium",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        # launch() gives every run a fresh temporary profile (user-data dir), removed on close.
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("browser-*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def page(browser, artifacts, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@contextlib.contextmanager
def screenshot_on_failure(page: Page, name: str):
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"browser-failure-{name}.png"), full_page=True)
        raise


def shoot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"browser-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def heading_text(page: Page) -> str:
    return page.evaluate("() => Array.from(document.querySelectorAll('h3')).map(h => h.textContent).join(' | ')")


def image_srcs(page: Page, width: int, height: int) -> list[str]:
    """src of every fully loaded <img> of the given natural size."""
    return page.evaluate(
        """([w, h]) => Array.from(document.querySelectorAll('img'))
            .filter(i => i.complete && i.naturalWidth === w && i.naturalHeight === h)
            .map(i => i.src)""",
        [width, height],
    )


def wait_for_images(page: Page, width: int, height: int, count: int, timeout: float = SLOW_MS) -> None:
    page.wait_for_function(
        """([w, h, n]) => Array.from(document.querySelectorAll('img'))
            .filter(i => i.complete && i.naturalWidth === w && i.naturalHeight === h).length >= n""",
        arg=[width, height, count],
        timeout=timeout,
    )


def test_upload_module_language_presenter(page, app_url, engine):
    with screenshot_on_failure(page, "upload_module_language_presenter"):
        from demo import render, ui, views
        from model import MODULES

        analysis = engine.analyze(PHOTO)
        grid_h, grid_w = views.branch_grids(analysis, "4c", "viridis")[0].shape[:2]
        big_grid_h, big_grid_w = views.branch_grids(analysis, "5b", "viridis", ui.PRESENTER_SCALE)[0].shape[:2]
        assert (big_grid_w, big_grid_h) != (grid_w, grid_h)

        page.goto(app_url, timeout=SLOW_MS, wait_until="domcontentloaded")
        page.wait_for_selector("input[type=file]", state="attached", timeout=SLOW_MS)
        assert page.title() == "GoogLeNet Explorer"

        # 1. Upload: the top-5 label, the 224 x 224 crop and four branch maps, four channel grids.
        page.set_input_files("input[type=file]", str(PHOTO))
        label = page.get_by_test_id("label-output-value")
        label.wait_for(state="visible", timeout=SLOW_MS)
        page.wait_for_function(
            "(want) => document.querySelector('[data-testid=label-output-value]')?.textContent.trim() === want",
            arg=analysis.top5[0].label,
            timeout=SLOW_MS,
        )
        for p in analysis.top5:
            assert page.get_by_test_id(f"{p.label}-confidence-set").count() == 1, p.label
        wait_for_images(page, 224, 224, 5)  # the crop + one map per branch
        wait_for_images(page, grid_w, grid_h, 4)  # one channel grid per branch
        page.wait_for_function("() => /Inception 4c/.test(Array.from(document.querySelectorAll('h3')).map(h => h.textContent).join())")
        assert "512" in heading_text(page)
        page.get_by_text("Analysed in").wait_for(timeout=STEP_MS)
        maps_4c = set(image_srcs(page, 224, 224))
        shoot(page, "1-uploaded")

        # 2. Module 5b: the heading changes and the branch maps are new pictures.
        page.get_by_test_id("5b-radio-label").click()
        page.wait_for_function("() => Array.from(document.querySelectorAll('h3')).some(h => h.textContent.includes('Inception 5b'))")
        assert "1024" in heading_text(page)
        page.wait_for_function(
            """(old) => { const now = Array.from(document.querySelectorAll('img'))
                  .filter(i => i.complete && i.naturalWidth === 224 && i.naturalHeight === 224 && !old.includes(i.src));
                return now.length >= 4; }""",
            arg=sorted(maps_4c),
            timeout=STEP_MS,
        )
        page.get_by_text("384 ch").first.wait_for()
        shoot(page, "2-module-5b")

        # 2b. The overview chart is clickable: a click on the 3a bar opens module 3a.
        names = views.branch_legend(engine.architecture)
        layout = render.share_chart_layout(list(MODULES), names, width=views.CHART_WIDTH)
        box = page.evaluate(
            """(w) => { const i = Array.from(document.querySelectorAll('img')).find(i => i.naturalWidth === w);
                const r = i.getBoundingClientRect(); return [r.x, r.y, r.width / i.naturalWidth]; }""",
            views.CHART_WIDTH,
        )
        x0, y0, ratio = box
        bar_y = layout["bar_tops"][0] + layout["bar_height"] / 2
        page.mouse.click(x0 + (layout["bar_left"] + 40) * ratio, y0 + bar_y * ratio)
        page.wait_for_function("() => Array.from(document.querySelectorAll('h3')).some(h => h.textContent.includes('Inception 3a'))",
                               timeout=STEP_MS)
        page.get_by_test_id("5b-radio-label").click()
        page.wait_for_function("() => Array.from(document.querySelectorAll('h3')).some(h => h.textContent.includes('Inception 5b'))")

        # 3. Korean: labels, tabs and the module heading follow.
        page.get_by_test_id("한국어-radio-label").click()
        page.get_by_role("tab", name="Inception 가지(branch)").wait_for(timeout=STEP_MS)
        page.get_by_text("상위 5개 예측").first.wait_for(timeout=STEP_MS)
        page.wait_for_function("() => Array.from(document.querySelectorAll('h3')).some(h => h.textContent.includes('입력 832 채널'))")
        assert page.get_by_role("button", name="분석하기").count() == 1
        assert page.get_by_text("GoogLeNet 탐색기").count() >= 1
        assert page.get_by_test_id("label-output-value").inner_text().strip() == analysis.top5[0].label
        shoot(page, "3-korean")

        # 4. Presenter mode: the container gets the class; pictures are redrawn larger.
        container = page.locator(".gradio-container").first
        assert "gx-presenter" not in (container.get_attribute("class") or "")
        page.locator("input[type=checkbox]").first.check()
        page.wait_for_function("() => document.querySelector('.gradio-container').classList.contains('gx-presenter')")
        wait_for_images(page, big_grid_w, big_grid_h, 4, timeout=STEP_MS)  # grids redrawn at presenter scale
        font_px = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.gradio-container')).fontSize)")
        assert font_px >= 20, f"presenter mode font size is {font_px}px"
        shoot(page, "4-presenter")
        page.locator("input[type=checkbox]").first.uncheck()
        page.wait_for_function("() => !document.querySelector('.gradio-container').classList.contains('gx-presenter')")

        # 5. Attribution (still in Korean): Grad-CAM for the top-1 class, then every method side by side.
        page.get_by_role("tab", name="기여도 (왜?)").click()
        page.get_by_role("button", name="설명하기").click()
        page.get_by_text("Grad-CAM: 선택한 층의 특징 맵").wait_for(timeout=SLOW_MS)
        assert page.get_by_text(f"클래스 {analysis.top5[0].index}").count() >= 1
        page.get_by_role("button", name="모든 방법 비교").click()
        page.get_by_text("Occlusion ·").first.wait_for(timeout=SLOW_MS)
        assert page.get_by_text("Guided Grad-CAM ·").count() >= 1
        shoot(page, "6-attribution")

        assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_korean_from_the_address(page, app_url):
    """?lang=ko opens the page in Korean (demo.load sets the language radio)."""
    with screenshot_on_failure(page, "korean_from_the_address"):
        page.goto(app_url + "/?lang=ko", timeout=SLOW_MS, wait_until="domcontentloaded")
        page.get_by_role("tab", name="보조 분류기").wait_for(timeout=SLOW_MS)
        assert page.get_by_test_id("한국어-radio-label").locator("input").is_checked()
        page.get_by_role("tab", name="구조").click()
        page.get_by_text("불러온 모델의 전체 파라미터 수").wait_for(timeout=STEP_MS)
        shoot(page, "5-korean-architecture")
        assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_model_that_cannot_load_says_why_and_goes_back(page, tmp_path):
    """Offline, choosing the original (BVLC) model shows what is missing and returns to the model that works."""
    import torch

    from model.weights import load_weights
    from tests.app_server import AppServer

    checkpoint = tmp_path / "googlenet.pth"
    torch.save(load_weights("random", seed=3)[0].state_dict(), checkpoint)
    closed_proxy = "http://127.0.0.1:9"  # nothing listens there: every download is refused at once
    env = {"TORCH_HOME": str(tmp_path / "torch"), "http_proxy": closed_proxy, "HTTP_PROXY": closed_proxy,
           "https_proxy": closed_proxy, "HTTPS_PROXY": closed_proxy, "no_proxy": "127.0.0.1,localhost"}
    with AppServer(["--weights", str(checkpoint), "--device", "cpu"], env=env) as server, \
            screenshot_on_failure(page, "model_that_cannot_load"):
        page.goto(server.url, timeout=SLOW_MS, wait_until="domcontentloaded")
        page.set_input_files("input[type=file]", str(PHOTO))
        page.get_by_text("Analysed in").wait_for(timeout=SLOW_MS)
        page.get_by_text("Original GoogLeNet (paper, BVLC)").click()
        page.get_by_text("bvlc_googlenet.caffemodel").first.wait_for(timeout=SLOW_MS)
        from playwright.sync_api import expect

        expect(page.get_by_role("radio", name="torchvision GoogLeNet")).to_be_checked(timeout=STEP_MS)
        expect(page.get_by_role("radio", name="Original GoogLeNet (paper, BVLC)")).not_to_be_checked()
        shoot(page, "7-model-unavailable")
        page.get_by_test_id("4a-radio-label").click()  # the page keeps working on the loaded model
        page.wait_for_function("() => Array.from(document.querySelectorAll('h3')).some(h => h.textContent.includes('Inception 4a'))")
        assert not page.errors, page.errors  # type: ignore[attr-defined]
