"""Hostile keypoint files through vp3d_lift.py, in a child under a memory limit (hostile_run): frame numbers
far apart (a COCO image_id, an OpenPose file number, a CSV frame of 10**10 among small ones), JSON nested
deeper than any parser's stack, larger than the limit, not UTF-8 or not JSON at all, a joint index of 10**9,
an .npz that unpacks to gigabytes. Each is refused with one line naming the file (exit 2), in bounded memory
and time, writing nothing; the same file within --max-frames lifts."""
import json
import zipfile

import numpy as np
import pytest

from random_models import random_model
from hostile_run import run_mains, tree
from keypoint_writers import video_keypoints, write_coco_json, write_keypoints_csv
from vp3d.model.export import export_onnx

W = H = 1000
FAR = 10 ** 10


def coco_entry(frame, kps, name=None):
    return {"image_id": name if name is not None else frame, "category_id": 1, "score": 0.9,
            "keypoints": np.concatenate([kps, np.full((17, 1), 2.0)], 1).ravel().tolist()}


def openpose_frame(kps):
    body25 = np.zeros((25, 3))
    body25[:, :2] = kps[np.arange(25) % 17]
    body25[:, 2] = 0.9
    return json.dumps({"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": body25.ravel().tolist()}]})


def zip_bomb(path, frames: int, columns: int = 2):
    """An .npz of one (frames, 17, columns) float32 array of zeros, deflated: a few MiB that unpack to
    frames x 68 x columns bytes."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (frames, 17, columns)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("clip.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            zeros = bytes(1 << 22)
            size = frames * 68 * columns
            for _ in range(size // len(zeros)):
                f.write(zeros)
            f.write(bytes(size % len(zeros)))


def hostile_files(d):
    """{case: (input path, fragments of its one error line)}; every file small."""
    kps = video_keypoints(300, W, H, seed=1)
    d.mkdir(parents=True)
    cases = {}
    entries = [coco_entry(1000 + t, kps[t]) for t in range(300)] + [coco_entry(FAR, kps[0])]
    (d / "coco_far.json").write_text(json.dumps(entries))
    cases["coco image_id 10**10"] = (d / "coco_far.json", ["coco_far.json", "from frame 1000 to 10000000000",
                                                           "the widest gap: frames 1299 to 10000000000",
                                                           "--max-frames"])
    entries = [coco_entry(t, kps[t], f"{t}.jpg") for t in range(20)] + [coco_entry(0, kps[0], f"{FAR}.jpg")]
    (d / "alphapose_far.json").write_text(json.dumps([e | {"idx": 1} for e in entries]))
    cases["AlphaPose image 10**10"] = (d / "alphapose_far.json", ["alphapose_far.json", "to 10000000000"])
    info = [{"frame_id": t, "instances": [{"keypoints": kps[t].tolist(), "keypoint_scores": [0.9] * 17,
                                             "bbox_score": 0.9}]} for t in range(20)]
    (d / "mmpose_far.json").write_text(json.dumps(info + [{"frame_id": FAR, "instances": []}]))
    cases["MMPose frame_id 10**10 (no people)"] = (d / "mmpose_far.json", ["mmpose_far.json", "to 10000000000",
                                                                          "the 21 frames the file lists"])
    op = d / "openpose_far"
    op.mkdir()
    for t in list(range(10)) + [10 ** 11]:
        (op / f"clip_{t:012d}_keypoints.json").write_text(openpose_frame(kps[t % 300]))
    cases["OpenPose file number 10**11"] = (op, ["openpose_far", "to 100000000000"])
    write_keypoints_csv(d / "csv_far.csv", kps[:50], by_name=False)
    with open(d / "csv_far.csv", "a") as f:
        f.writelines(f"{FAR},{j},500.0,500.0,0.8\n" for j in range(17))
    cases["CSV frame 10**10"] = (d / "csv_far.csv", ["csv_far.csv", "to 10000000000"])
    write_keypoints_csv(d / "csv_digits.csv", kps[:5], by_name=False)
    with open(d / "csv_digits.csv", "a") as f:
        f.writelines(f"{10 ** 30},{j},500.0,500.0,0.8\n" for j in range(17))
    cases["CSV frame of 31 digits"] = (d / "csv_digits.csv", ["csv_digits.csv", "frame number", "19 digits"])
    (d / "csv_joint.csv").write_text("frame,joint,x,y\n0,1000000000,1.0,2.0\n")
    cases["CSV joint 10**9"] = (d / "csv_joint.csv", ["csv_joint.csv", "joint index"])
    (d / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    cases["JSON nested 200,000 deep"] = (d / "deep.json", ["deep.json", "not valid JSON", "depth"])
    op = d / "openpose_deep"
    op.mkdir()
    for t in range(3):
        (op / f"clip_{t:012d}_keypoints.json").write_text(openpose_frame(kps[t]))
    (op / f"clip_{3:012d}_keypoints.json").write_text('{"people": ' + "[" * 100_000 + "]" * 100_000 + "}")
    cases["an OpenPose frame nested 100,000 deep"] = (op, ["clip_000000000003_keypoints.json", "not valid JSON"])
    (d / "latin1.json").write_bytes(b'[{"image_id": 1, "keypoints": [], "score": "\xe9"}]')
    cases["JSON not UTF-8"] = (d / "latin1.json", ["latin1.json", "not valid JSON"])
    (d / "random.json").write_bytes(np.random.default_rng(0).bytes(5000))
    cases["random bytes as .json"] = (d / "random.json", ["random.json", "not valid JSON"])
    (d / "empty.json").write_bytes(b"")
    cases["an empty .json"] = (d / "empty.json", ["empty.json", "the file is empty (0 bytes)"])
    (d / "nan.json").write_text(json.dumps([coco_entry(t, kps[t]) for t in range(3)]).replace("2.0", "NaN", 1))
    cases["NaN in JSON"] = (d / "nan.json", ["nan.json", "a non-finite number"])
    write_coco_json(d / "big.json", kps)
    cases["JSON larger than --max-json-bytes"] = (d / "big.json", ["big.json", "more than 65536 bytes of JSON",
                                                                   "--max-json-bytes"])
    zip_bomb(d / "bomb.npz", 3_000_000)
    cases["an .npz that unpacks to 0.4 GB"] = (d / "bomb.npz", ["bomb.npz", "'clip' would unpack", "to 408000128"])
    return cases


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Every case run in one child: (cases, outcomes, the folder before and after)."""
    root = tmp_path_factory.mktemp("hostile_readers")
    export_onnx(random_model((3, 3, 3), 32, seed=5), root / "m.onnx", length=None)
    cases = hostile_files(root / "in")
    kps = video_keypoints(300, W, H, seed=2)
    write_coco_json(root / "in" / "gap.json", kps, missing=list(range(100, 150)))   # 250 frames listed, 300 spanned
    argv = {name: [str(path), "-m", str(root / "m.onnx"), "--image-size", f"{W}x{H}", "-o",
                   str(root / "out" / f"{n}.npz")] + (["--max-json-bytes", "64k"] if "max-json" in name else [])
            for n, (name, (path, _)) in enumerate(cases.items())}
    argv["gap over --max-frames"] = [str(root / "in" / "gap.json"), "-m", str(root / "m.onnx"), "--image-size",
                                     f"{W}x{H}", "-o", str(root / "out" / "gap_refused.npz"), "--max-frames", "299"]
    argv["gap within --max-frames"] = argv["gap over --max-frames"][:-2] + ["--max-frames", "300"]
    argv["gap within --max-frames"][6] = str(root / "out" / "gap.npz")
    before = tree(root)
    results = run_mains("vp3d_lift", argv, root)
    return cases, results, before, tree(root), root


CASES = ["coco image_id 10**10", "AlphaPose image 10**10", "MMPose frame_id 10**10 (no people)",
         "OpenPose file number 10**11", "CSV frame 10**10", "CSV frame of 31 digits", "CSV joint 10**9",
         "JSON nested 200,000 deep", "an OpenPose frame nested 100,000 deep", "JSON not UTF-8",
         "random bytes as .json", "an empty .json", "NaN in JSON", "JSON larger than --max-json-bytes",
         "an .npz that unpacks to 0.4 GB"]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_file_is_one_line_in_bounded_memory_and_time(outcome, case):
    cases, results, _, _, _ = outcome
    assert set(cases) == set(CASES)
    r = results[case]
    r.one_line(*cases[case][1])
    assert r.seconds < 10, r.seconds


def test_a_refused_file_writes_nothing_and_a_span_within_max_frames_lifts(outcome):
    _, results, before, after, root = outcome
    results["gap over --max-frames"].one_line("gap.json", "from frame 1000 to 1299", "--max-frames", "at most 299")
    assert results["gap within --max-frames"].rc == 0, results["gap within --max-frames"].err
    with np.load(root / "out" / "gap.npz") as z:
        assert z["gap"].shape == (300, 17, 3)                   # frames 1000..1299, the gap filled
    assert set(after) - set(before) == {"out/gap.npz"}          # every refused run wrote nothing
    assert {k: after[k] for k in before} == before
