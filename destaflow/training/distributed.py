"""One process per device: the torchrun environment as a small record, and the few collectives the loop needs.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE (and the rendezvous address); with WORLD_SIZE > 1 the process
group starts with NCCL on CUDA and gloo on CPU. Without torchrun everything degrades to one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Env:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this process started the process group (and so ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> Env:
    """Join the process group torchrun describes (a no-op for one process); pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    owns_group = world_size > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    return Env(rank, local_rank, world_size, device, owns_group)


def close_distributed(env: Env) -> None:
    """End the process group if this process started it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(env: Env, *values: float) -> list[float]:
    """Sum numbers over all processes (float64, so token counts and loss sums stay exact enough)."""
    if not env.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=env.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_tensors(env: Env, tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's copy of a small tensor (here: RNG states), on the CPU, in rank order."""
    if not env.distributed:
        return [tensor.cpu()]
    gathered: list = [None] * env.world_size
    dist.all_gather_object(gathered, tensor.cpu())
    return gathered


def barrier(env: Env) -> None:
    if env.distributed:
        dist.barrier()
