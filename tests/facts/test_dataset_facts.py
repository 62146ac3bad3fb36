"""The datasets' facts: HumanEva-I as upstream carries it, beside Human3.6M, one value each."""
import numpy as np
import pytest

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig
from vp3d.facts.cameras import humaneva_cameras, world_to_camera
from vp3d.facts.datasets import dataset, dataset_with_joints, datasets, skeleton_of
from vp3d.facts.skeleton import keypoint_layouts, layout_with
from vp3d.pipeline.sequences import default_length

# upstream's common/humaneva_dataset.py and data/data_utils.py (humaneva15_metadata), 1afb1ca
UPSTREAM_PARENTS = [-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1]
UPSTREAM_LEFT, UPSTREAM_RIGHT = [2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]


def test_humaneva_skeleton_is_upstreams_and_its_names_say_its_sides():
    s = dataset("humaneva15").skeleton
    assert list(s.parents) == UPSTREAM_PARENTS
    assert (list(s.joints_left), list(s.joints_right)) == (UPSTREAM_LEFT, UPSTREAM_RIGHT)
    assert [j for j, n in enumerate(s.names) if n.startswith("L")] == UPSTREAM_LEFT
    assert [j for j, n in enumerate(s.names) if n.startswith("R")] == UPSTREAM_RIGHT
    # each limb hangs off the right parent: elbow <- shoulder <- thorax, knee <- hip <- pelvis, head <- thorax
    named = dict(zip(s.names, s.parents))
    assert s.names[named["LElbow"]] == "LShoulder" and s.names[named["LShoulder"]] == "Thorax"
    assert s.names[named["RKnee"]] == "RHip" and s.names[named["RHip"]] == "Pelvis" == s.names[named["Thorax"]]
    assert s.names[named["Head"]] == "Thorax"
    layout = keypoint_layouts()["humaneva15"]
    assert layout.symmetry.to_json() == [UPSTREAM_LEFT, UPSTREAM_RIGHT] and len(layout.names) == 15
    assert layout_with(layout.symmetry, 15) is layout


def test_humaneva_cameras_as_upstream_builds_them():
    cams = humaneva_cameras()
    prefixes = ["Train/", "Validate/", "Unlabeled/Train/", "Unlabeled/Validate/", "Unlabeled/"]
    assert set(cams) == {p + s for p in prefixes for s in ("S1", "S2", "S3")}       # S4: no extrinsics
    c1 = cams["Validate/S1"][0]
    assert [c.id for c in cams["Train/S2"]] == ["C1", "C2", "C3"] and (c1.res_w, c1.res_h) == (640, 480)
    np.testing.assert_allclose(c1.translation, [4.062227, 0.6632477, 1.528397], rtol=1e-6)   # mm -> m
    assert c1.focal_length is None                     # upstream carries no intrinsics for HumanEva
    for subject_cams in cams.values():
        for cam in subject_cams:
            assert np.isclose(np.linalg.norm(cam.orientation), 1, atol=1e-5)
            assert 3 < world_to_camera(np.zeros(3), cam.orientation, cam.translation)[2] < 5   # origin in view


def test_each_dataset_is_one_value():
    h36m, he = dataset("h36m"), dataset("humaneva15")
    assert (h36m.file_3d, he.file_2d("gt")) == ("data_3d_h36m.npz", "data_2d_humaneva15_gt.npz")
    assert (h36m.fps, he.fps) == (50, 60) and (h36m.mocap_joints, he.mocap_joints) == (32, 15)
    assert he.subjects_test == ("Validate/S1", "Validate/S2", "Validate/S3")
    assert he.longest_sequence == 1203 - 590              # Train/S1 'Walking 1', upstream's index
    assert (default_length("h36m"), default_length("humaneva15")) == (6115, 613 + 242)
    assert dataset_with_joints(15) is he and dataset_with_joints(17) is h36m and dataset_with_joints(16) is None
    with pytest.raises(Vp3dError, match="16 joints, expected a skeleton vp3d knows: 17 .Human3.6M., 15 .HumanEva-I."):
        skeleton_of(16, "poses")
    with pytest.raises(Vp3dError, match="unknown dataset 'humaneva20': expected one of h36m, humaneva15"):
        dataset("humaneva20")
    assert list(datasets()) == ["h36m", "humaneva15"]


def test_a_models_dataset_follows_its_output_joints():
    assert (ModelConfig().dataset, ModelConfig().fps) == ("h36m", 50)
    he = ModelConfig(num_joints_in=17, num_joints_out=15)       # upstream's detectron_pt_coco HumanEva model
    assert (he.dataset, he.fps) == ("humaneva15", 60)
    assert ModelConfig(num_joints_out=1).dataset is None          # a trajectory model
    assert ModelConfig.from_json({"filter_widths": [3], "num_joints_out": 15}).dataset == "humaneva15"
    assert ModelConfig.from_json(he.to_json()) == he
    with pytest.raises(ValueError, match="dataset 'h36m' does not fit 15 output joints"):
        ModelConfig(num_joints_out=15, dataset="h36m")
