"""A plain-data (JSON-ready) summary of an analysis, for the command line and the API."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .analysis import Analysis, Prediction


def _predictions(preds: tuple[Prediction, ...]) -> list[dict[str, Any]]:
    return [{"index": p.index, "label": p.label, "probability": round(p.probability, 6)} for p in preds]


def summarize_analysis(analysis: Analysis, device: str = "") -> dict[str, Any]:
    return {
        "weights": asdict(analysis.weights),
        "device": device,
        "top5": _predictions(analysis.top5),
        "modules": {
            m.name: {
                b.role: {
                    "share": round(b.share, 4),
                    "mean": float(f"{b.mean:.4g}"),
                    "active_fraction": round(b.active_fraction, 4),
                    "channels": int(b.activation.shape[0]),
                }
                for b in m.branches
            }
            for m in analysis.modules
        },
        "aux": [
            {
                "name": a.name,
                "after": a.after,
                "trained": a.trained,
                "note": a.note,
                # Untrained heads produce noise, not predictions: the key says so.
                ("top5" if a.trained else "top5_untrained_noise"): _predictions(a.top5),
            }
            for a in analysis.aux
        ],
        "timings_ms": {k: round(v, 2) for k, v in analysis.timings_ms.items()},
    }
