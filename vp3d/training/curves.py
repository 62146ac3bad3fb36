"""--export-training-curves: the per-epoch errors as PNG, as upstream run.py draws them (matplotlib, [render]).

loss_3d.png (3D train, train in eval mode, valid), and semi-supervised loss_traj.png and loss_2d.png, from the
fourth epoch on (the first three are left out, as upstream does), rewritten after every epoch from the fourth.
"""
from __future__ import annotations

from pathlib import Path

FIRST = 3          # epochs left out at the start


def export_curves(history, folder: str | Path) -> list[Path]:
    """Draw `history` (EpochLog records) into `folder`; the files written (none before the fourth epoch)."""
    if len(history) <= FIRST or "3d_valid" not in history[-1].losses:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vp3d.io.files import atomic_path
    folder = Path(folder)
    shown = history[FIRST:]
    epochs = [h.epoch for h in shown]
    semi = "traj_valid" in shown[-1].losses
    value = lambda name: [h.losses.get(name, h.curves.get(name, float("nan"))) / (1000 if name[0] in "3t" else 1)
                          for h in shown]
    figures = [("loss_3d.png", "MPJPE (m)", [("3d_train", "--", "C0", "3d train"), ("3d_eval", "-", "C0", "3d train (eval)"),
                                              ("3d_valid", "-", "C1", "3d valid (eval)")])]
    if semi:
        figures += [("loss_traj.png", "Mean distance (m)", [("traj_train", "--", "C0", "traj. train"),
                                                            ("traj_eval", "-", "C0", "traj. train (eval)"),
                                                            ("traj_valid", "-", "C1", "traj. valid (eval)")]),
                    ("loss_2d.png", "MPJPE (2D)", [("2d_train_sup", "-", "C0", "2d train labeled (eval)"),
                                                   ("2d_train_unlabeled", "--", "C1", "2d train unlabeled"),
                                                   ("2d_train_unsup", "-", "C1", "2d train unlabeled (eval)"),
                                                   ("2d_valid", "-", "C2", "2d valid (eval)")])]
    written = []
    for name, ylabel, lines in figures:
        fig = plt.figure()
        for key, style, color, _ in lines:
            plt.plot(epochs, value(key), style, color=color)
        plt.legend([label for *_, label in lines])
        plt.ylabel(ylabel)
        plt.xlabel("Epoch")
        plt.xlim((FIRST, epochs[-1]))
        with atomic_path(folder / name) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(folder / name)
    return written
