"""Analysis results → what the page shows (pictures, label dicts, HTML). No model maths, no Gradio."""
from __future__ import annotations

from html import escape

import numpy as np

from model.analysis import MODULES, Analysis, Prediction
from model.architecture import PAPER_TABLE, Architecture, BranchSpec, ModuleSpec
from model.weights import WeightsInfo

from . import render
from .i18n import t, weights_text

TILE = 72
GRID_CHANNELS = 8


def label_dict(preds: tuple[Prediction, ...]) -> dict[str, float]:
    return {p.label: p.probability for p in preds}


def share_matrix(analysis: Analysis) -> np.ndarray:
    return np.array([[b.share for b in m.branches] for m in analysis.modules], dtype=np.float64)


CHART_WIDTH = 720


def branch_legend(arch: Architecture) -> list[str]:
    """Branch names for legends, honest about kernels that differ from the paper ("5x5 (is 3x3)")."""
    first = arch.modules[0].branches
    return [b.role if b.kernel == b.paper_kernel else f"{b.role} (= {b.kernel}x{b.kernel})" for b in first]


def overview_chart(analysis: Analysis, module: str, names: list[str], scale: float = 1.0) -> np.ndarray:
    return render.share_chart(
        share_matrix(analysis), list(MODULES), names, highlight=MODULES.index(module), width=CHART_WIDTH, scale=scale
    )


def module_at(y: int, names: list[str], scale: float = 1.0) -> str | None:
    """Which module's bar a click at pixel row `y` of the overview chart falls on."""
    layout = render.share_chart_layout(list(MODULES), names, width=CHART_WIDTH, scale=scale)
    half_gap = (layout["row_height"] - layout["bar_height"]) / 2
    for name, top in zip(MODULES, layout["bar_tops"]):
        if top - half_gap <= y < top + layout["bar_height"] + half_gap:
            return name
    return None


def branch_maps(analysis: Analysis, module: str, cmap: str, opacity: float, scale: float = 1.0) -> list[np.ndarray]:
    """Per branch: its mean activation over channels, overlaid on the crop the model saw."""
    maps = []
    for branch in analysis.module(module).branches:
        heat = render.normalize(branch.activation.mean(axis=0), low_pct=0.0, high_pct=100.0)
        maps.append(render.overlay(analysis.image, heat, alpha=opacity, cmap=cmap))
    return maps


def branch_grids(analysis: Analysis, module: str, cmap: str, scale: float = 1.0) -> list[np.ndarray]:
    """Per branch: its most active channels, on one shared scale so tiles compare honestly."""
    grids = []
    for branch in analysis.module(module).branches:
        top = branch.top_channels[:GRID_CHANNELS]
        grids.append(
            render.channel_grid(
                branch.activation,
                [c for c, _ in top],
                [v for _, v in top],
                cols=4,
                tile=round(TILE * scale),
                cmap=cmap,
                scale=scale,
            )
        )
    return grids


def legend(cmap: str, lang: str, scale: float = 1.0) -> np.ndarray:
    return render.colorbar(
        cmap, width=round(360 * scale), height=round(40 * scale), low_label=t(lang, "low"), high_label=t(lang, "high"), scale=scale
    )


def branch_titles(spec: ModuleSpec, lang: str = "en") -> list[str]:
    titles = []
    for b in spec.branches:
        kernel = "" if b.role.startswith(f"{b.kernel}x") else " · " + t(lang, "kernel", k=b.kernel)
        if b.kernel != b.paper_kernel:
            kernel += " " + t(lang, "paper_kernel", k=b.paper_kernel)
        titles.append(f"**{b.role}**{kernel} · " + t(lang, "n_channels", n=b.out_channels))
    return titles


def module_heading(spec: ModuleSpec, lang: str) -> str:
    heading = t(lang, "module_heading", name=spec.name, in_ch=spec.in_channels, out_ch=spec.out_channels, size=spec.size)
    if any(b.kernel != b.paper_kernel for b in spec.branches):
        heading += f"  \n*{t(lang, 'kernel_note')}*"
    return f"### {heading}"


def _table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="gx-table {css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _swatch(i: int) -> str:
    return f'<span class="gx-swatch" style="background:{render.BRANCH_COLORS_HEX[i]}"></span>'


def _kernel_text(spec: BranchSpec, lang: str) -> str:
    text = f"{spec.kernel}x{spec.kernel}"
    return text if spec.kernel == spec.paper_kernel else f"{text} " + t(lang, "paper_kernel", k=spec.paper_kernel)


def stats_html(analysis: Analysis, spec: ModuleSpec, lang: str) -> str:
    module = analysis.module(spec.name)
    rows = [
        [
            f"{_swatch(i)}{escape(b.role)}",
            escape(_kernel_text(s, lang)),
            str(s.out_channels),
            _num(b.mean),
            f"{b.share:.1%}",
            f"{b.active_fraction:.1%}",
        ]
        for i, (b, s) in enumerate(zip(module.branches, spec.branches))
    ]
    keys = ["col_branch", "col_kernel", "col_channels", "col_mean", "col_share", "col_active"]
    return _table([t(lang, k) for k in keys], rows)


def banner_markdown(info: WeightsInfo, lang: str) -> str:
    description, _ = weights_text(lang, info.kind, info.source, info.description, info.aux_note)
    line = t(lang, "weights_line", description=description)
    if not info.predictions_meaningful:
        return f"{t(lang, 'random_banner')}  \n{line}"
    return line


def _prediction_rows(preds: tuple[Prediction, ...], muted: bool) -> str:
    rows = []
    for p in preds:
        width = max(1.0, 100 * p.probability)
        bar = f'<div class="gx-bar{" gx-muted" if muted else ""}" style="width:{width:.1f}%"></div>'
        rows.append(f"<tr><td>{escape(p.label)}</td><td class='gx-prob'>{p.probability:.2%}{bar}</td></tr>")
    return "<table class='gx-table gx-preds'>" + "".join(rows) + "</table>"


def aux_html(analysis: Analysis, lang: str) -> tuple[str, list[str]]:
    """The honesty note, and one HTML panel per head: aux1, aux2, main."""
    untrained = not analysis.aux[0].trained
    info = analysis.weights
    _, aux_note = weights_text(lang, info.kind, info.source, info.description, analysis.aux[0].note)
    note = t(lang, "aux_untrained" if untrained else "aux_trained", note=aux_note)
    main_top = [p.index for p in analysis.top5]
    panels = []
    for aux in analysis.aux:
        overlap = len(set(main_top) & {p.index for p in aux.top5})
        agree = t(lang, "yes" if aux.top5[0].index == main_top[0] else "no")
        caption = f"<p class='gx-raw'>{t(lang, 'raw_outputs')}</p>" if untrained else ""
        panels.append(
            f"<h4>{escape(t(lang, 'aux_head', name=aux.name, after=aux.after))}</h4>{caption}"
            + _prediction_rows(aux.top5, muted=untrained)
            + f"<p>{escape(t(lang, 'agreement', agree=agree, overlap=overlap))}</p>"
        )
    panels.append(f"<h4>{escape(t(lang, 'main_head'))}</h4>" + _prediction_rows(analysis.top5, muted=False))
    return note, panels


def architecture_markdown(arch: Architecture, lang: str) -> str:
    rows, naive_rows = [], []
    for m in arch.modules:
        b1, b3, b5, bp = m.branches
        paper = PAPER_TABLE[m.name]
        rows.append(
            [
                f"<b>{m.name}</b>",
                str(m.in_channels),
                str(b1.out_channels),
                f"{b3.layers[0].out_channels} → {b3.out_channels} ({b3.kernel}x{b3.kernel})",
                f"{b5.layers[0].out_channels} → {b5.out_channels} ({b5.kernel}x{b5.kernel})",
                str(bp.out_channels),
                str(m.out_channels),
                f"{m.params / 1e3:,.0f} K",
                f"{paper[6]:,} K",
                f"{m.macs / 1e6:,.0f} M",
                f"{paper[7]:,} M",
            ]
        )
        naive_rows.append(
            [
                f"<b>{m.name}</b>",
                f"{m.params / 1e3:,.0f} K",
                f"{m.naive_params / 1e3:,.0f} K",
                f"{m.macs / 1e6:,.0f} M",
                f"{m.naive_macs / 1e6:,.0f} M",
                str(m.out_channels),
                str(m.naive_out_channels),
                f"{m.naive_macs / max(m.macs, 1):.1f} ×",
            ]
        )
    keys = ["arch_col_module", "arch_col_in", "arch_col_1x1", "arch_col_3x3", "arch_col_5x5", "arch_col_pool",
            "arch_col_out", "arch_col_params", "arch_col_paper_params", "arch_col_macs", "arch_col_paper_ops"]
    naive_keys = ["arch_col_module", "arch_col_params", "naive_col_params", "arch_col_macs", "naive_col_macs",
                  "arch_col_out", "naive_col_out", "naive_col_saving"]
    notes = "\n".join(f"- {escape(note.text if lang == 'en' else t(lang, 'note_' + note.key))}" for note in arch.notes)
    notes = notes or t(lang, "notes_none")
    fc = arch.fc_equivalent_weights
    gap = t(lang, "gap_text", size=arch.head_size, c=arch.head_in_features, fc=fc, fc_m=fc / 1e6,
            ratio=fc / arch.total_params, total_m=arch.total_params / 1e6)
    return "\n\n".join(
        [
            t(lang, "arch_intro"),
            _table([t(lang, k) for k in keys], rows, "gx-arch"),
            t(lang, "total_params", total=arch.total_params),
            t(lang, "naive_heading"),
            t(lang, "naive_intro"),
            _table([t(lang, k) for k in naive_keys], naive_rows, "gx-arch"),
            t(lang, "gap_heading"),
            gap,
            t(lang, "notes_heading"),
            notes,
        ]
    )


METHOD_KEYS = ("saliency", "integrated_gradients", "smoothgrad", "gradcam", "guided_gradcam", "occlusion")


def method_choices(lang: str) -> list[tuple[str, str]]:
    return list(zip(t(lang, "method_names").split("|"), METHOD_KEYS))


def target_choices(analysis: Analysis, categories: list[str], lang: str) -> list[tuple[str, int]]:
    """The top-5 first (with their probabilities), then every class alphabetically: the dropdown filters as you type."""
    top = [(t(lang, "target_top", rank=r, label=p.label, p=p.probability), p.index) for r, p in enumerate(analysis.top5, 1)]
    rest = sorted((f"{name} ({i})", i) for i, name in enumerate(categories))
    return top + rest


def attribution_overlay(image: np.ndarray, heatmap: np.ndarray, signed: bool, opacity: float, cmap: str) -> np.ndarray:
    if signed:
        return render.overlay(image, render.signed_to_unit(heatmap), alpha=opacity, cmap=render.DIVERGING)
    return render.overlay(image, heatmap, alpha=opacity, cmap=cmap)


def attribution_legend(signed: bool, cmap: str, lang: str, scale: float = 1.0) -> np.ndarray:
    if signed:
        return render.colorbar(render.DIVERGING, width=round(360 * scale), height=round(40 * scale), low_label="−",
                               mid_label="0", high_label="+", scale=scale)
    return legend(cmap, lang, scale)


def attribution_caption(method: str, label: str, index: int, seconds: float, delta: float | None, signed: bool,
                        lang: str) -> str:
    name = dict((key, shown) for shown, key in method_choices(lang))[method]
    text = t(lang, "attr_info", method=name, label=label, index=index, seconds=seconds)
    if delta is not None:
        text += t(lang, "attr_delta", delta=delta)
    return f"{text}  \n{t(lang, 'm_' + method)}  \n*{t(lang, 'attr_signed' if signed else 'attr_unsigned')}*"
