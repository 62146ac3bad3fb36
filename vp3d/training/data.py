"""The sequences training sees, chosen and ordered as upstream run.py's fetch() chooses and orders them.

Training (labeled) subjects with 3D, test subjects (3D, for the per-epoch errors and the final table) and
unlabeled subjects (2D and cameras only: semi-supervised training), each a list of io.datasets.Sequence in
upstream's order: subjects as given, actions in the 2D file's order (those starting with one of the
--actions prefixes), cameras in order. --subset keeps a fraction of every training sequence, at a start
drawn from a hash of its length (upstream's deterministic_random); --downsample keeps every n-th frame.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vp3d.errors import Vp3dError
from vp3d.facts.datasets import DEFAULT_DATASET, DatasetFacts, dataset
from vp3d.facts.skeleton import Symmetry
from vp3d.io.datasets import Dataset, Sequence, check_subject, downsampled, load_dataset, prepare_take


@dataclass
class TrainingData:
    """What training reads: prepared sequences (2D normalised, 3D camera frame metres, intrinsics)."""

    facts: DatasetFacts
    train: list[Sequence]          # labeled
    test: list[Sequence]           # validation: the per-epoch 3d_valid and the final table
    unlabeled: list[Sequence]      # semi-supervised: poses_3d None
    keypoint_symmetry: Symmetry    # of the 2D inputs

    @property
    def joint_symmetry(self) -> Symmetry:
        """Of the 3D targets."""
        return self.facts.skeleton.symmetry

    @property
    def symmetry(self) -> tuple[Symmetry, Symmetry]:
        return self.keypoint_symmetry, self.joint_symmetry

    @property
    def semi_supervised(self) -> bool:
        return bool(self.unlabeled)


def deterministic_random(low: int, high: int, text: str) -> int:
    """An integer in [low, high) from the sha256 of `text`: upstream's common/utils.deterministic_random."""
    raw = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], byteorder="little", signed=False)
    return int(raw / (2 ** 32 - 1) * (high - low)) + low


def fetch(data: Dataset, subjects: list[str], actions: list[str] | None = None, subset: float = 1,
          downsample: int = 1, labeled: bool = True) -> list[Sequence]:
    """Upstream's fetch(): the sequences of `subjects` whose action starts with one of `actions` (None: all),
    a `subset` of each (< 1: a window of round(frames // downsample * subset) * downsample frames), every
    `downsample`-th frame. Unlabeled (labeled=False) subjects need only 2D keypoints and cameras."""
    out = []
    for subject in subjects:
        check_subject(subject, data.positions_3d if labeled else None, data.cameras, data.facts, data.path_3d)
        if subject not in data.positions_2d:
            raise Vp3dError(f"{data.path_2d}: subject {subject} is not in the 2D keypoints "
                            f"(has {', '.join(data.positions_2d)})")
        if labeled:
            missing = [a for a in data.positions_3d[subject] if a not in data.positions_2d[subject]]
            if missing:
                raise Vp3dError(f"{data.path_2d}: {subject} '{missing[0]}' is in the 3D data but not in the 2D keypoints")
        for action, kps_cams in data.positions_2d[subject].items():
            if actions is not None and not any(action.startswith(a) for a in actions):
                continue
            world = data.positions_3d.get(subject, {}).get(action)
            if labeled and world is None:
                raise Vp3dError(f"{data.path_3d}: {subject} '{action}' is in the 2D keypoints but not in the 3D data")
            for seq in prepare_take(subject, action, world, kps_cams, data.cameras[subject],
                                    list(data.facts.kept_joints), data.path_2d):
                if not labeled:
                    seq.poses_3d = None
                out.append(_subset(seq, subset, downsample))
    return out


def _subset(seq: Sequence, subset: float, downsample: int) -> Sequence:
    frames = seq.poses_2d.shape[0]
    if subset < 1:
        n = int(round(frames // downsample * subset) * downsample)
        start = deterministic_random(0, frames - n + 1, str(frames))
        return downsampled(seq, downsample, start, start + n)
    return downsampled(seq, downsample) if downsample > 1 else seq


def load_training_data(folder: str | Path, facts: DatasetFacts | None = None, keypoints: str | None = None,
                       subjects_train: list[str] | None = None, subjects_test: list[str] | None = None,
                       subjects_unlabeled: list[str] = (), actions: list[str] | None = None, subset: float = 1,
                       downsample: int = 1) -> TrainingData:
    """Read the dataset in `folder` (facts: default Human3.6M) and fetch the three subject lists as run.py does
    (defaults: the dataset's training and test subjects, none unlabeled; validation is never subset)."""
    facts = facts or dataset(DEFAULT_DATASET)
    if not 0 < subset <= 1:
        raise Vp3dError(f"subset must be in (0, 1], got {subset}")
    data = load_dataset(folder, keypoints, facts.name)
    train = fetch(data, subjects_train or list(facts.subjects_train), actions, subset, downsample)
    if not train:
        raise Vp3dError(f"{data.path_2d}: no sequences for the training subjects "
                        f"{','.join(subjects_train or facts.subjects_train)}"
                        + (f" and actions {','.join(actions)}" if actions else ""))
    test = fetch(data, list(facts.subjects_test) if subjects_test is None else subjects_test, actions,
                 downsample=downsample)
    unlabeled = fetch(data, list(subjects_unlabeled), actions, downsample=downsample, labeled=False)
    blind = next((seq for seq in train + unlabeled if seq.intrinsics is None), None) if subjects_unlabeled else None
    if blind is not None:     # upstream's run.py: "Semi-supervised training is not implemented for this dataset"
        raise Vp3dError(f"{data.path_3d}: semi-supervised training projects through the cameras' intrinsics, and "
                        f"{blind.subject}'s have none ({facts.title}'s, as upstream carries them): train without -sun")
    if subjects_unlabeled and not unlabeled:
        raise Vp3dError(f"{data.path_2d}: no sequences for the unlabeled subjects {','.join(subjects_unlabeled)}")
    return TrainingData(facts, train, test, unlabeled, data.keypoint_symmetry)
