"""What a new user meets in the first hour: a Python without the dependencies gets one line saying what to
install; no script writes over a file it reads; an empty file is called empty; --help shows each default once;
the package installs without setuptools warnings (its configuration checked against the tree)."""
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import vp3d_convert
import vp3d_lift
import vp3d_postprocess
import vp3d_render
from vp3d.errors import CORE

from random_models import random_model
from repo_paths import ROOT

SCRIPTS = sorted(p.name for p in ROOT.glob("vp3d_*.py"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_a_python_without_the_dependencies_gets_one_line_from_every_script(tmp_path):
    """-S: no site-packages (no numpy, onnx, ...), -E: no PYTHONPATH; the script's folder still finds vp3d, as
    the system python3 does in a clone."""
    for script in SCRIPTS:
        run = subprocess.run([sys.executable, "-E", "-S", str(ROOT / script), "clip.json", "-o", "x.npz"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and run.stdout == "", (script, run.stderr[-500:])
        line, = run.stderr.splitlines()
        assert line.startswith(f"error: {script} needs numpy, onnx, onnxruntime, tqdm") and sys.executable in line
        assert f"make, then .venv/bin/python {script} ..." in line and "pip install ." in line
    assert list(tmp_path.iterdir()) == []
    imported = subprocess.run([sys.executable, "-E", "-S", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                               f"import vp3d"], capture_output=True, text=True, timeout=60)
    assert imported.returncode == 1
    assert imported.stderr.splitlines()[-1].startswith("ImportError: vp3d needs numpy, onnx")


def test_the_core_dependencies_checked_are_pyprojects():
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in PYPROJECT["project"]["dependencies"]}
    assert set(CORE.values()) == names


def test_packaging_lists_every_package_and_script_and_a_licence_string():
    """What made `pip install .` warn: a licence table (now an SPDX string, setuptools >= 77) and the data
    folder vp3d.facts.data missing from the packages."""
    project, tool = PYPROJECT["project"], PYPROJECT["tool"]["setuptools"]
    assert isinstance(project["license"], str)
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in PYPROJECT["build-system"]["requires"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vp3d").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert folders == set(tool["packages"])
    for package, patterns in tool["package-data"].items():
        folder = ROOT / package.replace(".", "/")
        assert {p.name for p in folder.iterdir() if p.suffix != ".py" and p.is_file()} == \
            {p.name for pattern in patterns for p in folder.glob(pattern)}
    scripts = {s[:-3] for s in SCRIPTS}
    assert set(tool["py-modules"]) == scripts and set(project["scripts"]) == scripts


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_each_default_once(script):
    module = __import__(script[:-3])
    text = " ".join(module.build_parser().format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text
    for action in module.build_parser()._actions:
        shown = " ".join(module.build_parser()._get_formatter()._expand_help(action).split()) if action.help else ""
        assert shown.count("default") <= 1, (script, action.option_strings, shown)


def test_no_script_writes_over_a_file_it_reads(tmp_path, capsys, monkeypatch):
    """The README's old order: render -o clip.mp4, then --video clip.mp4: refused, the video unchanged."""
    from keypoint_writers import video_keypoints, write_coco_json
    from vp3d.io.poses import Poses, write_poses_npz
    (tmp_path / "clip.mp4").write_bytes(b"the user's own footage")          # refused before it is read
    before = (tmp_path / "clip.mp4").read_bytes()
    write_coco_json(tmp_path / "clip.json", video_keypoints(4, 640, 480))
    write_poses_npz(tmp_path / "p.npz", Poses({"clip": np.zeros((4, 17, 3), np.float32)}))
    cases = [
        (vp3d_render, ["p.npz", "--keypoint-file", "clip.json", "--video", "clip.mp4", "-o", "clip.mp4"],
         "clip.mp4: -o would write over --video clip.mp4, which this command reads"),
        (vp3d_convert, ["p.npz", "-o", "./p.npz"], "p.npz: -o would write over POSES p.npz"),
        (vp3d_lift, ["clip.json", "-m", "m.onnx", "--image-size", "640", "480", "-o", "clip.json"],
         "clip.json: -o would write over INPUT clip.json"),
        (vp3d_postprocess, ["--preprocess-data", "x", "--infer-results", "y", "--json", "r.json", "--plot",
                            "r.png", "--compare", "r.json"], "r.json: --json would write over --compare r.json"),
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("{}")
    for module, argv, message in cases:
        assert module.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "would write over" in err, err
        if message:
            assert message in err, err
    assert (tmp_path / "clip.mp4").read_bytes() == before and (tmp_path / "r.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.json", "clip.mp4", "p.npz", "r.json"]


def test_a_folder_output_that_would_hold_an_input_is_refused(tmp_path, capsys):
    """vp3d_lift.py out/a.npz -o out/: the video 'a' would be written to out/a.npz, the input itself."""
    from vp3d.model import checkpoint
    from keypoint_writers import video_keypoints
    (tmp_path / "out").mkdir()
    np.savez(tmp_path / "out" / "a.npz", a=video_keypoints(30, 640, 480))
    checkpoint.save(tmp_path / "m.bin", random_model((3,), 8, seed=0))
    before = (tmp_path / "out" / "a.npz").read_bytes()
    assert vp3d_lift.main([str(tmp_path / "out" / "a.npz"), "-m", str(tmp_path / "m.bin"), "--image-size", "640",
                           "480", "-o", str(tmp_path / "out") + "/"]) == 2
    assert "-o would write over INPUT" in capsys.readouterr().err
    assert (tmp_path / "out" / "a.npz").read_bytes() == before


@pytest.mark.parametrize("name", ["e.json", "e.csv", "e.npz"])
def test_an_empty_file_is_called_empty(tmp_path, capsys, name):
    (tmp_path / name).write_bytes(b"")
    (tmp_path / "m.onnx").write_bytes(b"")
    for module, argv in ((vp3d_lift, [str(tmp_path / name), "-m", str(tmp_path / "m.onnx"), "--image-size", "9", "9",
                                      "-o", str(tmp_path / "o.npz")]),
                         (vp3d_convert, [str(tmp_path / name), "-o", str(tmp_path / "o.bvh")])):
        assert module.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {tmp_path / name}: the file is empty (0 bytes); expected "), err
    np.savez(tmp_path / "k.npz", k=np.ones((3, 17, 2)))
    assert vp3d_lift.main([str(tmp_path / "k.npz"), "-m", str(tmp_path / "m.onnx"), "--image-size", "9", "9",
                           "-o", str(tmp_path / "o.npz")]) == 2
    assert f"{tmp_path / 'm.onnx'}: the file is empty (0 bytes); expected a checkpoint" in capsys.readouterr().err
