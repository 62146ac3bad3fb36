"""Corpus runs (vp3d.corpus, vp3d_lift.py -o DIR with many inputs): which files the inputs name, one output
and one report line per input, bad inputs reported while the rest go on, --resume after an interruption,
and the rule that keeps one-file runs as they were. The Ray runs are in test_corpus_ray.py."""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import vp3d_lift
from vp3d import corpus
from vp3d.errors import Vp3dError
from vp3d.io.poses import read_poses_npz, write_poses_npz
from vp3d.lift import load_model
from vp3d.model.export import export_onnx

from random_models import random_model
from keypoint_writers import video_keypoints, write_coco_json, write_corpus, write_openpose_folder

W, H = 960, 540
GOOD = ["a.json", "b.csv", "sub/a.json", "sub/c.json", "two.npz"]
BAD = ["bad.json", "sub/bad.csv"]
# the output each input gets: its path below the folder, '/' and '.' made file-safe, the suffix dropped
OUTPUT = {"a.json": "a.npz", "b.csv": "b.npz", "bad.json": "bad.npz", "sub/a.json": "sub_a.npz",
          "sub/bad.csv": "sub_bad.npz", "sub/c.json": "sub_c.npz", "two.npz": "two.npz"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A COCO-order exported model (27 frames, any length)."""
    path = tmp_path_factory.mktemp("corpus_model") / "m.onnx"
    export_onnx(random_model((3, 3, 3), 32, seed=21), path, length=None)
    return path


@pytest.fixture
def clips(tmp_path):
    return write_corpus(tmp_path / "clips", W, H)


def lift_args(tmp_path, model, out, *extra):
    return [str(tmp_path / "clips"), "--recursive", "-m", str(model), "-o", str(out), "--image-size", f"{W}x{H}",
            *extra]


def report_by_input(out, root) -> dict[str, dict]:
    rows = corpus.read_report(out / corpus.REPORT)
    by = {str(Path(r["input"]).relative_to(root)): r for r in rows}
    assert len(by) == len(rows), "an input reported twice"
    return by


def test_inputs_expand_from_folders_globs_and_lists(clips, tmp_path):
    root = tmp_path / "clips"
    names = lambda items: [(str(i.path), i.name) for i in items]                          # noqa: E731
    assert names(corpus.expand_inputs([str(root)])) == [
        (f"{root}/a.json", "a"), (f"{root}/b.csv", "b"), (f"{root}/bad.json", "bad"), (f"{root}/two.npz", "two")]
    assert [i.name for i in corpus.expand_inputs([str(root)], recursive=True)] == \
        ["a", "b", "bad", "sub/a", "sub/bad", "sub/c", "two"]
    assert names(corpus.expand_inputs([f"{root}/**/*.json"])) == [
        (f"{root}/a.json", "a"), (f"{root}/bad.json", "bad"), (f"{root}/sub/a.json", "sub/a"),
        (f"{root}/sub/c.json", "sub/c")]
    listed = tmp_path / "list.txt"
    listed.write_text(f"# my clips\n\n{root}/b.csv\n  {root}/sub  \n{root}/b.csv\n")
    assert names(corpus.expand_inputs([f"@{listed}", f"{root}/sub/c.json"])) == [     # each file once
        (f"{root}/b.csv", "b"), (f"{root}/sub/a.json", "a"), (f"{root}/sub/bad.csv", "bad"),
        (f"{root}/sub/c.json", "c")]
    (root / "sub" / "lifted").mkdir()
    write_coco_json(root / "sub" / "lifted" / "old.json", video_keypoints(5, W, H))     # inside the output folder
    assert len(corpus.expand_inputs([str(root)], True, exclude=root / "sub" / "lifted")) == 7
    assert names(corpus.expand_inputs([str(root / "nope.json")])) == [(f"{root}/nope.json", "nope")]  # its own error

    (tmp_path / "empty").mkdir()
    for specs, fragment in [([str(tmp_path / "empty")], "a folder without keypoint files"),
                            ([f"{root}/*.mp4"], "no files match"), ([f"@{tmp_path}/none.txt"], "cannot read the input list")]:
        with pytest.raises(Vp3dError, match=fragment):
            corpus.expand_inputs(specs)


def test_every_input_gets_its_own_file_inside_the_folder():
    items = [corpus.Input("x/a.json", "a"), corpus.Input("y/a.csv", "a"), corpus.Input("z.json", "../z"),
             corpus.Input("w.json", "a_2")]
    assert [j.output for j in corpus.plan_jobs(items, "out", "json")] == \
        ["out/a.json", "out/a_2.json", "out/___z.json", "out/a_2_2.json"]


def test_a_folder_with_two_bad_files_lifts_the_rest_and_reports_every_input(clips, model, tmp_path, capsys):
    out = tmp_path / "lifted"
    assert vp3d_lift.main(lift_args(tmp_path, model, out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: 2 of 7 inputs failed") and len(err) == 3
    rows = report_by_input(out, tmp_path / "clips")
    assert sorted(rows) == sorted(GOOD + BAD)
    lifter = load_model(model)
    for name in GOOD:
        row = rows[name]
        assert row["status"] == "ok" and row["outputs"] == [str(out / OUTPUT[name])] and "error" not in row
        assert row["frames"] == sum(len(k) for k in clips[name].values()) and row["seconds"] > 0
        got = read_poses_npz(out / OUTPUT[name])
        assert sorted(got) == sorted(clips[name])                # every video of the input, in its one file
        for video, kps in clips[name].items():
            np.testing.assert_allclose(got[video], lifter.lift(kps, (W, H)), atol=1e-6, err_msg=f"{name} {video}")
    for name in BAD:
        assert rows[name]["status"] == "error" and rows[name]["outputs"] == [] and rows[name]["frames"] == 0
        assert rows[name]["error"].startswith(str(tmp_path / "clips" / name)) and "\n" not in rows[name]["error"]
    assert sorted(p.name for p in out.iterdir()) == sorted([OUTPUT[n] for n in GOOD] + [corpus.REPORT])


def test_resume_finishes_an_interrupted_run_without_redoing_done_files(clips, model, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    assert vp3d_lift.main(lift_args(tmp_path, model, whole)) == 1
    out, calls = tmp_path / "lifted", []
    real = corpus.lift_one

    def interrupted(lifter, path, output, options):
        if len(calls) == 3:
            raise KeyboardInterrupt                       # Ctrl-C (or a kill) while the 4th input is lifted
        calls.append(path)
        return real(lifter, path, output, options)

    monkeypatch.setattr(corpus, "lift_one", interrupted)
    assert vp3d_lift.main(lift_args(tmp_path, model, out)) == 130
    first = [r["input"] for r in corpus.read_report(out / corpus.REPORT)]
    assert first == calls == [str(tmp_path / "clips" / n) for n in ("a.json", "b.csv", "bad.json")]
    with open(out / corpus.REPORT, "a") as f:
        f.write('{"input": "half a line')                 # killed while writing a line
    (out / ".sub_a.npz.x1y2.tmp").write_bytes(b"half a file")
    done = sorted(p.name for p in out.glob("*.npz"))
    assert done == ["a.npz", "b.npz"]
    past = 10**18                       # 2001: a rewrite stamps a file later whatever the clock's resolution
    for name in done:
        os.utime(out / name, ns=(past, past))

    resumed = []
    monkeypatch.setattr(corpus, "lift_one", lambda *a: resumed.append(str(a[1])) or real(*a))
    assert vp3d_lift.main(lift_args(tmp_path, model, out, "--resume")) == 1
    root = tmp_path / "clips"
    assert resumed == [str(root / n) for n in ("bad.json", "sub/a.json", "sub/bad.csv", "sub/c.json", "two.npz")]
    assert [(out / name).stat().st_mtime_ns for name in done] == [past, past]     # not rewritten
    rows = report_by_input(out, root)
    assert sorted(rows) == sorted(GOOD + BAD) and {n for n, r in rows.items() if r["status"] == "ok"} == set(GOOD)
    for name in GOOD:
        assert (out / OUTPUT[name]).read_bytes() == (whole / OUTPUT[name]).read_bytes()

    resumed.clear()                                       # a finished run: only the failed inputs are tried again
    assert vp3d_lift.main(lift_args(tmp_path, model, out, "--resume")) == 1
    assert resumed == [str(root / n) for n in BAD]


def test_bvh_output_refuses_an_input_of_two_videos_and_lifts_the_others(clips, model, tmp_path):
    out = tmp_path / "bvh"
    args = [str(tmp_path / "clips" / "two.npz"), str(tmp_path / "clips" / "a.json"), "-m", str(model), "-o", str(out),
            "--format", "bvh", "--image-size", str(W), str(H)]
    assert vp3d_lift.main(args) == 1
    rows = [(r["status"], r.get("error", "")) for r in corpus.read_report(out / corpus.REPORT)]
    assert rows[0][0] == "error" and "holds 2 videos, a BVH file holds one motion" in rows[0][1]
    assert rows[1] == ("ok", "") and (out / "a.bvh").read_text().startswith("HIERARCHY")


def test_one_file_or_one_output_file_keeps_the_all_or_nothing_run(clips, model, tmp_path, capsys):
    """The rule: a corpus run needs -o DIR and several inputs (or a folder, glob or @list); otherwise every
    input is read first and the first bad one refuses the run (exit 2, one line, nothing written)."""
    root = tmp_path / "clips"
    rc = vp3d_lift.main([str(root / "a.json"), str(root / "bad.json"), "-m", str(model), "-o",
                         str(tmp_path / "all.npz"), "--image-size", f"{W}x{H}"])
    assert rc == 2 and capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "all.npz").exists()
    rc = vp3d_lift.main([str(root / "bad.json"), "-m", str(model), "-o", str(tmp_path / "one") + "/"])
    assert rc == 2 and "expected MMPose predictions" in capsys.readouterr().err
    assert not (tmp_path / "one").exists()
    assert vp3d_lift.main([str(root), "-m", str(model), "-o", str(tmp_path / "all.json"), "--image-size",  # folder, one file
                           f"{W}x{H}"]) == 2
    assert "bad.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main([str(root / "a.json"), "-m", str(model), "-o", str(tmp_path / "x.npz"), "--ray"])
    assert e.value.code == 2 and "give -o DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main([str(root), "-m", str(model), "-o", str(tmp_path / "out"), "--workers", "2"])
    assert e.value.code == 2 and "without --ray" in capsys.readouterr().err


def test_ray_takes_an_address_and_leaves_inputs_alone():
    assert corpus.ray_argv(["--ray", "clips/", "-o", "out"]) == ["--ray=local", "clips/", "-o", "out"]
    for address in ("auto", "10.0.0.2:6379", "ray://head:10001"):
        assert corpus.ray_argv(["a.json", "--ray", address]) == ["a.json", "--ray", address]


def test_npz_poses_are_the_same_bytes_whenever_written(tmp_path, monkeypatch):
    poses = {"clip": np.random.default_rng(0).normal(size=(5, 17, 3)).astype(np.float32)}
    write_poses_npz(tmp_path / "a.npz", poses)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)      # another day (zip entries carry a date)
    write_poses_npz(tmp_path / "b.npz", poses)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["clip"], poses["clip"])


def test_the_report_is_json_lines_a_reader_takes(clips, model, tmp_path):
    out = tmp_path / "lifted"
    vp3d_lift.main(lift_args(tmp_path, model, out))
    lines = (out / corpus.REPORT).read_text().splitlines()
    assert len(lines) == 7
    rows = [json.loads(line) for line in lines]
    assert sorted(r["status"] for r in rows) == ["error"] * 2 + ["ok"] * 5
    for row in rows:
        keys = {"input", "status", "outputs", "frames", "seconds"}
        assert set(row) == (keys | {"sequences", "dropped"} if row["status"] == "ok" else keys | {"error"}), row


def test_an_openpose_folder_is_one_input_of_a_corpus_and_lifts_as_on_its_own(model, tmp_path):
    """OpenPose writes one file per frame: its folder is one video, not a folder of inputs."""
    kps = video_keypoints(40, W, H, seed=31)
    coco18 = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]   # COCO-18 index of each COCO-17 keypoint
    frames = []
    for k in kps:
        body = np.zeros((18, 3))
        body[coco18, :2], body[coco18, 2] = k, 0.9
        body[1] = [(k[5, 0] + k[6, 0]) / 2, (k[5, 1] + k[6, 1]) / 2, 0.9]    # the neck
        frames.append([{"person_id": [-1], "pose_keypoints_2d": body.ravel().tolist()}])
    write_openpose_folder(tmp_path / "op", "walk", frames)
    write_coco_json(tmp_path / "clip.json", video_keypoints(30, W, H, seed=32))
    assert [(i.path, i.name) for i in corpus.expand_inputs([str(tmp_path / "op"), str(tmp_path / "clip.json")])] \
        == [(str(tmp_path / "op"), "op"), (str(tmp_path / "clip.json"), "clip")]
    out = tmp_path / "out"
    assert vp3d_lift.main([str(tmp_path / "op"), str(tmp_path / "clip.json"), "-m", str(model), "-o", str(out),
                           "--image-size", f"{W}x{H}"]) == 0
    alone = load_model(model).lift(kps, (W, H))
    np.testing.assert_allclose(read_poses_npz(out / "op.npz")["walk"], alone, atol=1e-5)
