"""The Gradio page. Reads top to bottom like the page it draws; callbacks are plain functions of inputs to outputs.

One analysis per image (kept in the session's gr.State) feeds every view: switching module, colormap, language or
tab re-renders from it and never re-runs the model.
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path

import gradio as gr
import numpy as np

from model import CATEGORIES, MODULES, ImageInputError
from model.analysis import Analysis
from model.attribution import Settings, layer_names
from model.engine import EnginePool
from model.weights import WeightsError

from . import cache, views
from .i18n import LANGUAGES, t, image_error
from .render import COLORMAPS

log = logging.getLogger("googlenet_explorer")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(str(p) for p in (ROOT / "assets").glob("*.jpg"))
ARCHS = ("torchvision", "original")
SEQUENTIAL_CMAPS = [c for c in ("viridis", "cividis", "magma") if c in COLORMAPS]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
CACHE_CLEANUP = (3600, 3600)  # every hour, delete uploads and outputs older than an hour
PRESENTER_SCALE = 1.75
STATE_SESSIONS = 100  # each session keeps one analysis (~10 MB of activations); the oldest are dropped first

CSS = """
.gx-table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.gx-table th, .gx-table td { border-bottom: 1px solid var(--border-color-primary); padding: 4px 8px; text-align: left; }
.gx-swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 6px; border-radius: 2px; vertical-align: -1px; }
.gx-prob { position: relative; min-width: 8em; }
.gx-bar { height: 4px; background: #0072B2; margin-top: 2px; }
.gx-bar.gx-muted { background: #999; }
.gx-raw { color: #B35806; font-weight: 600; }
.gx-banner { border-left: 6px solid #E69F00; padding-left: 12px; }
.gx-presenter { font-size: 1.35rem !important; }
.gx-presenter .prose, .gx-presenter .gx-table, .gx-presenter label, .gx-presenter button { font-size: 1.35rem !important; }
.gx-presenter .prose h3 { font-size: 1.8rem !important; }
.gx-presenter { --body-text-color: #000; --block-background-fill: #fff; --background-fill-primary: #fff; }
.gx-presenter .gx-bar { height: 8px; }
.gx-presenter [data-testid="block-info"], .gx-presenter .block-info, .gx-presenter label span,
.gx-presenter input, .gx-presenter .wrap { font-size: 1.2rem !important; }
"""

PRESENTER_JS = "(on) => { document.querySelector('.gradio-container').classList.toggle('gx-presenter', on); return on; }"


class PhotoInput(gr.Image):
    """A gr.Image that hands the callback the uploaded bytes undecoded, so the engine's own checks and plain messages
    apply to every file (gr.Image would decode it first and fail with a generic error on a bad one). The path is one
    Gradio itself wrote to its upload cache, never one chosen by the request."""

    is_template = True  # draw it with gr.Image's own frontend

    def preprocess(self, payload):  # type: ignore[override]
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            encoded = payload.url.split(",", 1)[-1]
            if len(encoded) * 3 // 4 > MAX_UPLOAD_BYTES:  # same limit as a file upload; checked before decoding
                raise gr.Error(f"The image is larger than {MAX_UPLOAD_BYTES // 2**20} MB.", print_exception=False)
            return base64.b64decode(encoded)
        return Path(payload.path).read_bytes()


def _scale(presenter: bool) -> float:
    return PRESENTER_SCALE if presenter else 1.0


def _lang(language: str) -> str:
    return LANGUAGES.get(language, language if language in LANGUAGES.values() else "en")


def build_app(pool: EnginePool) -> gr.Blocks:
    cache.install()

    def engine(arch: str):
        try:
            return pool.get(arch)
        except WeightsError as err:
            raise gr.Error(str(err), title="Model", print_exception=False) from None

    # ---- callbacks -------------------------------------------------------------------------------------------------

    def analyze(photo, arch, language):
        lang = _lang(language)
        if photo is None:
            raise gr.Error(t(lang, "error_no_image"), print_exception=False)
        try:
            return engine(arch).analyze(photo)
        except ImageInputError as err:
            message = t(lang, "error_prefix") + image_error(lang, err.kind, str(err))
            raise gr.Error(message, print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("analysis failed")
            raise gr.Error(t(lang, "error_internal")) from None

    def summary_views(analysis: Analysis, arch: str, language: str):
        lang = _lang(language)
        eng = engine(arch)
        timings = analysis.timings_ms
        status = t(lang, "status_done", total=timings["total"], device=str(eng.device), forward=timings["forward"])
        return (
            views.label_dict(analysis.top5),
            analysis.image,
            status,
            views.banner_markdown(analysis.weights, lang),
        )

    def module_views(analysis: Analysis | None, arch: str, module: str, cmap: str, opacity: float, presenter: bool,
                     language: str):
        if analysis is None:
            return [gr.skip()] * (4 + 4 * 3)
        lang = _lang(language)
        scale = _scale(presenter)
        spec = engine(arch).architecture.modules[MODULES.index(module)]
        return [
            views.overview_chart(analysis, module, branch_names(arch), scale),
            views.legend(cmap, lang, scale),
            views.module_heading(spec, lang),
            views.stats_html(analysis, spec, lang),
            *views.branch_titles(spec, lang),
            *views.branch_maps(analysis, module, cmap, opacity),
            *views.branch_grids(analysis, module, cmap, scale),
        ]

    def aux_views(analysis: Analysis | None, language: str):
        if analysis is None:
            return [gr.skip()] * 4
        note, panels = views.aux_html(analysis, _lang(language))
        return [note, *panels]

    def architecture_view(arch: str, language: str) -> str:
        return views.architecture_markdown(engine(arch).architecture, _lang(language))

    def branch_names(arch: str) -> list[str]:
        return views.branch_legend(engine(arch).architecture)

    def run_all(photo, arch, language, module, cmap, opacity, presenter):
        if photo is None:  # the input was cleared
            return gr.skip()
        analysis = analyze(photo, arch, language)
        return (
            analysis,
            *summary_views(analysis, arch, language),
            *module_views(analysis, arch, module, cmap, opacity, presenter, language),
            *aux_views(analysis, language),
            target_update(analysis, language),
            None,  # a new photo: the previous attribution map no longer applies
            None,
            "",
        )

    def summary_texts(analysis: Analysis | None, arch: str, language: str):
        if analysis is None:
            return t(_lang(language), "status_ready"), views.banner_markdown(engine(arch).weights, _lang(language))
        return summary_views(analysis, arch, language)[2:]

    def switch_model(arch: str, loaded: str):
        """Load the chosen model once. If it cannot be loaded (offline, missing file), say why and go back."""
        try:
            pool.get(arch)
        except WeightsError as err:
            gr.Warning(str(err), duration=30)
            return loaded, loaded
        return gr.skip(), arch

    def target_update(analysis: Analysis | None, language: str):
        if analysis is None:
            return gr.skip()
        choices = views.target_choices(analysis, list(CATEGORIES), _lang(language))
        return gr.update(choices=choices, value=analysis.top5[0].index)

    def explain_one(analysis, arch, method, target, layer, settings, progress):
        try:
            return engine(arch).attribute(
                analysis.image, method, int(target), layer=layer if method in ("gradcam", "guided_gradcam") else None,
                settings=settings, progress=progress,
            )
        except (ValueError, TypeError) as err:  # bad settings or target: a plain message
            raise gr.Error(str(err), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            log.exception("attribution failed")
            raise gr.Error(t("en", "error_internal")) from None

    def attribution_request(analysis, target, lang, ig_steps, sg_samples, sg_noise, occ_window, occ_stride):
        """The target (top-1 unless chosen) and the method settings, or a plain error without an analysis."""
        if analysis is None:
            raise gr.Error(t(lang, "attr_need_analysis"), print_exception=False)
        settings = Settings(ig_steps=int(ig_steps), smoothgrad_samples=int(sg_samples),
                            smoothgrad_noise=float(sg_noise), occlusion_window=int(occ_window),
                            occlusion_stride=int(occ_stride))
        return (analysis.top5[0].index if target is None else target), settings

    def explain(analysis, arch, method, target, layer, ig_steps, sg_samples, sg_noise, occ_window, occ_stride,
                attr_opacity, cmap, presenter, language, progress=gr.Progress()):
        lang = _lang(language)
        target, settings = attribution_request(analysis, target, lang, ig_steps, sg_samples, sg_noise, occ_window,
                                               occ_stride)
        result = explain_one(analysis, arch, method, target, layer, settings, lambda f: progress(f))
        shown = (result.heatmap, result.signed)
        return (
            shown,
            views.attribution_overlay(analysis.image, result.heatmap, result.signed, attr_opacity, cmap),
            views.attribution_legend(result.signed, cmap, lang, _scale(presenter)),
            views.attribution_caption(method, CATEGORIES[result.target], result.target, result.seconds, result.delta,
                                      result.signed, lang),
        )

    def redraw_attribution(analysis, shown, attr_opacity, cmap, presenter, language):
        if analysis is None or shown is None:
            return gr.skip(), gr.skip()
        heatmap, signed = shown
        return (
            views.attribution_overlay(analysis.image, heatmap, signed, attr_opacity, cmap),
            views.attribution_legend(signed, cmap, _lang(language), _scale(presenter)),
        )

    def compare(analysis, arch, target, layer, ig_steps, sg_samples, sg_noise, occ_window, occ_stride, attr_opacity,
                cmap, language, progress=gr.Progress()):
        lang = _lang(language)
        target, settings = attribution_request(analysis, target, lang, ig_steps, sg_samples, sg_noise, occ_window,
                                               occ_stride)
        gallery = []
        choices = views.method_choices(lang)
        for i, (name, method) in enumerate(choices):
            def step(f: float, i: int = i, name: str = name) -> None:
                progress((i + f) / len(choices), desc=name)

            result = explain_one(analysis, arch, method, target, layer, settings, step)
            image = views.attribution_overlay(analysis.image, result.heatmap, result.signed, attr_opacity, cmap)
            gallery.append((image, f"{name} · {result.seconds:.2f} s"))
        return gallery

    def predict(photo, arch, language):
        return views.label_dict(analyze(photo, arch, language).top5)

    def pick_module(arch: str, presenter: bool, evt: gr.SelectData):
        name = views.module_at(int(evt.index[1]), branch_names(arch), _scale(presenter))
        return gr.skip() if name is None else name

    def relabel(language: str, arch: str):
        lang = _lang(language)
        return [
            t(lang, "title"),
            t(lang, "subtitle"),
            gr.update(label=t(lang, "presenter")),
            gr.update(label=t(lang, "model"), choices=[(t(lang, f"model_{a}"), a) for a in ARCHS]),
            gr.update(label=t(lang, "photo")),
            gr.update(value=t(lang, "analyze")),
            gr.update(label=t(lang, "examples")),
            gr.update(label=t(lang, "top5")),
            gr.update(label=t(lang, "seen")),
            gr.update(label=t(lang, "tab_branches")),
            gr.update(label=t(lang, "tab_aux")),
            gr.update(label=t(lang, "tab_arch")),
            gr.update(label=t(lang, "tab_attr")),
            t(lang, "branches_intro"),
            t(lang, "overview"),
            branch_caption_text(lang),
            gr.update(label=t(lang, "module")),
            gr.update(label=t(lang, "colormap")),
            gr.update(label=t(lang, "opacity")),
            t(lang, "aux_intro"),
            t(lang, "attr_intro"),
            t(lang, "footer"),
            architecture_view(arch, language),
            gr.update(label=t(lang, "attr_method"), choices=views.method_choices(lang)),
            gr.update(label=t(lang, "attr_target")),
            gr.update(label=t(lang, "attr_layer")),
            gr.update(label=t(lang, "attr_settings")),
            gr.update(label=t(lang, "ig_steps")),
            gr.update(label=t(lang, "sg_samples")),
            gr.update(label=t(lang, "sg_noise")),
            gr.update(label=t(lang, "occ_window")),
            gr.update(label=t(lang, "occ_stride")),
            gr.update(value=t(lang, "explain")),
            gr.update(value=t(lang, "compare")),
            gr.update(label=t(lang, "attr_result")),
            gr.update(label=t(lang, "opacity")),
            gr.update(label=t(lang, "attr_compare")),
        ]

    def branch_caption_text(lang: str) -> str:
        return f"*{t(lang, 'mean_map')} · {t(lang, 'channels')}*"

    def initial_language(request: gr.Request):
        wanted = (request.query_params.get("lang") or "").lower() if request else ""
        accept = (request.headers.get("accept-language") or "").lower() if request else ""
        return "한국어" if wanted == "ko" or (not wanted and accept.startswith("ko")) else "English"

    # ---- layout ----------------------------------------------------------------------------------------------------

    first = pool.get(pool.first)
    with gr.Blocks(title="GoogLeNet Explorer", delete_cache=CACHE_CLEANUP) as demo:
        analysis_state = gr.State(None, time_to_live=3600)
        loaded_arch = gr.State(pool.first)
        with gr.Row(equal_height=True):
            with gr.Column(scale=3):
                title = gr.Markdown(t("en", "title"))
                subtitle = gr.Markdown(t("en", "subtitle"))
            with gr.Column(scale=2, min_width=260):
                language = gr.Radio(list(LANGUAGES), value="English", label=t("en", "language"))
                presenter = gr.Checkbox(False, label=t("en", "presenter"))
                arch = gr.Radio(
                    [(t("en", f"model_{a}"), a) for a in ARCHS], value=pool.first, label=t("en", "model")
                )
        banner = gr.Markdown(views.banner_markdown(first.weights, "en"), elem_classes=["gx-banner"])

        with gr.Row():
            with gr.Column(scale=1):
                photo = PhotoInput(
                    sources=["upload", "webcam", "clipboard"], type="filepath", label=t("en", "photo"), height=320
                )
                run_button = gr.Button(t("en", "analyze"), variant="primary")
            with gr.Column(scale=1):
                top5 = gr.Label(num_top_classes=5, label=t("en", "top5"))
                seen = gr.Image(label=t("en", "seen"), interactive=False, height=224, format="webp")
                status = gr.Markdown(t("en", "status_ready"))
        examples = gr.Examples(EXAMPLES, inputs=[photo], label=t("en", "examples"), examples_per_page=12)

        with gr.Tabs():
            with gr.Tab(t("en", "tab_branches"), id="branches") as tab_branches:
                branches_intro = gr.Markdown(t("en", "branches_intro"))
                with gr.Row():
                    module = gr.Radio(list(MODULES), value="4c", label=t("en", "module"), scale=3)
                    cmap = gr.Dropdown(SEQUENTIAL_CMAPS, value="viridis", label=t("en", "colormap"), scale=1)
                    opacity = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label=t("en", "opacity"), scale=1)
                overview_caption = gr.Markdown(t("en", "overview"))
                overview = gr.Image(show_label=False, interactive=False, format="png", buttons=["fullscreen"])
                with gr.Row(equal_height=True):
                    module_heading = gr.Markdown()
                    legend = gr.Image(show_label=False, interactive=False, format="png", scale=0, min_width=380,
                                      buttons=[])
                branch_caption = gr.Markdown(branch_caption_text("en"))
                titles, maps, grids = [], [], []
                with gr.Row():
                    for i in range(4):
                        with gr.Column(min_width=200):
                            titles.append(gr.Markdown())
                            maps.append(gr.Image(show_label=False, interactive=False, format="webp", height=224,
                                                buttons=["fullscreen"]))
                            grids.append(gr.Image(show_label=False, interactive=False, format="png", buttons=[]))
                stats = gr.HTML()
            with gr.Tab(t("en", "tab_aux"), id="aux") as tab_aux:
                aux_intro = gr.Markdown(t("en", "aux_intro"))
                aux_note = gr.Markdown()
                with gr.Row():
                    aux_panels = [gr.HTML() for _ in range(3)]
            with gr.Tab(t("en", "tab_arch"), id="architecture") as tab_arch:
                architecture = gr.Markdown(architecture_view(pool.first, "English"))
            with gr.Tab(t("en", "tab_attr"), id="attribution") as tab_attr:
                attr_intro = gr.Markdown(t("en", "attr_intro"))
                attr_shown = gr.State(None, time_to_live=3600)
                with gr.Row():
                    with gr.Column(scale=1):
                        attr_method = gr.Radio(views.method_choices("en"), value="gradcam", label=t("en", "attr_method"))
                        attr_target = gr.Dropdown([], label=t("en", "attr_target"), filterable=True)
                        attr_layer = gr.Dropdown(layer_names(), value="inception4d", label=t("en", "attr_layer"))
                        with gr.Accordion(t("en", "attr_settings"), open=False) as attr_settings:
                            ig_steps = gr.Slider(8, 128, value=32, step=8, label=t("en", "ig_steps"))
                            sg_samples = gr.Slider(4, 64, value=16, step=4, label=t("en", "sg_samples"))
                            sg_noise = gr.Slider(0.0, 0.5, value=0.15, step=0.05, label=t("en", "sg_noise"))
                            occ_window = gr.Slider(16, 112, value=48, step=8, label=t("en", "occ_window"))
                            occ_stride = gr.Slider(8, 56, value=24, step=4, label=t("en", "occ_stride"))
                        with gr.Row():
                            explain_button = gr.Button(t("en", "explain"), variant="primary")
                            compare_button = gr.Button(t("en", "compare"))
                    with gr.Column(scale=1):
                        attr_image = gr.Image(label=t("en", "attr_result"), interactive=False, format="webp", height=320)
                        attr_opacity = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label=t("en", "opacity"))
                        attr_legend = gr.Image(show_label=False, interactive=False, format="png", buttons=[])
                        attr_caption = gr.Markdown()
                attr_gallery = gr.Gallery(label=t("en", "attr_compare"), columns=6, format="webp", height="auto",
                                          object_fit="contain")
        footer = gr.Markdown(t("en", "footer"))

        # ---- events ----------------------------------------------------------------------------------------------
        module_inputs = [analysis_state, arch, module, cmap, opacity, presenter, language]
        module_outputs = [overview, legend, module_heading, stats, *titles, *maps, *grids]
        all_inputs = [photo, arch, language, module, cmap, opacity, presenter]
        all_outputs = [analysis_state, top5, seen, status, banner, *module_outputs, aux_note, *aux_panels, attr_target,
                       attr_shown, attr_image, attr_caption]
        settings_inputs = [ig_steps, sg_samples, sg_noise, occ_window, occ_stride]

        gr.on(
            [photo.change, run_button.click],
            run_all,
            all_inputs,
            all_outputs,
            api_name="analyze",
            concurrency_limit=2,
            concurrency_id="model",
        )
        arch.change(switch_model, [arch, loaded_arch], [arch, loaded_arch], api_name=False).then(
            run_all, all_inputs, all_outputs, api_name=False, concurrency_id="model"
        ).then(architecture_view, [arch, language], [architecture], api_name="architecture")
        gr.on(
            [module.change, cmap.change, opacity.release, presenter.change],
            module_views,
            module_inputs,
            module_outputs,
            api_name="module",
            concurrency_limit=8,
        )
        overview.select(pick_module, [arch, presenter], [module], api_name=False)
        presenter.change(None, [presenter], None, js=PRESENTER_JS)
        language.change(
            relabel,
            [language, arch],
            [title, subtitle, presenter, arch, photo, run_button, examples.dataset, top5, seen, tab_branches, tab_aux,
             tab_arch, tab_attr, branches_intro, overview_caption, branch_caption, module, cmap, opacity, aux_intro,
             attr_intro, footer, architecture, attr_method, attr_target, attr_layer, attr_settings, *settings_inputs, explain_button,
             compare_button, attr_image, attr_opacity, attr_gallery],
            api_name=False,
        ).then(module_views, module_inputs, module_outputs, api_name=False).then(
            aux_views, [analysis_state, language], [aux_note, *aux_panels], api_name=False
        ).then(summary_texts, [analysis_state, arch, language], [status, banner], api_name=False).then(
            target_update, [analysis_state, language], [attr_target], api_name=False
        )

        explain_button.click(
            explain,
            [analysis_state, arch, attr_method, attr_target, attr_layer, *settings_inputs, attr_opacity, cmap,
             presenter, language],
            [attr_shown, attr_image, attr_legend, attr_caption],
            api_name="explain",
            concurrency_id="model",
        )
        compare_button.click(
            compare,
            [analysis_state, arch, attr_target, attr_layer, *settings_inputs, attr_opacity, cmap, language],
            [attr_gallery],
            api_name="compare",
            concurrency_id="model",
        )
        gr.on(
            [attr_opacity.release, cmap.change],
            redraw_attribution,
            [analysis_state, attr_shown, attr_opacity, cmap, presenter, language],
            [attr_image, attr_legend],
            api_name=False,
        )
        attr_method.change(
            lambda m: gr.update(visible=m in ("gradcam", "guided_gradcam")), [attr_method], [attr_layer], api_name=False
        )
        demo.load(initial_language, None, [language], api_name=False)

        # API endpoints with no UI of their own (hidden triggers).
        predict_button = gr.Button(visible=False)
        predict_button.click(predict, [photo, arch, language], [top5], api_name="predict", concurrency_id="model")
        aux_button = gr.Button(visible=False)
        aux_button.click(aux_views, [analysis_state, language], [aux_note, *aux_panels], api_name="aux")
    return demo


def launch(pool: EnginePool, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    demo = build_app(pool)
    demo.queue(default_concurrency_limit=8)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=MAX_UPLOAD_BYTES,
        show_error=False,
        state_session_capacity=STATE_SESSIONS,
        css=CSS,
        footer_links=["api", "gradio"],
    )
