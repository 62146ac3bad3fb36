"""Data-parallel training: torchrun with 2 processes (gloo, CPU) gives the weights of 1 process on the same global
batch, to 1e-5 after an epoch; batch norm's statistics are the global batch's; the same checkpoint format."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

import vp3d_train
from vp3d.model import checkpoint
from vp3d.training.batches import share
from vp3d.training.distributed import CpuSyncBatchNorm

import train_case
from repo_paths import ROOT



def test_shares_split_a_batch_into_consecutive_parts():
    for n in (0, 1, 5, 8, 1023):
        for world in (1, 2, 3):
            parts = [share(n, r, world) for r in range(world)]
            assert np.concatenate([np.arange(n)[p] for p in parts]).tolist() == list(range(n))
            assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


def test_synchronised_batch_norm_computes_what_batch_norm_computes():
    """One process in a group: CpuSyncBatchNorm's output, gradients and running statistics are BatchNorm1d's."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = torch.nn.BatchNorm1d(6, momentum=0.3)
        with torch.no_grad():
            plain.weight.uniform_(0.5, 1.5)
            plain.bias.uniform_(-0.5, 0.5)
        synced = CpuSyncBatchNorm(6, momentum=0.3)
        synced.load_state_dict(plain.state_dict())
        for shape in [(40, 6), (7, 6, 5)]:
            x = torch.randn(*shape) * 3 + 1
            xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
            ya, yb = plain(xa), synced(xb)
            torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-5)
            (ya * torch.arange(ya.numel()).reshape(ya.shape)).sum().backward()
            (yb * torch.arange(yb.numel()).reshape(yb.shape)).sum().backward()
            torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(synced.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-3)
            torch.testing.assert_close(synced.bias.grad, plain.bias.grad, rtol=1e-4, atol=1e-3)
            for key in ("running_mean", "running_var", "num_batches_tracked"):
                torch.testing.assert_close(synced.state_dict()[key], plain.state_dict()[key])
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_train_what_one_trains(tmp_path, capsys):
    """torchrun --nproc-per-node 2 (gloo) against one process: supervised, dropout on (every process draws the
    global batch's masks and keeps its rows), one epoch of 6 batches."""
    inputs = train_case.write_train_inputs(tmp_path / "inputs")
    args = ["-d", str(inputs.data), "-k", train_case.KEYPOINTS, "-arc", "3,3,3", "-ch", "16", "-e", "1",
            "--dropout", "0.2", "-b", "1024", "-str", "S9", "-ste", "S11", "--seed", "3", "--threads", "1"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert vp3d_train.main(args + ["-o", str(tmp_path / "one" / "last.bin")]) == 0
    finally:
        torch.set_num_threads(threads)
    one_line = re.search(r"^\[1\] .*$", capsys.readouterr().out, re.M).group(0)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(ROOT / "vp3d_train.py"), *args, "-o", str(tmp_path / "two" / "last.bin")],
                       cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 processes" in r.stdout and len(re.findall(r"^\[1\] ", r.stdout, re.M)) == 1   # process 0 prints
    two_line = re.search(r"^\[1\] .*$", r.stdout, re.M).group(0)
    one, two = (checkpoint.load_raw(tmp_path / run / "last.bin") for run in ("one", "two"))
    assert set(one) == set(two) and one["model_args"] == two["model_args"] and two["epoch"] == 1
    assert set(one["model_pos"]) == set(two["model_pos"]) >= {"expand_conv.weight", "shrink.weight"}
    for key, value in one["model_pos"].items():
        if value.is_floating_point():
            error = float((two["model_pos"][key] - value).norm() / value.norm())
            assert error <= 1e-5, f"{key}: relative difference {error:.2e}"
        else:
            assert torch.equal(two["model_pos"][key], value), key
    assert one_line.split()[5::2] == two_line.split()[5::2] == ["3d_train", "3d_eval", "3d_valid"]
    for name, a, b in zip(one_line.split()[5::2], map(float, one_line.split()[6::2]), map(float, two_line.split()[6::2])):
        assert a == pytest.approx(b, abs=0.01), (name, one_line, two_line)
    assert checkpoint.load(tmp_path / "two" / "last.bin").config == checkpoint.load(tmp_path / "one" / "last.bin").config
