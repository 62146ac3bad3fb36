"""Stage 4: predictions + ground truths -> per-action MPJPE, P-MPJPE, N-MPJPE, MPJVE (millimetres), per subject too.

Follows upstream run.py's evaluation: each prediction is cropped to its sequence, un-flipped and
averaged with the direct prediction, the ground truth's root is zeroed, errors are averaged over a
sequence's frames, weighted by frames over an action's sequences, then averaged over actions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import read_array, read_json
from vp3d.facts.architecture import causal_kind
from vp3d.io.datasets import Sequence, select_groups
from vp3d.facts.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe
from vp3d.pipeline.predict import Runner, predict_sequence
from vp3d.pipeline.sequences import GROUND_TRUTHS_DIR, Entry, Manifest, read_deltas, unflip_average
from vp3d.facts.skeleton import Symmetry

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
    """Errors in millimetres per action group, and their action-wise averages; per subject too where asked
    (upstream's --by-subject)."""

    actions: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> metric -> mm, + frames
    average: dict[str, float] = field(default_factory=dict)
    model: str = ""          # what made the predictions, e.g. 'vp3d.onnx (onnxruntime, f32)', where known
    data: str = ""           # what they were scored on, e.g. "S9,S11 · cpn_ft_h36m_dbb"
    subjects: dict[str, "Results"] = field(default_factory=dict)   # subject -> its own actions and average

    def to_json(self) -> dict:
        obj = {"actions": self.actions, "average": self.average, "model": self.model, "data": self.data}
        if self.subjects:
            obj["subjects"] = {name: {"actions": r.actions, "average": r.average} for name, r in self.subjects.items()}
        return obj

    @classmethod
    def read(cls, path: str | Path) -> "Results":
        """A results JSON that vp3d_postprocess.py --json wrote."""
        obj = read_json(path, "a results JSON written by vp3d_postprocess.py --json")

        def tables(o: dict) -> "Results":
            r = cls(dict(o["actions"]), dict(o["average"]))
            for row in r.actions.values():
                [float(row[k]) for k in METRICS]
            [float(r.average[k]) for k in METRICS]
            return r
        try:
            results = tables(obj)
            results.model, results.data = str(obj.get("model", "")), str(obj.get("data", ""))
            results.subjects = {str(name): tables(o) for name, o in dict(obj.get("subjects", {})).items()}
            return results
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise Vp3dError(f"{path}: not a results JSON of vp3d_postprocess.py ({type(e).__name__}: {e})") from None


class ActionErrors:
    """Upstream's averaging: errors per sequence (mean over its frames), weighted by frames within an
    action group, then averaged over groups; over every subject, or per subject (upstream's --by-subject).
    Add (prediction, ground truth) pairs, then results()."""

    def __init__(self, metrics: tuple[str, ...] = tuple(METRICS)):
        self.metrics = metrics
        self.sums: dict[tuple[str, str], dict[str, float]] = {}   # (subject, group) -> frame-weighted sums, frames

    def add(self, group: str, predicted: np.ndarray, ground_truth: np.ndarray, subject: str = "") -> None:
        """(T, J, 3) root-relative prediction and ground truth in metres; the truth's root is zeroed here."""
        gt = ground_truth.copy()
        gt[:, 0] = 0
        t = gt.shape[0]
        acc = self.sums.setdefault((subject, group), dict.fromkeys([*self.metrics, "frames"], 0.0))
        for key in self.metrics:
            acc[key] += t * METRICS[key](predicted, gt)
        acc["frames"] += t

    @property
    def subjects(self) -> list[str]:
        """The subjects added, in order of first appearance."""
        return list(dict.fromkeys(subject for subject, _ in self.sums))

    def results(self, subject: str | None = None) -> Results:
        """Per action group over every subject's sequences, or (subject given) over that subject's only."""
        totals: dict[str, dict[str, float]] = {}
        for (s, group), acc in self.sums.items():
            if subject is None or s == subject:
                total = totals.setdefault(group, dict.fromkeys(acc, 0.0))
                for key, value in acc.items():
                    total[key] += value
        results = Results()
        for group, acc in totals.items():
            frames = acc["frames"]
            results.actions[group] = {k: acc[k] / frames * 1000 for k in self.metrics} | {"frames": int(frames)}
        results.average = {k: float(np.mean([a[k] for a in results.actions.values()])) for k in self.metrics}
        return results


def check_summary(prep_dir: str | Path, results_dir: Path, manifest: Manifest) -> dict:
    """Where vp3d_infer.py left its summary beside the results, refuse a model that does not fit the
    inputs (receptive field, causality, the dataset's joints), naming both sides; return the summary ({} where
    there is none: ais_bench's summaries hold no facts)."""
    path = results_dir.parent / f"{results_dir.name}_summary.json"
    if not path.is_file():
        return {}
    summary = read_json(path, "vp3d_infer.py's summary")
    rf, causal = summary.get("receptive_field"), summary.get("causal")
    model = summary.get("model", "the model")
    if rf is not None and rf != manifest.receptive_field:
        raise Vp3dError(f"{results_dir}: predictions of {model} (receptive field {rf}), but the inputs in {prep_dir} "
                        f"were prepared for receptive field {manifest.receptive_field}")
    if causal is not None and causal != manifest.causal:
        raise Vp3dError(f"{results_dir}: predictions of {causal_kind(causal)} model ({model}), but the inputs in "
                        f"{prep_dir} were prepared for {causal_kind(manifest.causal)} one")
    joints = (summary.get("model_args") or {}).get("num_joints_out")
    if joints is not None and joints != manifest.num_joints:
        raise Vp3dError(f"{results_dir}: predictions of {model} ({joints} joints), but the inputs in {prep_dir} are "
                        f"{manifest.dataset}'s, {manifest.num_joints} joints")
    return summary


def read_prediction(path: Path, manifest: Manifest, entry: Entry, prep_dir: str | Path) -> np.ndarray:
    """(2, L - RF + 1, J, 3) metres for `entry`; a size that does not fit says which receptive field
    would explain it; non-finite values name the sequence and frame."""
    shape = (2, manifest.output_length(entry), manifest.num_joints, 3)      # J: the dataset's joints
    try:
        pred = read_array(path, shape)
    except Vp3dError:
        frames = path.stat().st_size // (4 * 2 * manifest.num_joints * 3) if path.suffix == ".bin" else None
        if frames and path.stat().st_size == frames * 4 * 2 * manifest.num_joints * 3:
            rf = entry.length - frames + 1
            raise Vp3dError(f"{path}: holds 2x{frames}x{manifest.num_joints}x3 predictions, but an input of "
                            f"{entry.length} frames gives 2x{shape[1]}x{manifest.num_joints}x3 with the receptive field "
                            f"{manifest.receptive_field} the inputs in {prep_dir} were prepared for: the model's "
                            f"receptive field is {rf} — re-run vp3d_preprocess.py with the model's -arc") from None
        raise
    bad = ~np.isfinite(pred)
    if bad.any():
        frame = int(np.argwhere(bad)[0, 1])
        raise Vp3dError(f"{path}: non-finite prediction for {entry.subject} '{entry.action}' camera {entry.camera}, "
                        f"first at frame {frame}")
    return pred


def evaluate(prep_dir: str | Path, results_dir: str | Path, progress=None,
             predictions: dict[str, np.ndarray] | None = None, actions: list[str] | None = None,
             by_subject: bool = False) -> Results:
    """Score the predictions in `results_dir` against the ground truths of preprocess output `prep_dir`.
    `actions`: upstream's -a, prefixes of the action groups scored (None: every one prepared); `by_subject`:
    each subject's tables too (Results.subjects, upstream's --by-subject). `predictions`, when given, receives
    the evaluated poses: name -> (T, J, 3) metres, camera frame, root-relative (un-flipped and averaged):
    exactly the arrays the metrics were computed on."""
    manifest = Manifest.read(prep_dir)
    read_deltas(prep_dir, manifest)                       # checked: the Ascend recipe's file must agree
    files = find_predictions(results_dir, [e.name for e in manifest.entries])
    summary = check_summary(prep_dir, next(iter(files.values())).parent, manifest)
    groups = select_groups(list(dict.fromkeys(e.group for e in manifest.entries)), actions, str(prep_dir))
    errors = ActionErrors()
    kept = [e for e in manifest.entries if e.group in groups]
    for e in progress(kept) if progress else kept:
        pred = read_prediction(files[e.name], manifest, e, prep_dir)[:, :e.frames]
        pred = unflip_average(pred, manifest.joint_symmetry)
        gt = read_array(Path(prep_dir) / GROUND_TRUTHS_DIR / f"{e.name}.bin", (e.frames, manifest.num_joints, 3))
        errors.add(e.group, pred, gt, e.subject)
        if predictions is not None:
            predictions[e.name] = pred
    results = errors.results()
    if by_subject:
        results.subjects = {s: errors.results(s) for s in manifest.subjects if s in errors.subjects}
    models = summary.get("model") or []
    names = ", ".join(Path(str(m)).name for m in (models if isinstance(models, list) else [models]))
    results.model = f"{names} ({summary.get('backend')}, {summary.get('precision', 'f32')})" if names else ""
    results.data = f"{','.join(manifest.subjects)} · {manifest.keypoints}"
    return results


def evaluate_model(run: Runner, sequences: list[Sequence], receptive_field: int, causal: bool,
                   keypoint_symmetry: Symmetry, joint_symmetry: Symmetry,
                   metrics: tuple[str, ...] = tuple(METRICS)) -> Results:
    """Score a model (`run`, see predict.py) on whole prepared sequences, as the four stages would; each subject's
    tables too (Results.subjects)."""
    errors = ActionErrors(metrics)
    for seq in sequences:
        pred = predict_sequence(run, seq.poses_2d, receptive_field, causal, keypoint_symmetry, joint_symmetry)
        errors.add(seq.group, pred, seq.poses_3d, seq.subject)
    results = errors.results()
    results.subjects = {s: errors.results(s) for s in errors.subjects}
    return results


def report(results: Results, overall: bool = True) -> str:
    """The tables as the scripts print them: per action, frames and the four protocols (mm, 0.01), then the
    action-wise averages as upstream's run.py rounds them. With per-subject results each subject's first, headed
    as upstream's run.py --by-subject heads them, then (overall) those over every subject."""
    blocks = [f"Evaluating on subject {subject}\n{_table(r)}\n" for subject, r in results.subjects.items()]
    title = "==== Validation Results (all subjects) ====" if results.subjects else "==== Validation Results ===="
    return "\n".join(blocks + ([_table(results, title)] if overall else []))


def _table(results: Results, title: str | None = None) -> str:
    lines = [f"{'Action':<14}{'frames':>8}{'MPJPE':>10}{'P-MPJPE':>10}{'N-MPJPE':>10}{'MPJVE':>10}   (mm)"]
    for name, r in results.actions.items():
        lines.append(f"{name:<14}{r['frames']:>8}{r['mpjpe']:>10.2f}{r['p_mpjpe']:>10.2f}"
                     f"{r['n_mpjpe']:>10.2f}{r['mpjve']:>10.2f}")
    a = results.average
    lines += ["", title] if title else []
    lines += [f"Protocol #1 (MPJPE) action-wise average: {a['mpjpe']:.1f} mm",
              f"Protocol #2 (P-MPJPE) action-wise average: {a['p_mpjpe']:.1f} mm",
              f"Protocol #3 (N-MPJPE) action-wise average: {a['n_mpjpe']:.1f} mm",
              f"Velocity (MPJVE) action-wise average: {a['mpjve']:.2f} mm"]
    return "\n".join(lines)
