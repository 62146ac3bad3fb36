"""Keypoint file readers: each format read back to the same sequence; gaps, people, tracks, refusals."""
import json

import numpy as np
import pytest
from keypoint_writers import (
    COCO_SYMMETRY,
    fill_gaps_by_hand,
    video_keypoints,
    write_coco_json,
    write_custom_npz,
    write_keypoints_csv,
    write_mmpose_json,
)

from vp3d.errors import Vp3dError
from vp3d.io.keypoints import FORMATS, interpolate_missing, read_keypoints

W, H = 1280, 720
MISSING = [30, 31, 32, 60]


@pytest.fixture()
def video():
    return video_keypoints(90, W, H, seed=1)


def test_every_format_reads_the_same_video(tmp_path, video):
    others = {t: video[t] + 200 for t in (5, 29, 61)}          # a second, lower-scored person
    expected = fill_gaps_by_hand(video, MISSING)
    files = {
        "npz": write_custom_npz(tmp_path / "data_2d_custom_x.npz", {"clip": (expected, W, H)}),
        "mmpose": write_mmpose_json(tmp_path / "clip.json", video, MISSING, others),
        "mmpose-bare": write_mmpose_json(tmp_path / "bare.json", video, MISSING, others, bare=True),
        "coco": write_coco_json(tmp_path / "coco.json", video, MISSING, others),
        "csv-names": write_keypoints_csv(tmp_path / "names.csv", video, MISSING),
        "csv-index": write_keypoints_csv(tmp_path / "index.csv", video, MISSING, by_name=False, score=False),
    }
    for kind, path in files.items():
        seq, = read_keypoints(path)
        np.testing.assert_allclose(seq.keypoints, expected, atol=1e-3, err_msg=kind)
        assert seq.keypoints.dtype == np.float32 and seq.frames == 90, kind
        assert seq.filled == (0 if kind == "npz" else len(MISSING)), kind
    npz, = read_keypoints(files["npz"])
    assert (npz.name, npz.image_size, npz.layout, npz.symmetry.to_json()) == ("clip", (W, H), "coco", COCO_SYMMETRY)
    assert read_keypoints(files["mmpose"])[0].name == "clip" and read_keypoints(files["mmpose"])[0].image_size is None
    assert read_keypoints(files["csv-names"])[0].layout == "coco"
    assert read_keypoints(files["csv-index"])[0].layout is None


def test_interpolation_is_linear_per_coordinate_and_constant_at_the_ends():
    values = np.array([[0.0, 10], [np.nan, np.nan], [np.nan, np.nan], [3, 40], [np.nan, np.nan]])
    present = ~np.isnan(values[:, 0])
    got = interpolate_missing(values, present)
    np.testing.assert_allclose(got, [[0, 10], [1, 20], [2, 30], [3, 40], [3, 40]])


def test_mmpose_frames_listed_empty_at_the_ends_are_edge_filled(tmp_path, video):
    path = write_mmpose_json(tmp_path / "v.json", video[:20], missing=[0, 1, 19], first_frame=1)
    seq, = read_keypoints(path)
    assert seq.frames == 20 and seq.filled == 3 and seq.first_frame == 1
    np.testing.assert_array_equal(seq.keypoints[0], video[2])
    np.testing.assert_array_equal(seq.keypoints[1], video[2])
    np.testing.assert_array_equal(seq.keypoints[19], video[18])


def test_track_ids_give_one_sequence_per_track(tmp_path, video):
    a, b = video[:40], video[10:60] + 50
    info = []
    for t in range(60):
        inst = []
        if t < 40:
            inst.append({"keypoints": a[t].tolist(), "keypoint_scores": [1.0] * 17, "bbox_score": 0.5, "track_id": 7})
        if t >= 10 and t != 25:      # track 3 appears at frame 10, is missed at 25
            inst.append({"keypoints": b[t - 10].tolist(), "keypoint_scores": [1.0] * 17, "bbox_score": 0.9,
                         "track_id": 3})
        info.append({"frame_id": t, "instances": inst})
    (tmp_path / "people.json").write_text(json.dumps({"meta_info": {}, "instance_info": info}))
    seqs = {s.name: s for s in read_keypoints(tmp_path / "people.json")}
    assert sorted(seqs) == ["people_track3", "people_track7"]
    np.testing.assert_array_equal(seqs["people_track7"].keypoints, a)
    t3 = seqs["people_track3"]
    assert (t3.first_frame, t3.frames, t3.filled) == (10, 50, 1)
    np.testing.assert_allclose(t3.keypoints, fill_gaps_by_hand(b, [15]), atol=1e-4)
    csv_path = write_keypoints_csv(tmp_path / "t.csv", None, tracks={"A": a[:5], "B": b[:7]})
    seqs = {s.name: s for s in read_keypoints(csv_path)}
    assert sorted(seqs) == ["t_trackA", "t_trackB"] and seqs["t_trackB"].frames == 7


def test_formats_table_covers_every_suffix_once_per_format():
    assert {f.name for f in FORMATS} == {"upstream-npz", "arrays-npz", "mmpose-json", "coco-json", "csv",
                                         "detectron-npz", "openpose-json", "openpose-frame", "alphapose-json"}
    assert {f.suffix for f in FORMATS} == {".npz", ".json", ".csv", "/"}
    assert {f.name: f.layout for f in FORMATS if f.name in ("detectron-npz", "openpose-json", "alphapose-json")} \
        == dict.fromkeys(("detectron-npz", "openpose-json", "alphapose-json"), "coco")


@pytest.mark.parametrize("name,content,fragment", [
    ("a.json", '{"foo": 1}', "expected MMPose predictions"),
    ("b.json", "[1, 2", "not valid JSON"),
    ("c.json", '[{"image_id": 1, "keypoints": [1, 2, 2, 3], "score": 1}]', "x, y, v triples"),
    ("d.json", '{"instance_info": [{"frame_id": 0, "instances": [{"keypoints": [[1, NaN]]}]}]}', r"not valid JSON \(a non-finite number \(NaN or Infinity is not JSON\) at line 1 column 69"),
    ("e.json", '{"instance_info": [{"frame_id": 0, "instances": [{"kp": 1}]}]}', "'keypoints'"),
    ("f.json", '{"instance_info": [{"frame_id": 0, "instances": []}]}', "no detections"),
    ("g.csv", "frame,x,y\n0,1,2\n", "lacks joint"),
    ("h.csv", "frame,joint,x,y\n0,nose,1,2\n0,nose,1,2\n", "lists joint 0 twice"),
    ("i.csv", "frame,joint,x,y\n0,0,1,2\n0,2,1,2\n", "lacks joint 1"),
    ("j.csv", "frame,joint,x,y\n0,elbow,1,2\n", "neither indices nor the keypoint names"),
    ("k.csv", "frame,joint,x,y\nzero,0,1,2\n", "frame must be an integer"),
    ("l.txt", "", "unknown keypoint file type .txt"),
    ("m.npz", "not a zip", r"not a readable .npz \(zip\) file"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, name, content, fragment):
    (tmp_path / name).write_text(content)
    with pytest.raises(Vp3dError, match=fragment) as e:
        read_keypoints(tmp_path / name)
    assert str(e.value).startswith(str(tmp_path / name)) and "\n" not in str(e.value)


def test_npz_of_plain_arrays_fills_non_finite_frames(tmp_path, video):
    """np.savez(path, name=(T, J, 2) pixels): one sequence per array, full length, NaN frames filled."""
    holes = video.copy()
    for t in MISSING:
        holes[t, t % 17, 0] = np.nan          # one bad coordinate makes the whole frame a missed detection
    np.savez(tmp_path / "mine.npz", clip=holes, other=video[:10])
    seqs = {s.name: s for s in read_keypoints(tmp_path / "mine.npz")}
    assert sorted(seqs) == ["clip", "other"]
    clip = seqs["clip"]
    assert clip.frames == len(video) and clip.filled == len(MISSING) and clip.image_size is None
    np.testing.assert_allclose(clip.keypoints, fill_gaps_by_hand(video, MISSING), atol=1e-3)
    np.testing.assert_array_equal(seqs["other"].keypoints, video[:10])
    np.savez(tmp_path / "flat.npz", clip=video.reshape(len(video), -1))
    with pytest.raises(Vp3dError, match=r"flat.npz: 'clip' has shape \(90, 34\), expected \(T, J, 2\)"):
        read_keypoints(tmp_path / "flat.npz")
    np.savez(tmp_path / "none.npz", clip=np.full((4, 17, 2), np.nan))
    with pytest.raises(Vp3dError, match="none.npz: 'clip' has no frame with finite keypoints"):
        read_keypoints(tmp_path / "none.npz")


def test_npz_with_non_finite_keypoints_or_no_size_is_refused(tmp_path, video):
    bad = video.copy()
    bad[12, 3, 1] = np.inf
    write_custom_npz(tmp_path / "a.npz", {"clip": (bad, W, H)})
    with pytest.raises(Vp3dError, match="a.npz: non-finite keypoint coordinates at frame 12"):
        read_keypoints(tmp_path / "a.npz")
    np.savez_compressed(tmp_path / "b.npz", positions_2d={"clip": {"custom": [video]}},
                        metadata={"layout_name": "coco", "keypoints_symmetry": COCO_SYMMETRY, "video_metadata": {}})
    with pytest.raises(Vp3dError, match="b.npz: metadata\\['video_metadata'\\] has no"):
        read_keypoints(tmp_path / "b.npz")
