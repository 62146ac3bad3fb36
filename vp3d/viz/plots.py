"""Figures of evaluation results (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError, needs_extra
from vp3d.pipeline.evaluation import Results
from vp3d.io.files import atomic_path

FORMATS = ("png", "svg", "pdf")     # figure formats, named by the file's suffix


def plot_format(path: str | Path) -> str:
    """The figure format `path`'s suffix names ('png', 'svg' or 'pdf'); Vp3dError for any other."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise Vp3dError(f"{path}: cannot tell the figure format from the suffix "
                        f"{Path(path).suffix or '(none)'}; name a .png, .svg or .pdf file")
    return fmt


PROTOCOLS = (("mpjpe", "Protocol #1: MPJPE"), ("p_mpjpe", "Protocol #2: P-MPJPE"),
             ("n_mpjpe", "Protocol #3: N-MPJPE"), ("mpjve", "MPJVE (velocity)"))


def title_of(results: Results) -> str:
    """'vp3d.onnx (onnxruntime, f32) on S9,S11 · cpn_ft_h36m_dbb', as far as the results know it."""
    return " on ".join(p for p in (results.model or "predictions", results.data) if p)


def plot_results(results: Results, path: str | Path, compare: Results | None = None) -> None:
    """Per-action errors (mm) of the four protocols, one panel each, with value labels and the
    action-wise average; `compare` draws a second run's bars beside (e.g. fp32 vs int8). The format is
    the one `path`'s suffix names (PNG, SVG or PDF; see plot_format)."""
    fmt = plot_format(path)
    try:
        import matplotlib
    except ImportError:
        raise needs_extra(f"{path}: plotting", "render", "matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results.actions)
    runs = [(results, title_of(results))] + ([(compare, title_of(compare))] if compare else [])
    if compare and (results.model, results.data) == (compare.model, compare.data):
        runs = [(results, "this run"), (compare, "compared run")]
    x = np.arange(len(names))
    width = 0.8 / len(runs)
    fig, axes = plt.subplots(2, 2, figsize=(max(8.0, 0.9 * len(names) * len(runs) + 3), 7.5), layout="constrained")
    for ax, (key, label) in zip(axes.flat, PROTOCOLS):
        for i, (run, run_label) in enumerate(runs):
            values = [run.actions[n][key] if n in run.actions else np.nan for n in names]
            bars = ax.bar(x + (i - (len(runs) - 1) / 2) * width, values, width=width,
                          label=f"{run_label}: {run.average[key]:.1f} mm" if len(runs) > 1 else None)
            ax.bar_label(bars, fmt="%.1f" if key != "mpjve" else "%.2f", fontsize=7, padding=1,
                         rotation=90 if len(names) * len(runs) > 12 else 0)
        ax.set_title(f"{label}, average {results.average[key]:.1f} mm" if len(runs) == 1 else label, fontsize=10)
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("mm")
        ax.margins(y=0.2)
        if len(runs) > 1:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title_of(results) if not compare else f"{runs[0][1]} vs {runs[1][1]}", fontsize=10)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110)
    plt.close(fig)
