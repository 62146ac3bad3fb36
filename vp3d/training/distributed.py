"""Data-parallel training: torch.distributed processes started by torchrun, DistributedDataParallel, and batch
norm synchronised across them, so that P processes compute what one computes on the same global batch.

Every process builds the same batches (the same seeded order) and takes its consecutive share of each
(batches.Batch.part). Losses are sums over the process's share divided by the global count, so that DDP's
average of the gradients is the gradient of the global batch's mean; batch norm's statistics are the global
batch's (torch.nn.SyncBatchNorm on GPUs; on CPUs, where it does not run, CpuSyncBatchNorm below). Process 0
evaluates, prints and writes the checkpoints, which are the same files as one process writes. Why torchrun and
DDP (not Ray Train): docs/training.md.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over processes, differentiable (its gradient flows back to every process's share)."""
        return summed(tensor) if self.parallel else tensor

    def total(self, values: list[float], device) -> list[float]:
        """Numbers summed over processes (no gradient): the epoch's loss sums for the printed errors."""
        if not self.parallel:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def agree(self, flag: bool, device) -> bool:
        """Process 0's decision, for every process (stop now?)."""
        if not self.parallel:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.broadcast(t, 0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.parallel:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (from_environment joined it): explicitly, as torch asks, not in the interpreter's
        teardown, where gloo's threads could end the process with 'terminate called without an active exception'."""
        if self.parallel and dist.is_initialized():
            gc.collect()                        # the DDP wrappers hold the group: gone before it is destroyed
            dist.destroy_process_group()


def summed(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over all processes; differentiable (the gradient is summed over them too)."""
    from torch.distributed._functional_collectives import all_reduce, wait_tensor
    return wait_tensor(all_reduce(tensor, "sum", dist.group.WORLD))


def from_environment(device: str) -> Processes:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in the
    environment): NCCL on GPUs (each process on the GPU of its LOCAL_RANK), gloo on CPUs. One process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=timedelta(hours=2))
    return Processes(dist.get_rank(), dist.get_world_size())


def local_device(device: str) -> str:
    """`device` for this process: with several GPUs on a machine, the one of its LOCAL_RANK."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        index = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(index)
        return f"cuda:{index}"
    return device


class CpuSyncBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch across processes, on CPUs (gloo):
    the mean from the summed sums and counts, then the variance from the summed squared deviations (two
    differentiable all-reduces). Eval mode and the state dict are BatchNorm1d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]                      # every axis but the channels (1)
        shape = [1, -1, *[1] * (x.dim() - 2)]
        local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() // x.shape[1])])
        total = summed(local)
        count = total[-1]
        mean = total[:-1] / count
        centered = x - mean.reshape(shape)
        var = summed((centered * centered).sum(dims)) / count
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * count / (count - 1))
            self.num_batches_tracked.add_(1)
        return centered * torch.rsqrt(var + self.eps).reshape(shape) * self.weight.reshape(shape) \
            + self.bias.reshape(shape)


def synchronise_batch_norm(model: nn.Module, device: str) -> nn.Module:
    """`model` with every batch norm synchronised across processes: new batch-norm modules (and parameters),
    holding the old ones' state."""
    if device.startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm1d:
                sync = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum)
                sync.load_state_dict(child.state_dict())
                setattr(module, name, sync)
    return model
