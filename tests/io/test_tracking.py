"""Detectors' own outputs (Detectron2 via upstream's infer_video_d2.py, OpenPose, AlphaPose), every person in the
frame (--people all: tracking), --min-score and --min-frames, first frames in every pose format."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vp3d
import vp3d_lift
from vp3d import corpus
from vp3d.errors import Vp3dError
from vp3d.io.formats import read_poses
from vp3d.io.keypoints import read_keypoints, read_sequences
from vp3d.io.poses import Poses, read_poses_npz, write_poses_csv, write_poses_json, write_poses_npz
from vp3d.model import checkpoint

from random_models import random_model
from repo_paths import SHARED
from keypoint_writers import (OPENPOSE_BODY_25, OPENPOSE_COCO_18, fill_gaps_by_hand, openpose_person,
                              people_scene, video_keypoints, write_alphapose_json, write_coco_json, write_coco_people,
                              write_detectron_npz, write_mmpose_people, write_openpose_folder)

W, H = 1280, 720
REAL2D = SHARED / "reference" / "real2d"
REAL = {"nick_30fps": (515, (640, 480), 0), "lia_kim_0_30fps": (303, (1920, 1080), 84),
        "happy2_30fps": (295, (640, 480), 0), "happy2_10fps": (99, (640, 480), 0)}   # frames, size, empty (README)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("people_model") / "pos.bin"
    checkpoint.save(path, random_model((3, 3, 3), 32, seed=7))
    return path


def detectron_video(frames=60, empty=(0, 1, 20, 21, 59), seed=0):
    """Per frame None or (boxes, keypoints, probabilities) with 1-3 people, the best not listed first; and what
    upstream's prepare_data_2d_custom.py makes of it, by hand: the best box's keypoints, gaps filled."""
    rng = np.random.default_rng(seed)
    person = video_keypoints(frames, W, H, seed=seed)
    dets, best = [], person.copy()
    for t in range(frames):
        if t in empty:
            dets.append(None)
            continue
        n = 1 + t % 3
        kps = np.stack([person[t]] + [person[t] + rng.uniform(-300, 300, 2) for _ in range(n - 1)])
        scores = np.concatenate([[0.95], rng.uniform(0.7, 0.9, n - 1)])
        order = np.roll(np.arange(n), t % n)                           # the best one anywhere in the list
        boxes = np.column_stack([kps.min(1), kps.max(1), scores])[order]
        dets.append((boxes, kps[order], rng.uniform(0, 5, (n, 17))))
    return dets, fill_gaps_by_hand(best, list(empty))


def test_detectron_npz_is_read_as_upstream_prepares_it(tmp_path, model):
    dets, expected = detectron_video()
    path = write_detectron_npz(tmp_path / "clip.mp4.npz", dets, W, H)
    seq, = read_keypoints(path)
    assert (seq.name, seq.frames, seq.first_frame, seq.filled, seq.image_size, seq.layout) == \
        ("clip.mp4", 60, 0, 5, (W, H), "coco")
    np.testing.assert_array_equal(seq.keypoints, expected)
    out = tmp_path / "out.npz"
    assert vp3d_lift.main([str(tmp_path), "-m", str(model), "-o", str(out)]) == 0     # a folder of such files
    theirs = vp3d.load_model(model).lift(expected, (W, H))
    np.testing.assert_allclose(read_poses_npz(out)["clip.mp4"], theirs, atol=1e-5, rtol=0)


@pytest.mark.skipif(not (REAL2D / "nick_30fps.mp4.npz").is_file(), reason="needs ../shared/reference/real2d")
def test_real_detectron_files_line_up_with_upstreams_predictions():
    for video, (frames, size, empty) in REAL.items():
        seq, = read_keypoints(REAL2D / f"{video}.mp4.npz")
        predicted = np.load(REAL2D / f"{video}.npy")
        assert (seq.name, seq.frames, seq.image_size, seq.filled) == (f"{video}.mp4", frames, size, empty)
        assert predicted.shape == (seq.frames, 17, 3)
    people, dropped = read_sequences(REAL2D / "nick_30fps.mp4.npz", people="all")    # the default: no fragments
    assert [(p.name, p.first_frame, p.frames, p.filled) for p in people] == [("nick_30fps.mp4_person1", 0, 515, 0)]
    # the half-seen second person at the right edge (17 detections in frames 143-510, keypoint scores about
    # 0.02): fragments detected in at most 9 frames, whichever way they are linked
    assert sum(p.detected_frames for p in dropped) == 17 and max(p.detected_frames for p in dropped) <= 9
    assert [p.name for p in read_keypoints(REAL2D / "nick_30fps.mp4.npz", "all", min_frames=1)] == \
        ["nick_30fps.mp4_person1"] + [p.name for p in dropped]                   # names do not depend on it


@pytest.mark.skipif(not os.environ.get("VP3D_UPSTREAM"), reason="set VP3D_UPSTREAM to an upstream checkout at 1afb1ca")
def test_detectron_npz_matches_upstreams_prepare_data_2d_custom_and_run(tmp_path, model):
    """upstream's own flow: prepare_data_2d_custom.py on the detections, then run.py -d custom --viz-export."""
    upstream = tmp_path / "VideoPose3D"
    shutil.copytree(os.environ["VP3D_UPSTREAM"], upstream, ignore=shutil.ignore_patterns(".git", "*.npz"))
    subprocess.run(["patch", "-p1", "-i", str(Path(__file__).resolve().parents[2] / "vp3d.patch")], cwd=upstream,
                   check=True, capture_output=True)
    detections = tmp_path / "detections"
    detections.mkdir()
    write_detectron_npz(detections / "mine.mp4.npz", detectron_video()[0], W, H)
    if (REAL2D / "nick_30fps.mp4.npz").is_file():
        for video in REAL:
            shutil.copy(REAL2D / f"{video}.mp4.npz", detections)
    run = subprocess.run([sys.executable, "prepare_data_2d_custom.py", "-i", str(detections), "-o", "mine"],
                         cwd=upstream / "data", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(upstream / "data" / "data_2d_custom_mine.npz", allow_pickle=True) as z:
        positions, metadata = z["positions_2d"].item(), z["metadata"].item()
    ours = {s.name: s for s in read_keypoints(detections)}
    assert sorted(ours) == sorted(positions)
    for name, seq in ours.items():
        np.testing.assert_array_equal(seq.keypoints, positions[name]["custom"][0], err_msg=name)
        assert seq.image_size == (metadata["video_metadata"][name]["w"], metadata["video_metadata"][name]["h"])
    video = "nick_30fps.mp4" if "nick_30fps.mp4" in ours else "mine.mp4"
    shutil.copy(model, tmp_path / "pos.bin")
    ref = tmp_path / "ref.npy"
    run = subprocess.run([sys.executable, "run.py", "-d", "custom", "-k", "mine", "-arc", "3,3,3", "--channels", "32",
                          "-c", str(tmp_path), "--evaluate", "pos.bin", "--render", "--viz-subject", video,
                          "--viz-action", "custom", "--viz-camera", "0", "--viz-export", str(ref)],
                         cwd=upstream, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = tmp_path / "ours.npz"
    assert vp3d_lift.main([str(detections / f"{video}.npz"), "-m", str(model), "-o", str(out)]) == 0
    np.testing.assert_allclose(read_poses_npz(out)[video], np.load(ref), atol=1e-5, rtol=0)


def test_openpose_folder_body25_and_coco18_map_to_coco17_by_name(tmp_path):
    kps = video_keypoints(30, W, H, seed=4)
    conf = np.full((30, 17), 0.8)
    conf[5, 3] = conf[6, 3] = conf[10, 16] = 0.0                # undetected keypoints: c == 0
    other = kps + 250
    for order, name in ((OPENPOSE_BODY_25, "body"), (OPENPOSE_COCO_18, "coco")):
        frames = [[openpose_person(other[t], conf[t] * 0.5, order), openpose_person(kps[t], conf[t], order)]
                  if t not in (12, 13) else [] for t in range(30)]
        write_openpose_folder(tmp_path / name, "walk", frames)
        seq, = read_keypoints(tmp_path / name)
        expected = fill_gaps_by_hand(kps, [12, 13])
        expected[5:7, 3] = fill_gaps_by_hand(kps[:, 3], [5, 6, 12, 13])[5:7]      # per keypoint, from 4 and 7
        expected[10, 16] = (kps[9, 16] + kps[11, 16]) / 2
        assert (seq.name, seq.frames, seq.filled, seq.filled_keypoints, seq.layout) == ("walk", 30, 2, 3, "coco")
        np.testing.assert_allclose(seq.keypoints, expected, atol=1e-3, err_msg=name)
    tracked = [[openpose_person(kps[t], conf[t] * 0 + 0.8, OPENPOSE_BODY_25, 4)] +
               ([openpose_person(other[t], conf[t] * 0 + 0.9, OPENPOSE_BODY_25, 9)] if t >= 10 else [])
               for t in range(30)]
    write_openpose_folder(tmp_path / "tracked", "walk", tracked)
    seqs = {s.name: s for s in read_keypoints(tmp_path / "tracked")}
    assert sorted(seqs) == ["walk_track4", "walk_track9"] and seqs["walk_track9"].first_frame == 10
    np.testing.assert_allclose(seqs["walk_track9"].keypoints, other[10:], atol=1e-3)


def test_alphapose_results_frames_from_names_tracks_from_idx(tmp_path):
    kps = video_keypoints(25, W, H, seed=5)
    other = kps + 200
    s = np.full(17, 0.9)
    dets = [(t, kps[t], s, 2.5, 0) for t in range(25) if t != 9] + [(t, other[t], s, 1.0, 0) for t in range(12, 25)]
    dets.reverse()                                       # '9.jpg' after '10.jpg' as text; frames by number
    for halpe in (False, True):
        seq, = read_keypoints(write_alphapose_json(tmp_path / f"a{halpe}.json", dets, halpe))   # idx all 0: untracked
        assert (seq.name, seq.first_frame, seq.frames, seq.filled, seq.layout) == (f"a{halpe}", 0, 25, 1, "coco")
        np.testing.assert_allclose(seq.keypoints, fill_gaps_by_hand(kps, [9]), atol=1e-3)
    tracked = [(t, kps[t], s, 2.5, 1) for t in range(25)] + [(t, other[t], s, 1.0, [2]) for t in range(3, 25)]
    seqs = {x.name: x for x in read_keypoints(write_alphapose_json(tmp_path / "t.json", tracked))}
    assert sorted(seqs) == ["t_track1", "t_track2"] and seqs["t_track2"].first_frame == 3
    np.testing.assert_allclose(seqs["t_track2"].keypoints, other[3:], atol=1e-3)
    # COCO results stay COCO results: integer image ids are frame numbers offset as written, no idx
    seq, = read_keypoints(write_coco_json(tmp_path / "coco.json", kps, image_id0=1000))
    assert seq.first_frame == 1000 and seq.frames == 25


def test_min_score_fills_low_keypoints_and_drops_low_detections(tmp_path, model):
    dets, _ = detectron_video(frames=40, empty=())
    person = np.stack([d[1][np.argmax(d[0][:, 4])] for d in dets])
    for t, (b, k, p) in enumerate(dets):
        p[:] = 2.0
        if t in (10, 11):
            p[np.argmax(b[:, 4]), 0] = 0.1              # the best person's nose scored low in frames 10, 11
        if t == 25:
            b[:, 4] *= 0.5                               # every detection of frame 25 below 0.6
    path = write_detectron_npz(tmp_path / "v.mp4.npz", dets, W, H)
    seq, = read_keypoints(path, min_score=0.6)
    expected = fill_gaps_by_hand(person, [25])
    expected[10:12, 0] = fill_gaps_by_hand(person[:, 0], [10, 11, 25])[10:12]
    assert (seq.filled, seq.filled_keypoints) == (1, 2)
    np.testing.assert_allclose(seq.keypoints, expected, atol=1e-3)
    seq, = read_keypoints(path)                          # without it, upstream's: all kept
    np.testing.assert_array_equal(seq.keypoints, person)
    with pytest.raises(Vp3dError, match="v.mp4.npz: no detection with a keypoint scored 99"):
        read_keypoints(path, min_score=99)
    for b, k, p in dets:
        p[:, 4] = 0.1                                    # right ear never scored 0.6 or more
    path = write_detectron_npz(tmp_path / "ear.mp4.npz", dets, W, H)
    with pytest.raises(Vp3dError, match=r"ear.mp4.npz: 'ear.mp4': keypoint 4 is never detected with a score of 0.6 "
                                        r"or more; nothing to fill it from \(lower --min-score\)"):
        read_keypoints(path, min_score=0.6)


def _expected_people(people, detections=False):
    """Per person in order of first appearance (ties left to right): (first frame, its detections alone with
    the frames it was missed in filled, by hand[, how many frames it was detected in])."""
    out = []
    for t, k in people:
        span = np.arange(t[0], t[-1] + 1)
        full = np.zeros((len(span), 17, 2), np.float32)
        full[t - t[0]] = k
        out.append((int(t[0]), float(k[0, :, 0].mean()), fill_gaps_by_hand(full, sorted(set(span - t[0]) - set(t - t[0]))),
                    len(t)))
    return [(f, k, n) if detections else (f, k) for f, _, k, n in sorted(out, key=lambda e: e[:2])]


@pytest.mark.parametrize("same_depth", [True, False])
def test_every_person_is_tracked_through_crossings(tmp_path, same_depth):
    for n in (2, 3, 4, 5):
        for seed in range(3):
            people = people_scene(n, 100, W, H, same_depth=same_depth, seed=seed)
            expected = _expected_people(people)
            for kind, path in (("coco", write_coco_people(tmp_path / "c.json", people, seed)),
                               ("mmpose", write_mmpose_people(tmp_path / "m.json", people, 100, seed))):
                seqs = read_keypoints(path, people="all")
                assert [s.name for s in seqs] == [f"{path.stem}_person{k + 1}" for k in range(n)], (kind, n, seed)
                for s, (first, kps) in zip(seqs, expected, strict=True):
                    assert s.first_frame == first, (kind, n, seed, s.name)
                    np.testing.assert_array_equal(s.keypoints, kps, err_msg=f"{kind} {n} {seed} {s.name}")


def test_lift_people_all_equals_lifting_each_person_alone(tmp_path, model):
    people = people_scene(4, 100, W, H, same_depth=True, seed=11)
    expected = _expected_people(people)
    lifter = vp3d.load_model(model)
    path = write_mmpose_people(tmp_path / "scene.json", people, 100, seed=1)
    for fmt in ("json", "csv", "npz"):
        out = tmp_path / f"out.{fmt}"
        assert vp3d_lift.main([str(path), "-m", str(model), "-o", str(out), "--image-size", str(W), str(H),
                               "--people", "all"]) == 0
        poses = read_poses(out)
        assert list(poses) == [f"scene_person{k + 1}" for k in range(4)]
        for (name, got), (first, kps) in zip(poses.items(), expected, strict=True):
            assert poses.first_frames.get(name, 0) == first, (fmt, name)
            np.testing.assert_allclose(got, lifter.lift(kps, (W, H)), atol=1e-4, rtol=0, err_msg=f"{fmt} {name}")
    got = lifter.lift_file(path, (W, H), people="all", min_frames=80)          # detected in 80 frames or more
    detected = [n for _, _, n in _expected_people(people, detections=True)]
    assert list(got) == [f"scene_person{k + 1}" for k in range(4) if detected[k] >= 80] and 0 < len(got) < 4
    assert got.first_frames == {n: expected[int(n[-1]) - 1][0] for n in got if expected[int(n[-1]) - 1][0]}


def test_min_frames_drops_short_tracks_with_a_count(tmp_path, model, capsys):
    people = people_scene(2, 60, W, H, seed=2, miss=0)
    people.append((np.arange(20, 25), people[0][1][:5] + 300))       # a passer-by seen for 5 frames
    path = write_coco_people(tmp_path / "p.json", people)
    out = tmp_path / "o.npz"
    assert vp3d_lift.main([str(path), "-m", str(model), "-o", str(out), "--image-size", str(W), str(H),
                           "--people", "all", "--min-frames", "10"]) == 0
    lo, hi = sorted(len(t) for t, _ in people[:2])
    assert f"p.json: kept 2 people (detected in {lo}-{hi} frames each), dropped 1 fragment (detected in 5 frames): " \
           "fewer than 10\n" in capsys.readouterr().out
    assert len(read_poses_npz(out)) == 2
    assert vp3d_lift.main([str(path), "-m", str(model), "-o", str(out), "--image-size", str(W), str(H),
                           "--people", "all"]) == 0                               # the default drops it too
    assert "dropped 1 fragment (detected in 5 frames); --min-frames 1 keeps them\n" in capsys.readouterr().out
    assert list(read_poses_npz(out)) == ["p_person1", "p_person2"]
    shutil.copy(path, tmp_path / "q.json")                                    # as a corpus: the report counts it
    assert vp3d_lift.main([str(path), str(tmp_path / "q.json"), "-m", str(model), "-o", str(tmp_path / "lifted"),
                           "--image-size", str(W), str(H), "--people", "all"]) == 0
    rows = corpus.read_report(tmp_path / "lifted" / corpus.REPORT)
    assert [(r["sequences"], r["dropped"]) for r in rows] == [(2, 1), (2, 1)]
    assert ", 2 fragments dropped (--min-frames 1 keeps them), in " in capsys.readouterr().out
    assert vp3d_lift.main([str(path), "-m", str(model), "-o", str(out), "--image-size", str(W), str(H),
                           "--people", "all", "--min-frames", "1"]) == 0             # keeps everything
    assert f"kept 3 people (detected in 5-{hi} frames each)\n" in capsys.readouterr().out
    assert len(read_poses_npz(out)) == 3
    # a 12-frame clip: a quarter of it (3 frames) is less than 15, so people seen in 8 of its frames stay,
    # a person seen in 2 goes; asked for 15, none is left (vp3d_lift.py: an error, not an empty file)
    short = write_coco_people(tmp_path / "short.json", [(np.arange(8), people[0][1][:8]),
                                                        (np.arange(4, 12), people[1][1][:8]),
                                                        (np.arange(5, 7), people[0][1][:2] + 300)])
    seqs, dropped = read_sequences(short, "all")
    assert [s.name for s in seqs] == ["short_person1", "short_person2"] and [s.name for s in dropped] == ["short_person3"]
    assert read_sequences(short, "all", min_frames=15)[0] == []                 # asked for: no exception made
    for t in range(20, 25):                                           # its nose never seen: no matter, dropped
        people[2][1][t - 20, 0] = np.nan
    conf = np.ones(17)
    frames = [[openpose_person(k, conf, OPENPOSE_BODY_25) for p, (ts, ks) in enumerate(people) for f, k in zip(ts, ks)
               if f == t and not np.isnan(k).any()] + [openpose_person(np.nan_to_num(k), np.where(np.isnan(k[:, 0]), 0, 1.0),
               OPENPOSE_BODY_25) for f, k in zip(*people[2]) if f == t] for t in range(60)]
    write_openpose_folder(tmp_path / "op", "scene", frames)
    seqs, dropped = read_sequences(tmp_path / "op", "all", min_frames=10)
    assert [s.name for s in dropped] == ["scene_person3"] and [s.name for s in seqs] == ["scene_person1", "scene_person2"]
    with pytest.raises(Vp3dError, match="'scene_person3': keypoint 0 is never detected; nothing to fill it from"):
        read_keypoints(tmp_path / "op", "all", min_frames=1)


@pytest.mark.parametrize("same_depth", [True, False])
def test_a_person_hidden_longer_than_a_track_lives_is_linked_whole(tmp_path, same_depth):
    """One person of each crowd scene unseen for 40 frames (frames 35-74: longer than MAX_GAP, 30): the tracker
    ends the track, re-linking joins the two fragments (the body's velocity carried over the gap), and nobody
    else is joined to anyone; without re-linking the person is two tracks."""
    from vp3d.io.tracking import track_people
    for n in (2, 3, 5):
        for seed in range(3):
            people = people_scene(n, 100, W, H, same_depth=same_depth, seed=seed)
            t, k = people[0]
            hidden = (t >= 35) & (t < 75)
            people[0] = (t[~hidden], k[~hidden])
            frames = np.concatenate([t for t, _ in people])
            kps = np.concatenate([k for _, k in people])
            truth = np.concatenate([np.full(len(t), p) for p, (t, _) in enumerate(people)])
            apart = track_people(frames, kps, link=False)
            assert len(set(apart[truth == 0])) == 2, (n, seed)
            ids = track_people(frames, kps)
            assert len(np.unique(ids)) == n, (n, seed)
            assert all(len(set(truth[ids == i])) == 1 for i in np.unique(ids)), (n, seed)
            seqs = read_keypoints(write_coco_people(tmp_path / "c.json", people, seed), people="all")
            expected = _expected_people(people)
            assert len(seqs) == n
            for s, (first, kps_) in zip(seqs, expected, strict=True):
                assert s.first_frame == first
                np.testing.assert_array_equal(s.keypoints, kps_, err_msg=f"{n} {seed} {s.name}")


def test_first_frames_round_trip_and_frame_zero_files_are_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    poses = Poses({"a": rng.normal(size=(5, 17, 3)).astype(np.float32),
                   "b": rng.normal(size=(3, 17, 3)).astype(np.float32)}, first_frames={"b": 40})
    for write, suffix in ((write_poses_npz, ".npz"), (write_poses_json, ".json"), (write_poses_csv, ".csv")):
        write(tmp_path / f"p{suffix}", poses)
        back = read_poses(tmp_path / f"p{suffix}")
        assert back.first_frames == {"b": 40}, suffix
        np.testing.assert_array_equal(back["b"], poses["b"])
        write(tmp_path / f"plain{suffix}", dict(poses))                        # a plain dict: frame 0 as before
        assert read_poses(tmp_path / f"plain{suffix}").first_frames == {}
    assert json.loads((tmp_path / "p.json").read_text())["videos"]["b"]["first_frame"] == 40
    assert (tmp_path / "p.csv").read_text().splitlines()[1 + 5 * 17].startswith("b,40,Hip,")
    with np.load(tmp_path / "p.npz") as z:                                      # np.load sees the arrays alone
        assert sorted(z.files) == ["a", "b"]


def _bad(tmp_path: Path, name: str, text: str | None = None) -> Path:
    p = tmp_path / name
    if text is not None:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return p


def bad_inputs(tmp_path: Path):
    """(path, message fragment) for each new reader's bad files."""
    dets, _ = detectron_video(frames=6, empty=())
    nan = [(b, k.copy(), p) for b, k, p in dets]
    nan[3][1][0, 2, 0] = np.nan
    few = [(b, k[:, :15], p[:, :15]) for b, k, p in dets]
    trunc = write_detectron_npz(tmp_path / "trunc.mp4.npz", dets, W, H)
    trunc.write_bytes(trunc.read_bytes()[:300])
    body = openpose_person(np.ones((17, 2)), np.ones(17), OPENPOSE_BODY_25)
    cases = [
        (write_detectron_npz(tmp_path / "empty.mp4.npz", [None] * 4, W, H), "no detections in any of its 4 frames"),
        (trunc, r"not a readable .npz \(zip\) file|corrupt"),
        (write_detectron_npz(tmp_path / "nan.mp4.npz", nan, W, H), "non-finite keypoint coordinates at frame 3"),
        (_write_few(tmp_path, few), r"expected \(N, 5\) and \(N, 4, 17\)"),
        (_bad(tmp_path, "opempty/v_000000000000_keypoints.json", ""), "not valid JSON|empty"),
        (_bad(tmp_path, "optrunc/v_000000000000_keypoints.json", '{"people": [{"pose_keypoints_2d": [1, 2'), "not valid JSON"),
        (_bad(tmp_path, "opcount/v_000000000000_keypoints.json", json.dumps({"people": [
            {"pose_keypoints_2d": [1.0] * 60}]})), "expected 75 .BODY_25. or 54 .COCO-18."),
        (_bad(tmp_path, "opnan/v_000000000000_keypoints.json", json.dumps({"people": [
            {**body, "pose_keypoints_2d": [float("nan")] + body["pose_keypoints_2d"][1:]}]})), "non-finite"),
        (_bad(tmp_path, "apempty.json", ""), "not valid JSON|empty"),
        (_bad(tmp_path, "aptrunc.json", '[{"image_id": "0.jpg", "keypoints": [1, 2,'), "not valid JSON"),
        (_bad(tmp_path, "apcount.json", json.dumps([{"image_id": "0.jpg", "keypoints": [1.0] * 60, "score": 1,
                                                      "idx": 0}])), r"51 values: COCO-17, or 78: Halpe-26"),
        (_bad(tmp_path, "apnan.json", '[{"image_id": "0.jpg", "keypoints": [NaN' + ", 1" * 50 + '], "score": 1, '
                                      '"idx": 0}]'), r"apnan.json: not valid JSON \(a non-finite number"),
        (_bad(tmp_path, "apname.json", json.dumps([{"image_id": "x.jpg", "keypoints": [1.0] * 51, "score": 1}])),
         "holds no frame number"),
    ]
    return [(p if "/v_" not in str(p) else p.parent, f) for p, f in cases]


def _write_few(tmp_path, few):
    """A Detectron2 file whose keypoints have 15 joints, not 17."""
    boxes = np.empty((len(few), 2), dtype=object)
    kps = np.empty((len(few), 2), dtype=object)
    for i, (b, k, p) in enumerate(few):
        boxes[i] = [[], np.asarray(b, np.float32)]
        kps[i] = [[], np.concatenate([k, np.zeros_like(p)[..., None], p[..., None]], -1).transpose(0, 2, 1)]
    np.savez_compressed(tmp_path / "few.mp4.npz", boxes=boxes, keypoints=kps, segments=np.empty(len(few), object),
                        metadata={"w": W, "h": H})
    return tmp_path / "few.mp4.npz"


def test_bad_input_in_every_new_reader_is_one_line_naming_the_file(tmp_path, model, capsys):
    for path, fragment in bad_inputs(tmp_path):
        with pytest.raises(Vp3dError, match=fragment) as e:
            read_keypoints(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value), str(e.value)
        assert vp3d_lift.main([str(path), "-m", str(model), "-o", str(tmp_path / "o.npz"), "--image-size", "9", "9"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and str(path) in err and "\n" not in err, err
    (tmp_path / "nothing").mkdir()
    with pytest.raises(Vp3dError, match="nothing: a folder without keypoint files"):
        read_keypoints(tmp_path / "nothing")
    one = write_openpose_folder(tmp_path / "one", "v", [[]]) / f"v_{0:012d}_keypoints.json"
    with pytest.raises(Vp3dError, match="one frame of OpenPose output; give the folder"):
        read_keypoints(one)
