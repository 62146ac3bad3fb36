"""A hostile corpus through vp3d_lift.py -o DIR, as a user runs it, under a memory limit (hostile_run): every
hostile keypoint file of test_hostile_readers in one folder among good clips, a resumed run over a report
that was tampered with, Ray addresses that do not answer, and runs ended by Ctrl-C or SIGTERM midway. Each
bad input is its error line (exit 1) and the others are lifted; a refused run writes nothing; an ended run
keeps every complete output and report line, leaves no temporary file nor Ray process, and --resume
finishes it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import vp3d_lift
from random_models import random_model
from hostile_run import ROOT, child_env, limit_memory, run_mains, tree
from keypoint_writers import video_keypoints, write_coco_json
from test_hostile_readers import hostile_files
from vp3d import corpus
from vp3d.model.export import export_onnx

W = H = 1000


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_corpus")
    export_onnx(random_model((3, 3, 3), 32, seed=11), root / "m.onnx", length=None)
    return root


def lift_argv(work, clips, out, *extra):
    return [str(clips), "--recursive", "-m", str(work / "m.onnx"), "--image-size", f"{W}x{H}", "-o", str(out), *extra]


def test_hostile_inputs_are_error_lines_and_the_rest_is_lifted(work):
    clips = work / "clips"
    bad = hostile_files(clips / "bad")
    for name in [n for n, (path, _) in bad.items() if path.is_dir() or "--max-json-bytes" in n]:
        path = bad.pop(name)[0]                   # a folder in a corpus folder is its files; a flag's case apart
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for i in range(3):
        write_coco_json(clips / f"good{i}.json", video_keypoints(50, W, H, seed=i))
    # a tampered report for --resume: nesting 100,000 deep, non-JSON, rows of the wrong types
    out = work / "out"
    out.mkdir()
    (out / corpus.REPORT).write_bytes(b"[" * 100_000 + b"\n{]\n" + json.dumps({"input": 5, "status": "ok"}).encode()
                                      + b"\n" + json.dumps({"input": str(clips / "good0.json"), "status": "ok",
                                                            "outputs": 7}).encode() + b"\n")
    before = tree(work)
    r = run_mains("vp3d_lift", {"corpus": lift_argv(work, clips, out, "--resume")}, work)["corpus"]
    assert r.rc == 1, r.err[-3000:]
    assert "Traceback" not in r.err
    rows = {os.path.relpath(row["input"], clips): row for row in corpus.read_report(out / corpus.REPORT)}
    failed = sorted(n for n, row in rows.items() if row["status"] == "error")
    assert len(failed) == len(bad) and all(n.startswith("bad/") for n in failed), failed
    assert sorted(n for n, row in rows.items() if row["status"] == "ok") == [f"good{i}.json" for i in range(3)]
    said = [line for line in r.err.splitlines() if line.startswith("error: ")]
    assert len(said) == len(bad) + 1 and said[-1].startswith(f"error: {len(bad)} of {len(bad) + 3} inputs failed")
    for name, (path, fragments) in bad.items():
        row = rows[os.path.relpath(path, clips)]
        assert all(f in row["error"] for f in fragments), (name, row["error"])
    after = tree(work)
    assert {k: after[k] for k in before if not k.startswith("out/")} == {k: v for k, v in before.items()
                                                                           if not k.startswith("out/")}
    assert sorted(k for k in after if k.startswith("out/")) == ["out/good0.npz", "out/good1.npz", "out/good2.npz",
                                                                 f"out/{corpus.REPORT}"]
    assert r.seconds < 30


@pytest.mark.parametrize("flags, fragment", [
    (["--ray", "127.0.0.1:1"], "--ray 127.0.0.1:1: no Ray cluster at 127.0.0.1:1 (Connection refused)"),
    (["--ray", "--workers", "100"], "--workers 100 x --threads-per-worker 1: a local Ray cluster has this machine's"),
    (["--ray", "--threads-per-worker", "100"], "--threads-per-worker 100: a local Ray cluster has"),
])
def test_a_ray_run_that_cannot_start_is_one_line_and_writes_nothing(work, tmp_path, flags, fragment):
    write_coco_json(tmp_path / "a.json", video_keypoints(50, W, H, seed=1))
    write_coco_json(tmp_path / "b.json", video_keypoints(50, W, H, seed=2))
    before = tree(tmp_path)
    r = run_mains("vp3d_lift", {"x": lift_argv(work, tmp_path, tmp_path / "out", *flags)}, tmp_path)["x"]
    r.one_line(fragment)
    assert tree(tmp_path) == before and r.seconds < 15


def start(argv, env=None, limit: bool = True) -> subprocess.Popen:
    """vp3d_lift.py argv in a session of its own; under hostile_run's memory limit unless limit=False (a Ray
    driver: its core worker reserves gigabytes of address space for threads it starts)."""
    return subprocess.Popen([sys.executable, str(ROOT / "vp3d_lift.py"), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or child_env(), start_new_session=True,
                            preexec_fn=limit_memory() if limit else None)


def wait_for_rows(report, n: int, p: subprocess.Popen, timeout: float) -> None:
    """Until `report` has n rows; the run (its whole session) killed where it ends or takes too long."""
    end = time.monotonic() + timeout
    try:
        while len(corpus.read_report(report)) < n:
            assert p.poll() is None, p.communicate()[1].decode()[-3000:]
            assert time.monotonic() < end, f"no {n} report rows in {timeout} s"
            time.sleep(0.1)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        raise


def session_processes(sid: int) -> list[str]:
    """The processes left in session `sid` (the run's, and any it started that did not leave it)."""
    left = []
    for stat in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat.isdigit() and int(fields[3]) == sid and fields[0] != "Z":
            left.append(open(f"/proc/{stat}/cmdline").read().replace("\0", " ")[:100])
    return left


def check_ended_run(out, clips, names):
    """What an ended run leaves: complete outputs (for its ok rows and, on Ray, those of the blocks under way),
    parseable rows, no temporary files."""
    rows = corpus.read_report(out / corpus.REPORT)
    assert rows and all(r["status"] == "ok" for r in rows)
    assert {r["outputs"][0] for r in rows} <= {str(q) for q in out.glob("*.npz")}
    for q in out.glob("*.npz"):
        with np.load(q) as z:
            assert z[z.files[0]].shape[1:] == (17, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]             # no temporaries, no ledger
    assert vp3d_lift.main(lift_argv(clips.parent, clips, out, "--resume")) == 0    # --resume finishes it
    assert sorted(p.stem for p in out.glob("*.npz")) == names


@pytest.fixture
def many(work, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(60):
        write_coco_json(clips / f"c{i:02d}.json", video_keypoints(300, W, H, seed=i))
    (tmp_path / "m.onnx").symlink_to(work / "m.onnx")
    return clips, [f"c{i:02d}" for i in range(60)]


def test_ctrl_c_ends_a_corpus_run_keeping_what_is_done(many):
    clips, names = many
    out = clips.parent / "out"
    p = start(lift_argv(clips.parent, clips, out))
    wait_for_rows(out / corpus.REPORT, 2, p, 30)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130 and err.decode().strip().splitlines()[-1] == "error: interrupted", err.decode()[-2000:]
    check_ended_run(out, clips, names)


@pytest.mark.slow
def test_sigterm_ends_a_ray_run_on_its_own_local_cluster(many):
    """RAY_ADDRESS names a dead cluster, as a stale 'ray start' leaves: --ray without an address starts a
    private one all the same; SIGTERM midway ends the run, shuts the cluster down, loses nothing."""
    clips, names = many
    for copy in range(1, 10):   # 600 inputs: ten blocks (FILES_PER_BLOCK), so the signal lands between blocks
        for name in names[:60]:
            os.link(clips / f"{name}.json", clips / f"{name}_{copy}.json")
            names.append(f"{name}_{copy}")
    names.sort()
    out = clips.parent / "out"
    p = start(lift_argv(clips.parent, clips, out, "--ray", "--workers", "1"), child_env(RAY_ADDRESS="127.0.0.1:1"),
              limit=False)
    wait_for_rows(out / corpus.REPORT, 2, p, 90)
    sent = time.monotonic()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143, err.decode()[-3000:]
    assert err.decode().strip().splitlines()[-1] == "error: terminated (SIGTERM)" and "Traceback" not in err.decode()
    assert time.monotonic() - sent < 30
    for _ in range(100):                          # Ray's processes follow the driver within seconds
        if not session_processes(p.pid):
            break
        time.sleep(0.1)
    assert not session_processes(p.pid), session_processes(p.pid)
    assert len(corpus.read_report(out / corpus.REPORT)) < len(names)            # it ended midway
    check_ended_run(out, clips, names)


@pytest.mark.slow
def test_an_address_that_never_answers_is_one_line_in_bounded_time_and_sigterm_ends_the_wait(work, tmp_path):
    """ray.init retries an address that accepts connections but is no Ray cluster for minutes, deaf to
    SIGTERM; vp3d gives up after --ray-timeout with one line, and SIGTERM ends the wait at once. (10.255.255.1
    is nobody's address: here a proxy answers for it, elsewhere the connection times out; one line either way.)"""
    write_coco_json(tmp_path / "a.json", video_keypoints(50, W, H, seed=1))
    write_coco_json(tmp_path / "b.json", video_keypoints(50, W, H, seed=2))
    argv = lift_argv(work, tmp_path, tmp_path / "out", "--ray", "10.255.255.1:6379")
    p = start([*argv, "--ray-timeout", "3"], limit=False)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.decode().count("\n") == 1, err.decode()[-2000:]
    assert err.decode().startswith("error: --ray 10.255.255.1:6379: ")
    p = start([*argv, "--ray-timeout", "600"], limit=False)
    time.sleep(3)
    sent = time.monotonic()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143 and err.decode().strip() == "error: terminated (SIGTERM)", err.decode()[-2000:]
    assert time.monotonic() - sent < 5 and not (tmp_path / "out").exists()
