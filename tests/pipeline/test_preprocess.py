"""Stage 2, preprocess: inputs, ground truths and manifest written atomically, padding, lengths, refusals."""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from h36m_data import make_positions, small_dataset, write_dataset
from one_line_errors import one_line_error
from repo_paths import ROOT

import vp3d_preprocess
from vp3d.io.files import read_array
from vp3d.pipeline.sequences import Manifest, best_buckets


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# A preprocess run killed at a chosen write: the child counts the atomic writes (io.files.atomic_path), and at
# the chosen one leaves half the file in its temporary and sends itself SIGKILL, as a kill mid-write would.
KILLED_CHILD = """
import contextlib, os, signal, sys
from vp3d.io import files
import vp3d_preprocess
kill_at, calls, atomic = int(sys.argv[1]), 0, files.atomic_path

@contextlib.contextmanager
def dying(path):
    global calls
    with atomic(path) as tmp:
        yield tmp
        calls += 1
        if calls == kill_at:
            with open(tmp, "r+b") as f:
                f.truncate(os.path.getsize(tmp) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

files.atomic_path = dying
sys.exit(vp3d_preprocess.main(sys.argv[2:]))
"""


def test_kill_mid_write_leaves_no_half_written_file_and_a_rerun_completes(tmp_path):
    """Killed while writing the first input, one in the middle, the deltas and the manifest (the last
    write): every file under its own name is whole (byte for byte the uninterrupted run's), the one being
    written exists only as its temporary, and a plain re-run (no --force) finishes the job."""
    pos3d, pos2d = make_positions({"S9": ["Walking", "Greeting", "Eating"], "S11": ["Walking 1", "Phoning", "Eating"]},
                                  seed=5, frames=(60, 90))
    d = write_dataset(tmp_path / "data", pos3d, pos2d)
    out, complete = tmp_path / "out", tmp_path / "complete"
    args = ["-d", str(d), "-arc", "3,3", "--max-length", "120"]
    assert vp3d_preprocess.main([*args, "-s", str(complete)]) == 0
    expected = {p.relative_to(complete): p.read_bytes() for p in complete.rglob("*") if p.is_file()}
    writes = len(expected)                          # 24 sequences: inputs and ground truths, deltas, manifest
    assert writes == 2 * 24 + 2
    whole = lambda: {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name[0] != "."}
    for kill_at in (1, 17, writes - 1, writes):
        r = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(kill_at), *args, "-s", str(out)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
        done = whole()
        assert len(done) == kill_at - 1 and not (out / "manifest.json").exists()
        assert all(done[rel] == expected[rel] for rel in done)                 # nothing half-written
        temporaries = [p for p in out.rglob(".*.tmp")]
        assert len(temporaries) == 1                                           # the write that was cut short
        target = temporaries[0].parent / temporaries[0].name[1:].rsplit(".", 2)[0]
        assert not target.exists() and 0 < temporaries[0].stat().st_size < len(expected[target.relative_to(out)])
    assert vp3d_preprocess.main([*args, "-s", str(out)]) == 0                  # no --force needed to finish
    assert whole() == expected and not list(out.rglob(".*"))


def test_failed_forced_run_keeps_the_previous_output(tmp_path, capsys):
    d = small_dataset(tmp_path)
    out = tmp_path / "out"
    assert vp3d_preprocess.main(["-d", str(d), "-s", str(out), "-arc", "3,3", "--max-length", "500"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(out), "-arc", "3,3", "--max-length", "50", "--force"])
    one_line_error(capsys, rc, "--max-length must be at least")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


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


def test_preprocess_buckets_chosen_from_the_data(tiny_dataset, tmp_path, capsys):
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(tmp_path / "p"), "-arc", "3,3,3", "--buckets", "3"]) == 0
    m = Manifest.read(tmp_path / "p")
    needed = [e.frames + 26 for e in m.entries]
    assert m.lengths == best_buckets(needed, 3) and len(m.lengths) == 3
    assert f"export with vp3d_pth2onnx.py --length {','.join(map(str, m.lengths))}" in capsys.readouterr().out
    for given in (["--max-length", "200"], ["--max-length=200"], ["--max", "200"]):    # argparse takes abbreviations
        with pytest.raises(SystemExit):
            vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(tmp_path / "q"), "--buckets", "3", *given])
    assert not (tmp_path / "q").exists()


def preprocess(dataset, out, length, *extra):
    assert vp3d_preprocess.main(["-d", str(dataset), "-s", str(out), "-arc", "3,3,3",
                                 "--max-length", str(length), *extra]) == 0
    return Manifest.read(out)


def test_causal_preprocess_shifts_padding(tiny_dataset, tmp_path):
    m = preprocess(tiny_dataset, tmp_path / "causal", 120, "--causal")
    assert m.causal
    x = read_array(tmp_path / "causal" / "inputs" / "001_Directions.bin", (2, 120, 17, 2))
    assert (x[0, :26] == x[0, 26]).all()        # all 26 context frames in the past
    assert not (x[0, 26] == x[0, 27]).all()


def test_too_short_max_length_names_the_sequence(tiny_dataset, tmp_path, capsys):
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(tmp_path / "o"), "-arc", "3,3,3",
                                 "--max-length", "60"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: S") and "--max-length must be at least" in err and "\n" not in err
    assert not (tmp_path / "o" / "inputs").exists()


@pytest.mark.parametrize("argv", [["-arc", "3,2"], ["--max-length", "-5"], ["--max-length", "2048,0"], ["--max-length", "x"]])
def test_bad_flags_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as e:
        vp3d_preprocess.main(["-d", str(tmp_path), "-s", str(tmp_path / "o"), *argv])
    assert e.value.code == 2


def test_the_ascend_recipes_dataset_spelling_writes_what_d_writes(tiny_dataset, tmp_path, capsys):
    """The Ascend recipe documents '-d, --dataset' as the folder: `--dataset DIR` preprocesses as `-d DIR` does
    (the same inputs, byte for byte); an unknown name that is no folder is one line."""
    args = ["-s", str(tmp_path / "a"), "-arc", "3,3,3", "--max-length", "120"]
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), *args]) == 0
    args[1] = str(tmp_path / "b")
    assert vp3d_preprocess.main(["--dataset", str(tiny_dataset), *args]) == 0
    made = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.bin"))
    assert len(made) == len(Manifest.read(tmp_path / "a").entries) * 2 > 0       # an input and a ground truth each
    for p in made:
        assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes(), p
    capsys.readouterr()
    assert vp3d_preprocess.main(["--dataset", str(tmp_path / "nowhere"), "-s", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere: no such dataset directory" in err, err
