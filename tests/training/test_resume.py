"""A training run killed and resumed from its last checkpoint ends exactly where the uninterrupted run ends.

Semi-supervised with dropout, so that everything an exact continuation needs is exercised: weights, the optimizer,
the labeled generator's RandomState, the unlabeled generator's position within its pass and the dropout masks'
generator. Single thread on the CPU, where every run computes the same numbers.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vp3d_train
from vp3d.model import checkpoint

import train_case
from repo_paths import ROOT


# A vp3d_train.py run that kills itself (SIGKILL) at a chosen point: 'step N' as the N-th optimizer step begins,
# 'write N' halfway through the N-th checkpoint write (half the file in its temporary, as a kill mid-write leaves).
KILLED_CHILD = """
import contextlib, os, signal, sys
import torch
from vp3d.io import files
import vp3d_train
what, n = sys.argv[1], int(sys.argv[2])
count = {"step": 0, "write": 0}
step, atomic = torch.optim.Adam.step, files.atomic_path

def dying_step(self, *args, **kwargs):
    count["step"] += 1
    if what == "step" and count["step"] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args, **kwargs)

@contextlib.contextmanager
def dying_write(path):
    with atomic(path) as tmp:
        yield tmp
        count["write"] += 1
        if what == "write" and count["write"] == n:
            with open(tmp, "r+b") as f:
                f.truncate(os.path.getsize(tmp) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

torch.optim.Adam.step, files.atomic_path = dying_step, dying_write
sys.exit(vp3d_train.main(sys.argv[3:]))
"""


def args(inputs, out: Path) -> list[str]:
    """3 epochs semi-supervised from scratch, dropout on, no per-epoch evaluation (quicker; not what is tested)."""
    return ["-d", str(inputs.data), "-k", train_case.KEYPOINTS, "-arc", "3,3,3", "-ch", "16", "-e", "3",
            "--dropout", "0.2", "-b", "1024", "-str", "S9", "-ste", "S11", "-sun", "S11", "--warmup", "1",
            "--no-eval", "--threads", "1", "--seed", "5", "-o", str(out / "last.bin")]


def state(path: Path) -> dict:
    raw = checkpoint.load_raw(path)
    tensors = {f"pos.{k}": v for k, v in raw["model_pos"].items()}
    tensors.update({f"traj.{k}": v for k, v in raw["model_traj"].items()})
    for i, s in raw["optimizer"]["state"].items():
        tensors.update({f"adam.{i}.{k}": v for k, v in s.items()})
    return raw, tensors


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_killed_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_run(tmp_path, one_thread, capsys):
    inputs = train_case.write_train_inputs(tmp_path / "inputs")
    assert vp3d_train.main(args(inputs, tmp_path / "whole")) == 0
    whole, expected = state(tmp_path / "whole" / "last.bin")
    batches = 6                                           # 2828 frames x 2 (flips) / 1024 a batch, per epoch
    for kill, resumed_from in [("step 15", 2),            # mid epoch 3: continues from epoch 2's checkpoint
                               ("write 2", 1)]:           # while writing epoch 2's: epoch 1's file is whole
        out = tmp_path / kill.replace(" ", "_")
        r = subprocess.run([sys.executable, "-c", KILLED_CHILD, *kill.split(), *args(inputs, out)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
        assert checkpoint.load_raw(out / "last.bin")["epoch"] == resumed_from    # whole, the last finished epoch
        if kill.startswith("step"):
            assert (int(kill.split()[1]) - 1) // batches == resumed_from          # killed in the epoch after it
        capsys.readouterr()
        assert vp3d_train.main(args(inputs, out) + ["--resume", str(out / "last.bin")]) == 0
        assert f"This model was trained for {resumed_from} epochs" in capsys.readouterr().out
        raw, tensors = state(out / "last.bin")
        assert raw["epoch"] == 3 and raw["lr"] == whole["lr"]
        assert tensors.keys() == expected.keys()
        different = [k for k in expected if not torch.equal(tensors[k], expected[k])]
        assert not different, f"after {kill}: {different[:5]}"
        assert raw["random_state"].get_state()[2] == whole["random_state"].get_state()[2]
        assert raw["vp3d_resume"]["semi_position"] == whole["vp3d_resume"]["semi_position"]
