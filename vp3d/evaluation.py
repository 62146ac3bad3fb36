"""Stage 4: predictions + ground truths -> per-action MPJPE, P-MPJPE, N-MPJPE, MPJVE (millimetres).

Follows upstream run.py's evaluation: each prediction is cropped to its sequence, un-flipped and
averaged with the direct prediction, the ground truth's root is zeroed, errors are averaged over a
sequence's frames, weighted by frames over an action's sequences, then averaged over actions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import read_array
from .metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe
from .sequences import GROUND_TRUTHS_DIR, Manifest, read_deltas, unflip_average

METRICS = {"mpjpe": mpjpe, "p_mpjpe": p_mpjpe, "n_mpjpe": n_mpjpe, "mpjve": mpjve}
_RESULT = re.compile(r"(?P<stem>.+)_0\.(?P<ext>bin|npy|txt)$")


def find_predictions(results_dir: str | Path, names: list[str]) -> dict[str, Path]:
    """name -> prediction file in an ais_bench-style output directory (NAME_0.bin|npy|txt).

    `results_dir` may also be the parent holding exactly one such timestamped directory; with
    several, the error lists them all and names the newest (latest modified).
    Missing and unexpected prediction files are errors.
    """
    d = Path(results_dir)
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such inference results directory")
    found = {m["stem"]: p for p in d.iterdir() if (m := _RESULT.match(p.name)) and p.is_file()}
    if not found:
        subdirs = [p for p in d.iterdir() if p.is_dir() and any(_RESULT.match(q.name) for q in p.iterdir())]
        if len(subdirs) == 1:
            return find_predictions(subdirs[0], names)
        if len(subdirs) > 1:
            newest = max(subdirs, key=lambda p: (p.stat().st_mtime, p.name))
            raise Vp3dError(f"{d}: holds {len(subdirs)} result directories "
                            f"({', '.join(sorted(p.name for p in subdirs))}); pass the one to score as "
                            f"--infer-results, e.g. the newest: {newest}")
    missing = [n for n in names if n not in found]
    if missing:
        raise Vp3dError(f"{d}: {len(missing)} predictions missing, e.g. '{missing[0]}_0.bin'")
    extra = sorted(set(found) - set(names))
    if extra:
        raise Vp3dError(f"{d}: prediction '{found[extra[0]].name}' has no input in the manifest")
    return {n: found[n] for n in names}


@dataclass
class Results:
    """Errors in millimetres per action group, and their action-wise averages."""

    actions: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> metric -> mm, + frames
    average: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"actions": self.actions, "average": self.average}


def evaluate(prep_dir: str | Path, results_dir: str | Path, progress=None) -> Results:
    """Score the predictions in `results_dir` against the ground truths of preprocess output `prep_dir`."""
    manifest = Manifest.read(prep_dir)
    deltas = read_deltas(prep_dir, manifest)
    files = find_predictions(results_dir, [e.name for e in manifest.entries])
    j = manifest.num_joints
    sums: dict[str, dict[str, float]] = {}
    entries = progress(manifest.entries) if progress else manifest.entries
    for e in entries:
        pred = read_array(files[e.name], (2, manifest.output_length, j, 3))
        pred = pred[:, :manifest.output_length - deltas[e.name]]
        pred = unflip_average(pred, manifest.joint_symmetry)
        gt = read_array(Path(prep_dir) / GROUND_TRUTHS_DIR / f"{e.name}.bin", (e.frames, j, 3)).copy()
        gt[:, 0] = 0
        acc = sums.setdefault(e.group, dict.fromkeys([*METRICS, "frames"], 0.0))
        for key, fn in METRICS.items():
            acc[key] += e.frames * fn(pred, gt)
        acc["frames"] += e.frames
    results = Results()
    for group, acc in sums.items():
        frames = acc.pop("frames")
        results.actions[group] = {k: v / frames * 1000 for k, v in acc.items()} | {"frames": int(frames)}
    results.average = {k: float(np.mean([a[k] for a in results.actions.values()])) for k in METRICS}
    return results
