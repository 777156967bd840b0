"""A training run's logs: log.csv (one row per optimiser step), valid.csv (one per epoch), probe.csv, samples.jsonl,
and TensorBoard events under tensorboard/ when torch.utils.tensorboard imports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from destaflow.atomic import atomic_path
from destaflow.evaluation.probe import PROBE_COLUMNS
from destaflow.training.distributed import Env

STEP_COLUMNS = ["step", "epoch", "loss", "lr", "tokens", "seconds"]
VALID_COLUMNS = ["epoch", "step", "valid_loss", "valid_tokens", "train_truncated", "valid_truncated"]
PROBE_LOG_COLUMNS = ["epoch", "step", *PROBE_COLUMNS]


def tensorboard_writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(path))


class RunLogs:
    """log.csv, valid.csv, samples.jsonl (+ TensorBoard), cut back to the checkpoint a run resumes from.

    Rows are appended and flushed as they come; a run killed mid-line leaves a partial row that the next
    resume drops (the files are rewritten atomically there, keeping only what the checkpoint covers).
    """

    def __init__(self, out: Path, env: Env, step: int, epochs_done: int) -> None:
        self.enabled = env.is_main
        if not self.enabled:
            return
        keep_step = lambda row: int(row["step"]) <= step  # noqa: E731
        keep_epoch = lambda row: int(row["epoch"]) <= epochs_done  # noqa: E731
        self.steps = self._reopen_csv(out / "log.csv", STEP_COLUMNS, keep_step)
        self.valid = self._reopen_csv(out / "valid.csv", VALID_COLUMNS, keep_epoch)
        # the untrained connector's rows (epoch 0) are written again by a run that starts over from step 0
        keep_probe = lambda row: keep_epoch(row) and (step > 0 or int(row["epoch"]) > 0)  # noqa: E731
        self.probe = self._reopen_csv(out / "probe.csv", PROBE_LOG_COLUMNS, keep_probe)
        self.samples = self._reopen_jsonl(out / "samples.jsonl", keep_epoch)
        self.tensorboard = tensorboard_writer(out / "tensorboard")

    @staticmethod
    def _reopen_csv(path: Path, columns: list[str], keep):
        rows = []
        if path.exists():
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    try:
                        if None not in row.values() and keep(row):
                            rows.append(row)
                    except ValueError:
                        pass  # a partial last row
        with atomic_path(path) as tmp:
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, columns)
                writer.writeheader()
                writer.writerows(rows)
        handle = path.open("a", newline="")
        return handle, csv.DictWriter(handle, columns)

    @staticmethod
    def _reopen_jsonl(path: Path, keep):
        lines = []
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    if keep(json.loads(line)):
                        lines.append(line + "\n")
                except (ValueError, KeyError):
                    pass
        with atomic_path(path) as tmp:
            tmp.write_text("".join(lines))
        return path.open("a")

    def step(self, row: dict) -> None:
        if not self.enabled:
            return
        handle, writer = self.steps
        writer.writerow(row)
        handle.flush()
        if self.tensorboard is not None:
            for key in ("loss", "lr", "tokens", "seconds"):
                self.tensorboard.add_scalar(f"train/{key}", row[key], row["step"])

    def epoch(self, row: dict, samples: list[dict]) -> None:
        if not self.enabled:
            return
        handle, writer = self.valid
        writer.writerow(row)
        handle.flush()
        for sample in samples:
            self.samples.write(json.dumps({"epoch": row["epoch"], "step": row["step"], **sample}) + "\n")
        self.samples.flush()
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("valid/loss", row["valid_loss"], row["step"])
            self.tensorboard.add_scalar("train/truncated_targets", row["train_truncated"], row["step"])

    def probed(self, epoch: int, step: int, table) -> None:
        if not self.enabled:
            return
        handle, writer = self.probe
        writer.writerows({"epoch": epoch, "step": step, **row} for row in table.to_dicts())
        handle.flush()
        if self.tensorboard is not None:
            for row in table.to_dicts():
                self.tensorboard.add_scalar(f"probe/{row['attribute']}", row["accuracy"], step)

    def close(self) -> None:
        if self.enabled:
            self.steps[0].close()
            self.valid[0].close()
            self.probe[0].close()
            self.samples.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
