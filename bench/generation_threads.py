"""Answering on 2 cores: one job with every thread, or two 1-thread jobs side by side?

The same batched greedy generation (the prepared text LLM, `--items` prompts of a benchmark-like length,
`--new-tokens` each) is timed twice: baseline = one process with `--threads` threads answering every item;
candidate = two processes with one thread each, started together, each answering half. A small model's
generation is bound by per-token overhead, so the second layout gets more items through per second
(what `evaluation.threads: 1` buys the demo). Prints both rows and the ratio.
Usage: .venv/bin/python bench/generation_threads.py [--llm resources/models/llm] [--items 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

PROMPT = ("Audio clip: [00:00:00-00:00:03] the quick brown fox number {n} jumps over the lazy dog near the river bank "
          "(Gender: Female, Pitch: High, Speaking speed: Slow, Duration: 3s)\nIs the speaker male or female? "
          "The answer could be female or male.")


def worker(llm: str, threads: int, items: int, new_tokens: int, batch_size: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(llm, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(llm).eval()
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": PROMPT.format(n=n)}], tokenize=False, add_generation_prompt=True)
               for n in range(items)]
    with torch.no_grad():
        for start in range(0, items, batch_size):
            batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            model.generate(**batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)


def timed(commands: list[list[str]]) -> float:
    started = time.perf_counter()
    processes = [subprocess.Popen(command) for command in commands]
    if any(process.wait() for process in processes):
        sys.exit("a worker failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="resources/models/llm")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--worker", nargs=2, type=int, metavar=("THREADS", "ITEMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.llm, args.worker[0], args.worker[1], args.new_tokens, args.batch_size)
        return

    def command(threads: int, items: int) -> list[str]:
        return [sys.executable, __file__, "--llm", args.llm, "--new-tokens", str(args.new_tokens), "--batch-size", str(args.batch_size),
                "--worker", str(threads), str(items)]

    # model loading is inside both timings, as it is inside every answering job
    baseline = timed([command(args.threads, args.items)])
    candidate = timed([command(1, args.items // 2), command(1, args.items - args.items // 2)])
    print(f"{'layout':<44}{'wall s':>8}{'items/s':>9}")
    print(f"{f'one job, {args.threads} threads (baseline)':<44}{baseline:8.1f}{args.items / baseline:9.2f}")
    print(f"{'two jobs side by side, 1 thread each':<44}{candidate:8.1f}{args.items / candidate:9.2f}")
    print(f"ratio (items/s, two jobs / one): {baseline / candidate:.2f}")


if __name__ == "__main__":
    main()
