"""Command line of one training process: `python -m destaflow.training.entry --settings s.json ...`.

torchrun starts one of these per device (see launch.py); each reads the same JSON settings (the `train`
config section merged with `connector`) and calls train_adapter, which joins the process group.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from destaflow.training.loop import train_adapter


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m destaflow.training.entry", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="JSON file: the train config section merged with connector")
    parser.add_argument("--whisper", required=True, help="prepared Whisper folder")
    parser.add_argument("--llm", required=True, help="prepared LLM folder")
    parser.add_argument("--train", required=True, help="training-set parquet (train split)")
    parser.add_argument("--valid", required=True, help="training-set parquet (valid split)")
    parser.add_argument("--cache", nargs="+", default=None, help="encoder cache folders, one per corpus (omit with cache: false)")
    parser.add_argument("--out", required=True, help="output folder: logs, adapter/, checkpoint/")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    parser.add_argument("--max-steps", type=int, default=None, help="stop (with a checkpoint) after this many steps")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    summary = train_adapter(
        json.loads(Path(args.settings).read_text()),
        args.whisper,
        args.llm,
        args.train,
        args.valid,
        args.cache,
        args.out,
        resume=not args.no_resume,
        max_steps=args.max_steps,
    )
    if rank == 0:
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
