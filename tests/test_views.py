"""Page content built from an analysis: correct numbers, honest labels, both languages."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from demo import render, views
from demo.i18n import EN, KO, image_error, t
from model import MODULES
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def analysis(engine):
    return engine.analyze(ROOT / "assets" / "cat.jpg")


def test_model_package_never_imports_ui():
    for path in (ROOT / "model").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(n.split(".")[0] in ("gradio", "demo", "matplotlib") for n in names), path.name


def test_every_text_exists_in_both_languages():
    assert EN.keys() == KO.keys()
    assert all(KO[k] for k in KO)
    assert t("ko", "tab_aux") == "보조 분류기" and t("en", "tab_aux") == "Auxiliary classifiers"
    assert "15 x 15" in image_error("ko", "too_small", "The image is only 8 x 8 pixels; ... 15 x 15.")


def test_click_on_the_overview_picks_the_bar_under_it(engine, analysis):
    names = views.branch_legend(engine.architecture)
    layout = render.share_chart_layout(list(MODULES), names, width=views.CHART_WIDTH)
    for name, top in zip(MODULES, layout["bar_tops"]):
        assert views.module_at(top + layout["bar_height"] // 2, names) == name
    assert views.module_at(0, names) is None  # the legend, not a bar
    chart = views.overview_chart(analysis, "4c", names)
    assert chart.shape == (layout["height"], views.CHART_WIDTH, 3)


def test_branch_legend_is_honest_about_kernels(engine):
    assert views.branch_legend(engine.architecture) == ["1x1", "3x3", "5x5 (= 3x3)", "pool proj"]
    titles = views.branch_titles(engine.architecture.modules[0])
    assert "paper: 5x5" in titles[2] and "32 ch" in titles[2]


def test_stats_table_shows_the_analysis_numbers(engine, analysis):
    spec = engine.architecture.modules[MODULES.index("4c")]
    html = views.stats_html(analysis, spec, "en")
    for branch in analysis.module("4c").branches:
        assert f"{branch.share:.1%}" in html and f"{branch.active_fraction:.1%}" in html
    assert "활성 유닛 비율" in views.stats_html(analysis, spec, "ko")


def test_untrained_aux_heads_are_not_called_predictions(analysis):
    note, panels = views.aux_html(analysis, "en")
    assert "untrained" in note and len(panels) == 3
    assert all("not predictions" in p for p in panels[:2])
    assert "not predictions" not in panels[2] and "Main classifier" in panels[2]
    korean = views.aux_html(analysis, "ko")[0]
    assert "학습되지 않았습니다" in korean and "Random weights" not in korean


def test_branch_maps_and_grids(analysis):
    maps = views.branch_maps(analysis, "3a", "viridis", 0.0)
    assert len(maps) == 4 and all(m.shape == (224, 224, 3) for m in maps)
    np.testing.assert_array_equal(maps[0], analysis.image)  # opacity 0: the photo itself
    grids = views.branch_grids(analysis, "3a", "viridis")
    assert len(grids) == 4 and all(g.dtype == np.uint8 and g.ndim == 3 for g in grids)


def test_architecture_page(engine):
    page = views.architecture_markdown(engine.architecture, "en")
    assert "51,380,224" in page and "pytorch/vision#906" in page
    for spec in engine.architecture.modules:
        assert f"{spec.params / 1e3:,.0f} K" in page and f"{spec.naive_macs / 1e6:,.0f} M" in page
    korean = views.architecture_markdown(engine.architecture, "ko")
    assert "전역 평균 풀링" in korean and "배치 정규화" in korean and "batch normalization" not in korean


def test_random_weights_banner(analysis):
    assert "meaningless" in views.banner_markdown(analysis.weights, "en")
    korean = views.banner_markdown(analysis.weights, "ko")
    assert "의미가 없습니다" in korean and "무작위 가중치 (seed=0)" in korean and "Random weights" not in korean


def test_trained_aux_heads_are_shown_as_predictions(analysis):
    from dataclasses import replace

    note = "BVLC trained both auxiliary classifiers with the network."
    trained = replace(analysis, aux=tuple(replace(a, trained=True, note=note) for a in analysis.aux))
    shown, panels = views.aux_html(trained, "en")
    assert shown.startswith("✅") and note in shown and "untrained" not in shown
    assert not any("not predictions" in p for p in panels)
    assert "aux1 (after 4a)" in panels[0] and "aux2 (after 4d)" in panels[1]
