"""What renders draw from: a preprocess folder's sequence, a keypoint file's."""
from __future__ import annotations

import numpy as np
import pytest

from vp3d.facts.cameras import h36m_cameras, world_to_camera
from vp3d.facts.skeleton import kept_joints
from vp3d.pipeline.preprocess import preprocess
from vp3d.pipeline.sequences import Manifest
from vp3d.viz.inputs import prep_sequence


def test_prep_sequence_gives_back_the_dataset(prep_dir, tiny_dataset):
    manifest = Manifest.read(prep_dir)
    entry = manifest.entries[2]
    seq = prep_sequence(prep_dir, entry.name)
    with np.load(tiny_dataset / "data_3d_h36m.npz", allow_pickle=True) as z:
        world = z["positions_3d"].item()[entry.subject][entry.action][:, kept_joints()]
    with np.load(tiny_dataset / "data_2d_h36m_cpn_ft_h36m_dbb.npz", allow_pickle=True) as z:
        pixels = z["positions_2d"].item()[entry.subject][entry.action][entry.camera]
    cam = h36m_cameras()[entry.subject][entry.camera]
    np.testing.assert_allclose(seq.keypoints.points, pixels[:entry.frames], atol=1e-3)
    assert seq.keypoints.image_size == (cam.res_w, cam.res_h) and seq.keypoints.layout.name == "h36m"
    np.testing.assert_allclose(seq.ground_truth, world_to_camera(world, cam.orientation, cam.translation), atol=1e-5)
    # the world's up (z) in the camera frame: the ground truth's world z difference along it
    wz = world[:, 10, 2] - world[:, 0, 2]
    np.testing.assert_allclose((seq.ground_truth[:, 10] - seq.ground_truth[:, 0]) @ seq.up, wz, atol=1e-5)


@pytest.fixture(scope="module")
def prep_dir(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep")
    preprocess(tiny_dataset, out, ["S9"], filter_widths=(3, 3), lengths=[100])
    return out
