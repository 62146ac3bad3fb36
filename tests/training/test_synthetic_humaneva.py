"""vp3d.training.synthetic_humaneva and vp3d_synthesize.py --dataset humaneva15: synthetic HumanEva-I data in the
files upstream's prepare_data_humaneva.py writes."""
import numpy as np
import pytest
from one_line_errors import one_line_error

import vp3d_preprocess
import vp3d_synthesize
from vp3d.facts.cameras import humaneva_cameras, world_to_camera
from vp3d.facts.datasets import dataset, humaneva_takes
from vp3d.training import synthetic_humaneva as she

# upstream's data/data_utils.py (1afb1ca): the metadata its HumanEva files carry
UPSTREAM_METADATA = {
    "gt": {"layout_name": "humaneva15", "num_joints": 15, "keypoints_symmetry": [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]},
    "detectron_pt_coco": {"layout_name": "coco", "num_joints": 17,
                          "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]},
}


@pytest.fixture(scope="module")
def real():
    """Two split subjects at upstream's real take lengths, exact 2D."""
    return she.generate(["Validate/S3", "Train/S1"], lengths="real", seed=4, noise=False)


def test_chunks_tile_each_take_as_upstreams_converter_cuts_them(real):
    pos3d, pos2d = real
    takes = humaneva_takes()
    assert list(pos3d) == ["Validate/S3", "Train/S1"]
    assert not any(n.startswith("ThrowCatch") for n in pos3d["Validate/S3"])       # S3's is skipped, as upstream's
    for subject, chunks in pos3d.items():
        for take, (start, end) in takes[subject].items():
            if subject.endswith("S3") and take.startswith("ThrowCatch"):
                continue
            unlabelled = pos2d["detectron_pt_coco"].get(f"Unlabeled/{subject}", {})
            parts = {int(n.rsplit("chunk", 1)[1]): len(x) for n, x in chunks.items() if n.startswith(take + " chunk")}
            parts.update({int(n.rsplit("chunk", 1)[1]): len(v[0]) for n, v in unlabelled.items() if n.startswith(take)})
            assert sorted(parts) in ([0], [0, 1, 2]) and sum(parts.values()) == end - start, (subject, take)
            for n, x in chunks.items():
                assert x.dtype == np.float32 and x.shape[1:] == (15, 3)
                assert [len(v) for v in pos2d["gt"][subject][n]] == [len(x)] * 3      # exactly T frames, 3 cameras
                assert [v.shape[1:] for v in pos2d["detectron_pt_coco"][subject][n]] == [(17, 2)] * 3


def test_ground_truth_2d_is_the_pinhole_projection_of_the_3d(real):
    pos3d, pos2d = real
    x = pos3d["Train/S1"]["Box 1 chunk0"].astype(np.float64)
    views = pos2d["gt"]["Train/S1"]["Box 1 chunk0"]
    for cam, px in zip(humaneva_cameras()["Train/S1"], views, strict=True):
        c = world_to_camera(x, cam.orientation, cam.translation)
        by_hand = she.FOCAL_PX * c[..., :2] / c[..., 2:] + [320, 240]
        np.testing.assert_allclose(px, by_hand, atol=1e-3)
        assert (px > 0).all() and (px < [640, 480]).all()                         # the person stays in view


def test_the_body_is_rigid_and_human_sized(real):
    pos3d, _ = real
    parents = np.array(dataset("humaneva15").skeleton.parents)
    for x in pos3d["Validate/S3"].values():
        bones = np.linalg.norm(x[:, 1:] - x[:, parents[1:]], axis=-1)
        assert np.ptp(bones, axis=0).max() < 0.01                                # 60 fps in between 50 fps frames
        stature = np.median(bones, axis=0)[[0, 13, 8, 9]].sum()    # pelvis-thorax-head, hip-knee-ankle
        assert 1.4 < stature < 2.0


def test_cli_writes_upstreams_three_files_that_preprocess_reads(tmp_path, capsys):
    assert vp3d_synthesize.main(["-o", str(tmp_path / "he"), "--dataset", "humaneva15", "--subjects",
                                 "Validate/S1,Validate/S2", "--actions", "Walking 1,Box 1"]) == 0
    assert sorted(p.name for p in (tmp_path / "he").iterdir()) == [
        "data_2d_humaneva15_detectron_pt_coco.npz", "data_2d_humaneva15_gt.npz", "data_3d_humaneva15.npz"]
    for name, metadata in UPSTREAM_METADATA.items():
        with np.load(tmp_path / "he" / f"data_2d_humaneva15_{name}.npz", allow_pickle=True) as f:
            assert f["metadata"].item() == metadata
    assert "2 subjects" in capsys.readouterr().out
    assert vp3d_preprocess.main(["-d", str(tmp_path / "he"), "-ste", "Validate/S1,Validate/S2", "-arc", "3,3",
                                 "-s", str(tmp_path / "prep")]) == 0          # humaneva15 found, detectron_pt_coco


def test_cli_refuses_human36m_only_options(tmp_path, capsys):
    with pytest.raises(SystemExit):
        vp3d_synthesize.main(["-o", str(tmp_path / "x"), "--dataset", "humaneva15", "--layout", "coco"])
    assert "--dataset humaneva15 writes both of upstream's" in capsys.readouterr().err
    rc = vp3d_synthesize.main(["-o", str(tmp_path / "x"), "--dataset", "humaneva15", "--subjects", "Validate/S4"])
    one_line_error(capsys, rc, "unknown HumanEva-I subject 'Validate/S4'", "Validate/S3")
    assert not (tmp_path / "x").exists()
