"""`destaflow serve` under load: N concurrent openai clients on localhost, batched serving vs one request at a time.

Every answer must come back exactly once and equal the same conversation answered alone (greedy); the table
gives requests/s and latency percentiles for each server setting, and the ratio.

Usage: .venv/bin/python bench/serve_load.py [--adapter results/adapter/adapter] [--clients 8] [--requests 32]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import polars as pl
import torch

from destaflow.inference import DestaModel
from destaflow.serve import create_app, running_server

QUESTIONS = ("What can you hear from the audio?", "Is the speaker a man or a woman?", "How fast does the speaker talk?", "Describe the speaker's voice.")


def requests_from(manifest: str, count: int) -> list[tuple[str, str]]:
    paths = pl.read_parquet(manifest, columns=["audio_path"])["audio_path"].to_list()
    return [(paths[index % len(paths)], QUESTIONS[index % len(QUESTIONS)]) for index in range(count)]


def messages_of(path: str, text: str) -> list[dict]:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}, {"type": "text", "text": text}]}]


def load(model, batch_size: int, requests: list[tuple[str, str]], clients: int, max_tokens: int) -> tuple[float, list[float], list[str]]:
    app = create_app(model, "bench", batch_size=batch_size, queue_size=len(requests))
    with running_server(app) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=3600)

        def one(request):
            started = time.perf_counter()
            response = client.chat.completions.create(model="bench", messages=messages_of(*request), max_tokens=max_tokens, temperature=0)
            return time.perf_counter() - started, response.id, response.choices[0].message.content

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(one, requests))
        wall = time.perf_counter() - started
    if len({response_id for _, response_id, _ in results}) != len(requests):
        raise SystemExit("an answer came back twice")
    return wall, [latency for latency, _, _ in results], [answer for _, _, answer in results]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="results/adapter/adapter")
    parser.add_argument("--manifest", default="results/seeds/demo.parquet", help="clips to ask about (audio_path column)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = DestaModel.from_pretrained(args.adapter, device="cpu")
    requests = requests_from(args.manifest, args.requests)
    alone = [model.chat([{"role": "audio", "content": path}, {"role": "user", "content": text}], max_new_tokens=args.max_tokens) for path, text in requests]
    print(f"{args.adapter}: {args.requests} requests from {args.clients} concurrent clients, max_tokens {args.max_tokens}, greedy, {args.threads} threads")
    print(f"{'server':<28}{'wall s':>8}{'req/s':>8}{'p50 s':>8}{'p95 s':>8}  answers equal alone")
    rates = {}
    for name, batch_size in (("one at a time (baseline)", 1), (f"batched ({args.batch_size})", args.batch_size)):
        wall, latencies, answers = load(model, batch_size, requests, args.clients, args.max_tokens)
        same = sum(a == b for a, b in zip(answers, alone))
        rates[name] = len(requests) / wall
        print(f"{name:<28}{wall:>8.1f}{rates[name]:>8.2f}{percentile(latencies, 50):>8.2f}{percentile(latencies, 95):>8.2f}  {same}/{len(requests)}")
    baseline, batched = rates.values()
    print(f"ratio batched / one at a time: {batched / baseline:.2f}x requests/s")


if __name__ == "__main__":
    main()
