"""Figures of evaluation results (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Vp3dError
from .evaluation import Results
from .fileio import atomic_path

FORMATS = ("png", "svg", "pdf")     # figure formats, named by the file's suffix


def plot_format(path: str | Path) -> str:
    """The figure format `path`'s suffix names ('png', 'svg' or 'pdf'); Vp3dError for any other."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise Vp3dError(f"{path}: cannot tell the figure format from the suffix "
                        f"{Path(path).suffix or '(none)'}; name a .png, .svg or .pdf file")
    return fmt


def plot_results(results: Results, path: str | Path, title: str = "VideoPose3D on Human3.6M") -> None:
    """A bar chart of per-action MPJPE and P-MPJPE (mm) with their action-wise averages, in the
    format `path`'s suffix names (PNG, SVG or PDF; see plot_format)."""
    fmt = plot_format(path)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results.actions)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 4.0), layout="constrained")
    for offset, key, label in ((-0.2, "mpjpe", "MPJPE"), (0.2, "p_mpjpe", "P-MPJPE")):
        ax.bar(x + offset, [results.actions[n][key] for n in names], width=0.4,
               label=f"{label} (average {results.average[key]:.1f} mm)")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("error (mm)")
    ax.set_ylim(0, 1.25 * max(results.actions[n]["mpjpe"] for n in names))   # room for the legend
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=2)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)
    plt.close(fig)
