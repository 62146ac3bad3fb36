"""What a dataset is, as one value: its files' names, frame rate, skeleton, cameras and default subjects.

Upstream's run.py names a dataset (`-d h36m`) and reads data/data_3d_<name>.npz and
data/data_2d_<name>_<keypoints>.npz; its Dataset classes carry the rest. Here each dataset is one
DatasetFacts entry in DATASETS: training and the stages read every dataset-specific fact from it, so a
second dataset is a second entry, not a second code path.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, h36m_cameras
from vp3d.facts.skeleton import Skeleton, h36m_facts, h36m_skeleton17, kept_joints


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset's facts. Joints are the model's (the kept mocap joints, in order)."""

    name: str                        # upstream's -d NAME: data_3d_<name>.npz, data_2d_<name>_<keypoints>.npz
    fps: float                       # frames per second of the mocap and the videos
    mocap_joints: int                # joints per frame in data_3d_<name>.npz
    kept_joints: tuple[int, ...]     # the mocap joints the model predicts, in order
    skeleton: Skeleton               # of the kept joints: parents (bone lengths), left/right (flips)
    calibration: Callable[[], dict[str, tuple[Camera, ...]]]   # subject -> its cameras, as the package carries them
    subjects_train: tuple[str, ...]  # upstream's defaults
    subjects_test: tuple[str, ...]
    keypoints: str                   # the default 2D detections' name

    @property
    def num_joints(self) -> int:
        return len(self.kept_joints)

    def path_3d(self, folder: str | Path) -> Path:
        return Path(folder) / f"data_3d_{self.name}.npz"

    def path_2d(self, folder: str | Path, keypoints: str) -> Path:
        return Path(folder) / f"data_2d_{self.name}_{keypoints}.npz"


@functools.lru_cache(maxsize=None)
def _h36m() -> DatasetFacts:
    facts = h36m_facts()
    return DatasetFacts(name="h36m", fps=float(facts["fps"]), mocap_joints=len(facts["skeleton32"]["parents"]),
                        kept_joints=tuple(kept_joints()), skeleton=h36m_skeleton17(), calibration=h36m_cameras,
                        subjects_train=tuple(facts["train_subjects"]), subjects_test=tuple(facts["test_subjects"]),
                        keypoints="cpn_ft_h36m_dbb")


DATASETS: dict[str, Callable[[], DatasetFacts]] = {"h36m": _h36m}


def dataset_facts(name: str) -> DatasetFacts:
    """The entry for upstream's dataset name `name`; Vp3dError naming the known ones otherwise."""
    if name not in DATASETS:
        raise Vp3dError(f"dataset '{name}': unknown (known: {', '.join(DATASETS)})")
    return DATASETS[name]()
