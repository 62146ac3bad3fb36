"""Corpus runs on Ray Data (vp3d_lift.py --ray) on one local cluster for the module: the same files, byte for
byte, as the in-process run, and a worker killed mid-run (SIGKILL) loses nothing."""
import os
import signal
import sys
from pathlib import Path

import pytest

import vp3d_lift
from vp3d import corpus
from vp3d.model.export import export_onnx

from random_models import random_model
from keypoint_writers import write_corpus

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow

W, H = 960, 540


@pytest.fixture(scope="module")
def cluster():
    """A private local Ray cluster of 2 CPUs (address 'local': never one found through RAY_ADDRESS or a cluster
    started earlier on the machine); the runs below find it connected and use it as is."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])     # KillOnce, for workers without tests/
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """The clips, the model, and the in-process run's outputs to compare with."""
    d = tmp_path_factory.mktemp("ray_corpus")
    write_corpus(d / "clips", W, H)
    export_onnx(random_model((3, 3, 3), 32, seed=31), d / "m.onnx", length=None)
    assert vp3d_lift.main(args(d, d / "local")) == 1
    return d


def args(d: Path, out: Path, *extra) -> list[str]:
    return [str(d / "clips"), "--recursive", "-m", str(d / "m.onnx"), "-o", str(out), "--image-size", f"{W}x{H}",
            *extra]


def statuses(out: Path) -> dict[str, str]:
    return {r["input"]: r["status"] for r in corpus.read_report(out / corpus.REPORT)}


def same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.glob("*.npz"))
    assert names == sorted(p.name for p in b.glob("*.npz")) and len(names) == 5
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_ray_lifts_the_same_files_as_the_in_process_run(cluster, corpus_dir, capsys, monkeypatch):
    """Inputs named relative to the current folder: the report and its error lines name them so, though the
    workers read them by absolute path."""
    out = corpus_dir / "ray"
    monkeypatch.chdir(corpus_dir)
    assert vp3d_lift.main(args(Path("."), Path("ray"), "--ray", "--workers", "2")) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: 2 of 7 inputs failed")
    same_files(corpus_dir / "local", out)
    assert {str(corpus_dir / k): v for k, v in statuses(out).items()} == statuses(corpus_dir / "local")
    assert sorted(statuses(out).values()) == ["error"] * 2 + ["ok"] * 5
    for row in corpus.read_report(out / corpus.REPORT):
        assert row["input"].startswith("clips/") and str(corpus_dir) not in row.get("error", "")
        assert row.get("error", row["input"]).startswith(row["input"])


class KillOnce(corpus.LiftWorker):
    """A worker that dies (SIGKILL, as the OOM killer or a lost machine does) the first time it meets
    sub/c.json, leaving sub/c.json.killed behind; Ray restarts it and retries its task."""

    def __call__(self, batch):
        for path in map(Path, map(str, batch["input"])):
            flag = path.with_name(path.name + ".killed")
            if path.name == "c.json" and not flag.exists():
                flag.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


def run_with(worker: type, corpus_dir, out):
    """The corpus's clips lifted on 2 Ray actors of class `worker` into `out`: (jobs, Summary)."""
    jobs = corpus.plan_jobs(corpus.expand_inputs([str(corpus_dir / "clips")], recursive=True), out)
    spec, options = corpus.ModelSpec(str(corpus_dir / "m.onnx")), corpus.LiftOptions(image_size=(W, H))
    return jobs, corpus.lift_corpus(jobs, out, spec, options, ray=corpus.LOCAL, workers=2, worker=worker,
                                    progress=False)


def test_a_worker_killed_mid_run_loses_nothing(cluster, corpus_dir):
    out = corpus_dir / "killed"
    jobs, summary = run_with(KillOnce, corpus_dir, out)
    assert (corpus_dir / "clips" / "sub" / "c.json.killed").exists()           # it did die
    assert [r["input"] for r in summary.rows] == [j.input for j in jobs]
    assert len(summary.failed) == 2
    same_files(corpus_dir / "local", out)
    assert statuses(out) == statuses(corpus_dir / "local")


class KillAlways(corpus.LiftWorker):
    """A worker whose process dies (SIGKILL, as a native crash or the OOM killer ends it) whenever it lifts
    sub/c.json: a poison input."""

    def __init__(self, *args):
        super().__init__(*args)
        lift = self.lifter.lift_sequences

        def crash(seqs, *a, **k):
            if any(Path(s.source).name == "c.json" for s in seqs):
                os.kill(os.getpid(), signal.SIGKILL)
            return lift(seqs, *a, **k)
        self.lifter.lift_sequences = crash


def test_an_input_that_kills_its_worker_every_time_is_an_error_line(cluster, corpus_dir):
    """Ray restarts a killed actor and retries its task without end; vp3d counts the deaths per input
    (corpus.DeathLedger) and after MAX_DEATHS reports the input as an error line, lifting the others."""
    out = corpus_dir / "poison"
    _, summary = run_with(KillAlways, corpus_dir, out)
    by = {Path(r["input"]).relative_to(corpus_dir / "clips").as_posix(): r for r in summary.rows}
    assert by["sub/c.json"]["status"] == "error"
    assert f"killed its worker process {corpus.MAX_DEATHS} times" in by["sub/c.json"]["error"]
    assert sorted(n for n, r in by.items() if r["status"] == "ok") == ["a.json", "b.csv", "sub/a.json", "two.npz"]
    local = sorted((corpus_dir / "local").glob("*.npz"))
    assert [p.name for p in local] == ["a.npz", "b.npz", "sub_a.npz", "sub_c.npz", "two.npz"]   # the good inputs
    for p in local:
        if p.name != "sub_c.npz":
            assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    assert not (out / "sub_c.npz").exists() and not (out / corpus.LEDGER).exists()
