"""What a new user meets first: readable output files, a demo that keeps what it did not make, the
best epoch kept as "best", figures in the format their name says, errors that say how to choose."""
import re
import subprocess
from pathlib import Path

import pytest
from h36m_data import KEYPOINTS_SYMMETRY, make_positions, write_dataset
from one_line_errors import check_one_line_error, one_line_error
from repo_paths import ROOT

import vp3d_postprocess
from vp3d.facts.skeleton import Symmetry

DEMO = ROOT / "scripts" / "demo.sh"


# --- permissions: what open() would give -------------------------------------------------------------


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
    check_one_line_error(r.stderr, r.returncode, str(work))
    assert snapshot(work) == before and sorted(p.name for p in work.iterdir()) == ["model_best.bin", "sub"]
    assert not log.exists()                          # refused before any work


@pytest.mark.parametrize("args", [["--max-minutes"], ["a", "b", "c"]])
def test_demo_rejects_unknown_options_and_extra_arguments(tmp_path, args):
    work = tmp_path / "demo_run"
    work.mkdir()
    (work / "keep").write_text("x")
    r = run_demo(*args, cwd=tmp_path)
    check_one_line_error(r.stderr, r.returncode)
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
    assert [e[e.index("-m") + 1] for e in exports][:2] == [f"{work}/untrained.bin", f"{work}/model_best.bin"]
    quantized = [c.split() for c in calls if c.startswith("vp3d_quantize.py")]       # int8 of the trained one
    assert [q[q.index("--model") + 1] for q in quantized] == [f"{work}/model_best.onnx"]


def test_demo_ends_by_lifting_a_coco_json_it_wrote(tmp_path, fake_python):
    """The demo's last stage, in order: COCO-order 2D of the same data, a COCO-order model trained a fixed
    number of epochs and exported to ONNX (any length), a COCO results JSON written, lifted with that
    .onnx to JSON, BVH and npz (as the README's lifting command does), and rendered beside the same JSON."""
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
    export, = [c for c in calls if c[0] == "vp3d_pth2onnx.py" and c[c.index("-m") + 1] == coco[coco.index("--best") + 1]]
    assert "--dynamic" in export and calls.index(export) > calls.index(coco)
    model = export[export.index("-o") + 1]
    assert model.endswith(".onnx")
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


# --- postprocess: the figure format its name says ----------------------------------------------------


# --- choosing among several inference runs -----------------------------------------------------------

def test_several_runs_are_all_listed_with_how_to_choose(scored, capsys):
    rc = vp3d_postprocess.main(["--preprocess-data", str(scored / "prep"), "--infer-results", str(scored / "results")])
    line = one_line_error(capsys, rc, "2 result directories", "2026_01_01-10_00_00", "2026_01_02-09_00_00",
                          "--infer-results")
    # the newest is the one modified last, whatever its name
    assert line.endswith(str(scored / "results" / "2026_01_01-10_00_00"))


# --- inference summary: no claim of an NPU on a CPU run ----------------------------------------------


# --- words a user sees -------------------------------------------------------------------------------

def test_no_internal_words_in_user_facing_text():
    """'the seed' (the recipe this project started from) means nothing to a user; ../shared is ours."""
    texts = [ROOT / "README.md", ROOT / "requirements.txt", *ROOT.glob("*.py"), *(ROOT / "scripts").iterdir(),
             *(ROOT / "vp3d").rglob("*.py")]
    bad = re.compile(r"\bthe seed\b|\bseed recipe|\bseed's", re.I)
    found = [f"{p.name}: {line.strip()}" for p in texts for line in p.read_text().splitlines() if bad.search(line)]
    assert not found, found
    assert "../shared" not in (ROOT / "README.md").read_text()


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings (fenced code skipped): lower case, punctuation
    other than '-' and '_' dropped, spaces to '-'."""
    anchors, fenced = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_readme_puts_lifting_first_and_its_links_resolve():
    """The README is a user's: short, "Lift your own video" early (vp3d_lift.py's refusal of a video file
    names that section by its title), the rest in docs/; every local link and anchor, there and in
    docs/, resolves."""
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 300, len(lines)
    assert "## Lift your own video" in lines[:80]
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert docs and all(f"docs/{d.name}" in readme for d in docs), [d.name for d in docs]
    broken = []
    for page in [ROOT / "README.md", *docs, ROOT / "benchmarks" / "README.md"]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
            if "://" in target:
                continue
            path = (page.parent / target) if target else page
            if not path.exists() or (anchor and path.suffix == ".md" and anchor not in heading_anchors(path.read_text())):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, broken
