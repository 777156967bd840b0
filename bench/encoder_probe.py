"""Is the information in the encoder? A linear probe per attribute on pooled Whisper encoder taps.

For each Whisper folder given, every clip of the seed manifests goes through the frozen encoder once; each of
the connector's taps is mean- and std-pooled over the clip's own frames, and a logistic regression per attribute
(gender, speaking speed, pitch, clean/noisy; labels from the seed transcripts, as the likelihood probe reads them)
is fitted on the training voices and scored on the held-out test voices. What a linear read-out of the taps
cannot tell apart, no connector is likely to pass on. Rows are printed side by side per Whisper.

Usage: .venv/bin/python bench/encoder_probe.py --whisper resources/models/whisper --whisper /tmp/whisper-base
       [--seeds results/seeds/demo.parquet --seeds results/seeds/augmented.parquet]
"""

from __future__ import annotations

import argparse
import time

import polars as pl
import torch
from tqdm import tqdm
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from destaflow.audio import load_audio
from destaflow.evaluation.probe import PROBES, probe_labels
from destaflow.evaluation.intervals import wilson
from destaflow.models.sources import model_name
from destaflow.models.whisper_taps import frames_for_duration, run_encoder, tap_layers_for
from destaflow.models.whisper_taps import log_mels


def pooled_taps(whisper_dir: str, clips: list[dict], batch_size: int = 8) -> torch.Tensor:
    """(clips, taps x 2 x d): mean and std of each tap over the clip's frames."""
    model = WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval()
    extractor = WhisperFeatureExtractor.from_pretrained(whisper_dir)
    taps = tap_layers_for(whisper_dir, None)
    rows = []
    for start in tqdm(range(0, len(clips), batch_size), desc=f"encoding ({model_name(whisper_dir)})", unit="batch"):
        chunk = clips[start : start + batch_size]
        features = log_mels(extractor, [load_audio(c["audio_path"]).samples for c in chunk])
        tapped, _ = run_encoder(model, features, taps)  # (B, L, 1500, d)
        for b, clip in enumerate(chunk):
            own = tapped[b, :, : frames_for_duration(clip["duration"])]
            rows.append(torch.cat([own.mean(dim=1), own.std(dim=1, unbiased=False)], dim=-1).flatten())
    return torch.stack(rows)


def fit_and_score(train_x: torch.Tensor, train_y: list[str], test_x: torch.Tensor, test_y: list[str], l2: float = 1e-2) -> int:
    """Right answers of an L2-regularised multinomial logistic regression on standardised features."""
    classes = sorted(set(train_y))
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x, xt = (train_x - mean) / std, (test_x - mean) / std
    y = torch.tensor([classes.index(v) for v in train_y])
    linear = torch.nn.Linear(x.shape[1], len(classes))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + l2 * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = [classes[i] for i in linear(xt).argmax(1).tolist()]
    return sum(p == t for p, t in zip(predicted, test_y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whisper", action="append", required=True, help="prepared Whisper folder (repeat to compare)")
    parser.add_argument("--seeds", action="append", help="seed manifests (default: the demo and augmented corpora)")
    args = parser.parse_args()
    torch.manual_seed(0)
    seeds = args.seeds or ["results/seeds/demo.parquet", "results/seeds/augmented.parquet"]
    table = pl.concat([pl.read_parquet(p, columns=["id", "split", "audio_path", "duration", "seed"]) for p in seeds]).filter(pl.col("split") != "valid")
    clips = [row | {"labels": probe_labels(row["seed"])} for row in table.sort("id").to_dicts()]
    train = [i for i, c in enumerate(clips) if c["split"] == "train"]
    test = [i for i, c in enumerate(clips) if c["split"] == "test"]
    print(f"{len(train)} training clips, {len(test)} test clips (held-out voices) from {', '.join(seeds)}")
    results: dict[str, dict[str, str]] = {}
    for whisper in args.whisper:
        started = time.perf_counter()
        features = pooled_taps(whisper, clips)
        name = model_name(whisper)
        for attribute in PROBES:
            fit = [i for i in train if attribute in clips[i]["labels"]]
            scored = [i for i in test if attribute in clips[i]["labels"]]
            if len({clips[i]["labels"][attribute] for i in fit}) < 2 or not scored:
                continue
            right = fit_and_score(features[fit], [clips[i]["labels"][attribute] for i in fit],
                                  features[scored], [clips[i]["labels"][attribute] for i in scored])
            lo, hi = wilson(right, len(scored))
            truths = [clips[i]["labels"][attribute] for i in scored]
            majority = 100 * max(truths.count(v) for v in set(truths)) / len(truths)
            results.setdefault(attribute, {})[name] = f"{100 * right / len(scored):5.1f} [{lo:4.1f}, {hi:5.1f}] n {len(scored)}"
            results[attribute]["majority"] = f"{majority:5.1f}"
        print(f"{name}: {time.perf_counter() - started:.0f} s")
    names = [model_name(w) for w in args.whisper]
    print(f"\n{'attribute':<16}" + "".join(f"{n[:30]:>32}" for n in names) + f"{'majority':>10}")
    for attribute, row in results.items():
        print(f"{attribute:<16}" + "".join(f"{row.get(n, '-'):>32}" for n in names) + f"{row['majority']:>10}")


if __name__ == "__main__":
    main()
