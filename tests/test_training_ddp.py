"""Two CPU processes (gloo) train like one: the same averaged gradient, the same logged loss."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch
import torch.multiprocessing as mp

from destaflow.training.data import TapSource, read_examples
from destaflow.training.distributed import Env, close_distributed, init_distributed
from destaflow.training.launch import launch_command
from destaflow.training.loop import build_model, forward_backward, train_adapter
from destaflow.training.settings import process_share, resolve_settings
from test_training import make_dataset, model_dirs

pytestmark = pytest.mark.slow  # trains on real (tiny) backbones in several processes

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

ROOT = Path(__file__).resolve().parent.parent
# dropout off: the processes draw different dropout masks than one process would
SETTINGS = {"num_queries": 8, "dropout": 0.0, "global_batch": 4, "micro_batch": 2, "threads": 1, "cache": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dirs(request) -> tuple[str, str]:
    return model_dirs(request)


@pytest.fixture(scope="module")
def data(tmp_path_factory, dirs) -> dict[str, Path]:
    return make_dataset(tmp_path_factory.mktemp("clips"))


def test_launch_command_runs_one_entry_process_per_device():
    argv = ["--settings", "s.json", "--out", "o"]
    command = launch_command(4, argv)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[3:] == ["--standalone", "--nproc_per_node", "4", "-m", "destaflow.training.entry", *argv]
    with pytest.raises(ValueError):
        launch_command(1, argv)  # one process trains in the job's own process (launch.run_training)


def connector_gradient(env: Env, dirs, train_parquet) -> dict[str, torch.Tensor]:
    """One micro-step on the global batch (the first 4 examples), this process's share of it."""
    settings = resolve_settings(SETTINGS)
    model = build_model(settings, *dirs, env)
    connector = model.connector
    if env.distributed:
        connector = torch.nn.parallel.DistributedDataParallel(model.connector)
    taps = TapSource(model, None, trim=True, whisper_dir=dirs[0])
    examples = process_share(read_examples(train_parquet)[:4], env)
    forward_backward(model, connector, examples, taps, settings, env)
    return {name: p.grad.clone() for name, p in model.connector.named_parameters()}


def gradient_worker(rank: int, world_size: int, port: int, dirs, train_parquet: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    env = init_distributed()
    try:
        gradient = connector_gradient(env, dirs, train_parquet)
        torch.save(gradient, f"{out}.{rank}")
    finally:
        close_distributed(env)


def test_two_processes_average_to_the_single_process_gradient(data, dirs, tmp_path):
    out = str(tmp_path / "gradient")
    mp.spawn(gradient_worker, args=(2, free_port(), dirs, str(data["train"]), out), nprocs=2, join=True)
    single = connector_gradient(Env(), dirs, str(data["train"]))
    for rank in range(2):
        averaged = torch.load(f"{out}.{rank}", weights_only=True)
        assert set(averaged) == set(single)
        for name in single:
            torch.testing.assert_close(averaged[name], single[name], atol=1e-5, rtol=1e-4, msg=f"rank {rank}: {name}")


def test_torchrun_training_logs_the_loss_of_one_process(data, dirs, tmp_path):
    settings = SETTINGS | {"epochs": 1, "warmup_steps": 1, "eval_samples": 1, "sample_tokens": 4, "checkpoint_every": 0}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    common = ["--settings", str(tmp_path / "settings.json"), "--whisper", dirs[0], "--llm", dirs[1], "--train", str(data["train4"]), "--valid", str(data["valid"])]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        launch_command(2, [*common, "--out", str(tmp_path / "two")]), cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["steps"] == 1

    train_adapter(settings, *dirs, str(data["train4"]), str(data["valid"]), None, str(tmp_path / "one"))
    two, one = (pl.read_csv(tmp_path / name / "log.csv") for name in ("two", "one"))
    assert two["tokens"].to_list() == one["tokens"].to_list()
    assert two["loss"].to_list() == pytest.approx(one["loss"].to_list(), abs=1e-5)
    two, one = (pl.read_csv(tmp_path / name / "valid.csv") for name in ("two", "one"))
    assert two["valid_loss"].item() == pytest.approx(one["valid_loss"].item(), abs=1e-4)
    assert (tmp_path / "two" / "adapter" / "connector.safetensors").exists()
