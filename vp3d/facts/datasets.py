"""The datasets vp3d reads, one value each: Human3.6M ('h36m') and HumanEva-I ('humaneva15'), by upstream's -d names.

A DatasetFacts holds what every stage needs to know of a dataset: its evaluated skeleton (joint names, parents,
left/right), the mocap layout its 3D file stores and which of those joints are evaluated, its cameras, frame
rate, train and test subjects, the 2D detections of the paper's table, the longest sequence (the default
fixed input length), and its files' names. Code that reads, prepares, scores or draws data takes one of these
values instead of asking which dataset it is.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from typing import Callable

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, h36m_cameras, humaneva_cameras
from vp3d.facts.skeleton import (DATA_DIR, Skeleton, h36m_facts, h36m_skeleton17, h36m_skeleton32, humaneva_facts,
                                 humaneva_skeleton15, kept_joints)

H36M_TEST_LENGTHS_FILE = DATA_DIR / "h36m_test_lengths.tsv"


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset's facts (see the module's docstring)."""

    name: str                          # upstream's -d: 'h36m', 'humaneva15'; the files' middle name
    title: str                         # 'Human3.6M', 'HumanEva-I'
    skeleton: Skeleton                 # the evaluated joints: names, parents, left/right symmetry
    mocap_joints: int                  # joints per frame in data_3d_<name>.npz
    kept_joints: tuple[int, ...]       # the skeleton's joints, as indices into the mocap layout
    fps: float                         # frames per second of its sequences
    keypoints: str                     # default -k: the 2D detections behind the paper's table
    subjects_train: tuple[str, ...]
    subjects_test: tuple[str, ...]
    longest_sequence: int              # frames of its longest evaluated sequence (the default fixed length's basis)
    cameras_of: Callable[[], dict[str, tuple[Camera, ...]]]   # () -> subject -> its cameras

    @property
    def file_3d(self) -> str:
        """'data_3d_h36m.npz': upstream's prepare_data script's 3D file."""
        return f"data_3d_{self.name}.npz"

    def file_2d(self, keypoints: str) -> str:
        """'data_2d_h36m_cpn_ft_h36m_dbb.npz': the 2D detections named `keypoints`."""
        return f"data_2d_{self.name}_{keypoints}.npz"

    @property
    def cameras(self) -> dict[str, tuple[Camera, ...]]:
        return self.cameras_of()

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints


@functools.lru_cache(maxsize=None)
def h36m_test_lengths() -> dict[str, dict[str, int]]:
    """The real Human3.6M test sequences: subject -> take name -> frames (50 fps), from the packaged tsv."""
    out: dict[str, dict[str, int]] = {}
    with open(H36M_TEST_LENGTHS_FILE, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["subject"], {})[row["action"]] = int(row["frames"])
    return out


def humaneva_takes() -> dict[str, dict[str, tuple[int, int]]]:
    """HumanEva-I's labelled takes: 'Train/S1' -> 'Walking 1' -> [start, end) video frames (upstream's index)."""
    return {s: {a: (int(r[0]), int(r[1])) for a, r in takes.items()} for s, takes in humaneva_facts()["takes"].items()}


@functools.lru_cache(maxsize=None)
def datasets() -> dict[str, DatasetFacts]:
    """Every dataset, by name."""
    h36m, humaneva = h36m_facts(), humaneva_facts()
    s15 = humaneva_skeleton15()
    return {
        "h36m": DatasetFacts(
            "h36m", "Human3.6M", h36m_skeleton17(), h36m_skeleton32().num_joints, tuple(kept_joints()),
            float(h36m["fps"]), "cpn_ft_h36m_dbb", tuple(h36m["train_subjects"]), tuple(h36m["test_subjects"]),
            max(n for takes in h36m_test_lengths().values() for n in takes.values()), h36m_cameras),
        "humaneva15": DatasetFacts(
            "humaneva15", "HumanEva-I", s15, s15.num_joints, tuple(range(s15.num_joints)),
            float(humaneva["fps"]), "detectron_pt_coco", tuple(humaneva["train_subjects"]),
            tuple(humaneva["test_subjects"]),
            max(end - start for takes in humaneva_takes().values() for start, end in takes.values()), humaneva_cameras),
    }


DEFAULT_DATASET = "h36m"


def dataset(name: str) -> DatasetFacts:
    """The dataset named `name` ('h36m', 'humaneva15'); Vp3dError naming the known ones otherwise."""
    known = datasets()
    if name not in known:
        raise Vp3dError(f"unknown dataset {name!r}: expected one of {', '.join(known)}")
    return known[name]


def dataset_with_joints(num_joints: int) -> DatasetFacts | None:
    """The dataset whose evaluated skeleton has `num_joints` joints (17: Human3.6M, 15: HumanEva-I), or None."""
    return next((d for d in datasets().values() if d.num_joints == num_joints), None)


def skeleton_of(num_joints: int, where: str = "poses") -> Skeleton:
    """The skeleton of (T, J, 3) poses: the dataset's with J joints; Vp3dError naming `where` for any other J."""
    found = dataset_with_joints(num_joints)
    if found is None:
        known = ", ".join(f"{d.num_joints} ({d.title})" for d in datasets().values())
        raise Vp3dError(f"{where}: {num_joints} joints, expected a skeleton vp3d knows: {known}")
    return found.skeleton
