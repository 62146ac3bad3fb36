"""What a new user meets first: readable output files, a demo that keeps what it did not make, the
best epoch kept as "best", figures in the format their name says, errors that say how to choose."""
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_train
from vp3d.model import checkpoint
from vp3d.io.files import read_array, write_array, write_json
from vp3d.pipeline.sequences import Manifest
from vp3d.facts.skeleton import Symmetry
from vp3d.training.train import TrainConfig, load_training_data, train

from conftest import KEYPOINTS_SYMMETRY, make_positions, random_model, write_dataset

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.sh"


def one_line_error(capsys, rc, *fragments):
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- permissions: what open() would give -------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_written_files_get_0666_minus_umask(tmp_path, umask, mask):
    umask(mask)
    write_array(tmp_path / "a.bin", np.zeros((2, 3), np.float32))
    write_array(tmp_path / "a.npy", np.zeros((2, 3), np.float32), "NPY")
    write_array(tmp_path / "a.txt", np.zeros((2, 3), np.float32), "TXT")
    write_json(tmp_path / "new" / "deeper" / "r.json", {"x": 1})     # folders made on the way
    checkpoint.save(tmp_path / "model.bin", random_model((3,), 8), "conv2d", module_prefix=True)
    for name in ("a.bin", "a.npy", "a.txt", "new/deeper/r.json", "model.bin"):
        assert mode(tmp_path / name) == 0o666 & ~mask, (name, oct(mode(tmp_path / name)))
    for name in ("new", "new/deeper"):
        assert mode(tmp_path / name) == 0o777 & ~mask, (name, oct(mode(tmp_path / name)))
    # what a plain open() makes under the same umask: the same bits
    with open(tmp_path / "plain", "w"):
        pass
    assert mode(tmp_path / "plain") == mode(tmp_path / "a.bin")
    assert not list(tmp_path.glob(".*.tmp"))


def test_umask_022_leaves_results_readable_by_everyone(tmp_path, umask, tiny_dataset):
    """A whole stage run through its script: every file and folder readable by group and others."""
    umask(0o022)
    out = tmp_path / "prep"
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(out), "-arc", "3,3,3", "--max-length", "120"]) == 0
    paths = [out, *out.rglob("*")]
    assert len(paths) > 60
    for p in paths:
        need = stat.S_IRGRP | stat.S_IROTH | (stat.S_IXGRP | stat.S_IXOTH if p.is_dir() else 0)
        assert mode(p) & need == need and not mode(p) & 0o022, (p, oct(mode(p)))


def test_rewriting_a_file_keeps_its_own_permissions(tmp_path, umask):
    """As open(path, 'w') on an existing file: the file's mode stays what its owner made it."""
    umask(0o022)
    p = tmp_path / "r.json"
    write_json(p, {"a": 1})
    os.chmod(p, 0o600)
    write_json(p, {"a": 2})
    assert mode(p) == 0o600 and json.loads(p.read_text()) == {"a": 2}


# --- scripts/demo.sh: --help, and never deleting what it did not make --------------------------------

@pytest.fixture
def fake_python(tmp_path):
    """A 'python' for the demo that only records each call (argv, one line) and exits 0: the demo's
    commands without their work."""
    log = tmp_path / "calls.log"
    py = tmp_path / "fakepy"
    py.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{log}"\ncat > /dev/null\nexit 0\n')
    py.chmod(0o755)
    return py, log


def run_demo(*args, cwd):
    return subprocess.run(["bash", str(DEMO), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_demo_help_prints_usage_and_touches_nothing(tmp_path, flag, fake_python):
    py, log = fake_python
    work = tmp_path / "demo_run"                     # the default WORKDIR, relative to the cwd
    (work / "Human3.6M").mkdir(parents=True)
    (work / "model_best.bin").write_bytes(b"a trained model")
    (work / ".vp3d_demo").write_text("even a demo-made folder stays")
    before = snapshot(work)
    for args in ([flag], [py, flag], [py, work, flag]):
        r = run_demo(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Usage: scripts/demo.sh [PYTHON] [WORKDIR]") and "WORKDIR" in r.stdout
        assert snapshot(work) == before
    assert not log.exists()                          # nothing ran


def test_demo_refuses_a_folder_it_did_not_make(tmp_path, fake_python):
    py, log = fake_python
    work = tmp_path / "my_results"
    (work / "sub").mkdir(parents=True)
    (work / "model_best.bin").write_bytes(b"a model trained for days")
    (work / "sub" / "notes.txt").write_text("keep me")
    before = snapshot(work)
    r = run_demo(py, work, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(work) in lines[0], r.stderr
    assert snapshot(work) == before and sorted(p.name for p in work.iterdir()) == ["model_best.bin", "sub"]
    assert not log.exists()                          # refused before any work


@pytest.mark.parametrize("args", [["--max-minutes"], ["a", "b", "c"]])
def test_demo_rejects_unknown_options_and_extra_arguments(tmp_path, args):
    work = tmp_path / "demo_run"
    work.mkdir()
    (work / "keep").write_text("x")
    r = run_demo(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert (work / "keep").read_text() == "x"


@pytest.mark.parametrize("state", ["absent", "empty", "made_by_demo"])
def test_demo_replaces_only_what_it_made_and_does_a_fixed_amount_of_work(tmp_path, fake_python, state):
    """With a recording 'python' the demo runs through in a moment: it marks its folder, trains a
    fixed number of epochs with no time budget, keeps the best epoch as model_best.bin, and exports
    and evaluates that one."""
    py, log = fake_python
    work = tmp_path / "run"
    if state != "absent":
        work.mkdir()
    if state == "made_by_demo":
        (work / ".vp3d_demo").write_text("")
        (work / "old_result.json").write_text("{}")
    r = run_demo(py, work, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in work.iterdir()) == [".vp3d_demo"]     # the old run is gone, marker kept
    calls = log.read_text().splitlines()
    train_call = next(c for c in calls if c.startswith("vp3d_train.py"))
    argv = train_call.split()
    assert "--max-minutes" not in argv
    assert int(argv[argv.index("-e") + 1]) >= 1
    assert argv[argv.index("-o") + 1] != argv[argv.index("--best") + 1] == f"{work}/model_best.bin"
    exports = [c.split() for c in calls if c.startswith("vp3d_pth2onnx.py")]
    assert [e[e.index("-m") + 1] for e in exports] == [f"{work}/untrained.bin", f"{work}/model_best.bin"]
    quantized = [c.split() for c in calls if c.startswith("vp3d_quantize.py")]       # int8 of the trained one
    assert [q[q.index("--model") + 1] for q in quantized] == [f"{work}/model_best.onnx"]


def test_demo_ends_by_lifting_a_coco_json_it_wrote(tmp_path, fake_python):
    """The demo's last stage, in order: COCO-order 2D of the same data, a COCO-order model trained a fixed
    number of epochs, a COCO results JSON written, lifted with that model to JSON, BVH and npz, and
    rendered beside the same JSON."""
    py, log = fake_python
    work = tmp_path / "run"
    r = run_demo(py, work, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    calls = [c.split() for c in log.read_text().splitlines()]
    synth = [c for c in calls if c[0] == "vp3d_synthesize.py"]
    assert len(synth) == 2 and synth[1][synth[1].index("--layout") + 1] == "coco"
    assert synth[0][synth[0].index("-o") + 1] == synth[1][synth[1].index("-o") + 1] == f"{work}/Human3.6M"
    train = [c for c in calls if c[0] == "vp3d_train.py"]
    assert len(train) == 2 and train[1][train[1].index("-k") + 1] == "detectron_pt_coco"
    coco = train[1]
    assert "--max-minutes" not in coco and 1 <= int(coco[coco.index("-e") + 1]) <= 4
    model = coco[coco.index("--best") + 1]
    writes = [i for i, c in enumerate(calls) if c[0] == "-" and c[-1].endswith(".json") and len(c) == 3]
    assert len(writes) == 1
    keypoints = calls[writes[0]][-1]
    lifts = [(i, c) for i, c in enumerate(calls) if c[0] == "vp3d_lift.py"]
    assert sorted(c[c.index("-o") + 1] for _, c in lifts) == [f"{work}/lifted.{x}" for x in ("bvh", "json", "npz")]
    for i, c in lifts:
        assert i > writes[0] > calls.index(coco) and c[1] == keypoints and c[c.index("-m") + 1] == model
        assert "--image-size" in c
    render, = [(i, c) for i, c in enumerate(calls) if c[0] == "vp3d_render.py"]
    i, c = render
    assert i > max(j for j, _ in lifts) and c[1] == f"{work}/lifted.npz"
    assert c[c.index("--keypoint-file") + 1] == keypoints and c[c.index("-o") + 1] == f"{work}/lifted.gif"
    assert int(c[c.index("--frames") + 1]) == 100
    assert calls[-1][0] == "-" and calls[-1][1:] == [str(work)]          # the summary line comes last


# --- training keeps the best epoch -------------------------------------------------------------------

TRAIN_ACTIONS = {"S1": ["Directions", "Walking"], "S5": ["Directions 1", "Walking 1"],
                 "S9": ["Directions", "Walking"], "S11": ["Walking 1"]}
SYMMETRY = (Symmetry(*KEYPOINTS_SYMMETRY), Symmetry([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]))


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    pos3d, pos2d = make_positions(TRAIN_ACTIONS, seed=2, frames=(60, 100))
    return write_dataset(tmp_path_factory.mktemp("h36m_best"), pos3d, pos2d)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def validation_mpjpe(path: Path, sequences) -> float:
    """Action-wise mean MPJPE (mm) of the checkpoint at `path` on whole sequences, computed here from
    scratch: edge padding, the mirrored input (x negated, left/right swapped) averaged back in, the
    ground truth's root zeroed, per-action frame-weighted means."""
    model = checkpoint.load(path).eval()
    pad = model.receptive_field // 2
    kp, jp = SYMMETRY[0].permutation(17), SYMMETRY[1].permutation(17)
    per_action: dict[str, list[float]] = {}
    for seq in sequences:
        x = np.pad(seq.poses_2d, ((pad, pad), (0, 0), (0, 0)), mode="edge")
        xm = x[:, kp] * np.array([-1, 1], np.float32)
        with torch.no_grad():
            y, ym = model(torch.from_numpy(np.stack([x, xm]).astype(np.float32))).numpy()
        pred = (y + ym[:, jp] * np.array([-1, 1, 1], np.float32)) / 2
        gt = seq.poses_3d.copy()
        gt[:, 0] = 0
        errors = np.sqrt(((pred - gt) ** 2).sum(-1)).mean(-1)             # per frame
        per_action.setdefault(seq.group, []).extend(errors)
    return 1000 * float(np.mean([np.mean(v) for v in per_action.values()]))


def test_training_keeps_the_best_validation_epoch_apart_from_the_last(train_dir, tmp_path, one_thread):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    # a learning rate high enough that validation error goes up again before the end
    config = TrainConfig(filter_widths=(3, 3), channels=32, epochs=5, batch_size=128, dropout=0.0, learning_rate=0.1)
    last, best = tmp_path / "last.bin", tmp_path / "best.bin"
    _, history = train(config, data, output=last, best=best)
    vals = [h.val_mpjpe_mm for h in history]
    best_epoch = 1 + int(np.argmin(vals))
    assert best_epoch < len(history), f"this run's validation error never rose again: {vals}"
    assert checkpoint.load_raw(best)["epoch"] == best_epoch and checkpoint.load_raw(last)["epoch"] == len(history)
    best_mm, last_mm = validation_mpjpe(best, data.test), validation_mpjpe(last, data.test)
    assert best_mm == pytest.approx(min(vals), rel=1e-4) and last_mm == pytest.approx(vals[-1], rel=1e-4)
    assert best_mm < last_mm


def test_without_validation_no_best_file_is_written(train_dir, tmp_path, one_thread):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    config = TrainConfig(filter_widths=(3,), channels=8, epochs=1, batch_size=128, validate=False)
    train(config, data, output=tmp_path / "last.bin", best=tmp_path / "best.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.bin"]


def test_train_cli_writes_last_and_best(train_dir, tmp_path, capsys, one_thread):
    out = tmp_path / "model.bin"
    base = ["-d", str(train_dir), "--subjects-train", "S1,S5", "--subjects-test", "S9,S11", "-arc", "3,3",
            "--channels", "32", "-b", "128", "--dropout", "0", "-lr", "0.1", "--threads", "1", "--device", "cpu"]
    assert vp3d_train.main([*base, "-e", "5", "-o", str(out)]) == 0
    text = capsys.readouterr()
    vals = [float(v) for v in re.findall(r"val MPJPE\s+([\d.]+) mm", text.out + text.err)]
    best = tmp_path / "model_best.bin"                             # the default: OUTPUT's stem + _best
    assert len(vals) == 5 and sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model_best.bin"]
    assert checkpoint.load_raw(best)["epoch"] == 1 + int(np.argmin(vals))
    assert checkpoint.load_raw(out)["epoch"] == 5
    assert f"wrote {best}: best epoch, {1 + int(np.argmin(vals))}" in text.out
    # an explicit --best, and --no-eval writing no best file
    other = tmp_path / "elsewhere" / "chosen.bin"
    assert vp3d_train.main([*base, "-e", "1", "-o", str(tmp_path / "m2.bin"), "--best", str(other)]) == 0
    assert other.is_file() and not (tmp_path / "m2_best.bin").exists()
    assert vp3d_train.main([*base, "-e", "1", "-o", str(tmp_path / "m3.bin"), "--no-eval"]) == 0
    assert not (tmp_path / "m3_best.bin").exists()


@pytest.mark.parametrize("extra", [["--best", "{out}"], ["--best", "{dir}/b.bin", "--no-eval"]])
def test_train_cli_refuses_best_that_cannot_work(train_dir, tmp_path, extra):
    out = tmp_path / "m.bin"
    argv = ["-d", str(train_dir), "-o", str(out)] + [e.format(out=out, dir=tmp_path) for e in extra]
    with pytest.raises(SystemExit) as e:
        vp3d_train.main(argv)
    assert e.value.code == 2 and not list(tmp_path.iterdir())


# --- postprocess: the figure format its name says ----------------------------------------------------

@pytest.fixture(scope="module")
def scored(tiny_dataset, tiny_checkpoints, tmp_path_factory):
    """Preprocessed tiny data and predictions of the tiny model, as ais_bench would write them."""
    d = tmp_path_factory.mktemp("scored")
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(d / "prep"), "-arc", "3,3,3",
                                 "--max-length", "120"]) == 0
    m = Manifest.read(d / "prep")
    model = checkpoint.load(tiny_checkpoints["conv2d"])
    for run in ("2026_01_01-10_00_00", "2026_01_02-09_00_00"):
        for e in m.entries:
            x = read_array(d / "prep" / "inputs" / f"{e.name}.bin", m.input_shape(e))
            with torch.inference_mode():
                write_array(d / "results" / run / f"{e.name}_0.bin", model(torch.from_numpy(x)).numpy())
    os.utime(d / "results" / "2026_01_01-10_00_00", (2e9, 2e9))       # the older name, modified last
    return d


MAGIC = {"png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
         "pdf": lambda b: b.startswith(b"%PDF-"),
         "svg": lambda b: b.lstrip().startswith(b"<?xml") and b"<svg" in b[:2000]}


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf", "SVG"])
def test_plot_writes_the_format_its_suffix_names(scored, tmp_path, suffix):
    fig = tmp_path / f"results.{suffix}"
    assert vp3d_postprocess.main(["--preprocess-data", str(scored / "prep"), "--infer-results",
                                  str(scored / "results" / "2026_01_02-09_00_00"), "--plot", str(fig)]) == 0
    data = fig.read_bytes()
    assert MAGIC[suffix.lower()](data), data[:40]
    assert sum(check(data) for check in MAGIC.values()) == 1


@pytest.mark.parametrize("name", ["results.jpg", "results", "results.png.txt"])
def test_plot_refuses_other_formats_before_any_work(scored, tmp_path, capsys, name):
    """The figure's name is checked first: even with missing inputs, the error is about the figure,
    and nothing (not even --json) is written."""
    rc = vp3d_postprocess.main(["--preprocess-data", str(tmp_path / "missing"), "--infer-results",
                                str(tmp_path / "missing_too"), "--json", str(tmp_path / "r.json"),
                                "--plot", str(tmp_path / name)])
    one_line_error(capsys, rc, name, ".png, .svg or .pdf")
    assert not list(tmp_path.iterdir())


# --- choosing among several inference runs -----------------------------------------------------------

def test_several_runs_are_all_listed_with_how_to_choose(scored, capsys):
    rc = vp3d_postprocess.main(["--preprocess-data", str(scored / "prep"), "--infer-results", str(scored / "results")])
    line = one_line_error(capsys, rc, "2 result directories", "2026_01_01-10_00_00", "2026_01_02-09_00_00",
                          "--infer-results")
    # the newest is the one modified last, whatever its name
    assert line.endswith(str(scored / "results" / "2026_01_01-10_00_00"))


# --- inference summary: no claim of an NPU on a CPU run ----------------------------------------------

def test_cpu_summary_claims_no_npu(tmp_path, capsys):
    ckpt = tmp_path / "m.bin"
    checkpoint.save(ckpt, random_model((3,), 8), "conv1d")
    assert vp3d_infer.main(["--model", str(ckpt), "--loop", "2", "--length", "20", "--output", str(tmp_path / "out"),
                            "--output_dirname", "run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert not [k for k in summary if "npu" in k.lower()], sorted(summary)
    assert summary["device"] == "cpu" and summary["backend"] == "torch"
    assert len(summary["compute_time_list"]) == 2
    assert summary["compute_time"]["mean"] == pytest.approx(np.mean(summary["compute_time_list"]))
    assert "seed" not in out


# --- words a user sees -------------------------------------------------------------------------------

def test_no_internal_words_in_user_facing_text():
    """'the seed' (the recipe this project started from) means nothing to a user; ../shared is ours."""
    texts = [ROOT / "README.md", ROOT / "requirements.txt", *ROOT.glob("*.py"), *(ROOT / "scripts").iterdir(),
             *(ROOT / "vp3d").glob("*.py")]
    bad = re.compile(r"\bthe seed\b|\bseed recipe|\bseed's", re.I)
    found = [f"{p.name}: {line.strip()}" for p in texts for line in p.read_text().splitlines() if bad.search(line)]
    assert not found, found
    assert "../shared" not in (ROOT / "README.md").read_text()
