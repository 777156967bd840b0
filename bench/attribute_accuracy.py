"""Extracted-vs-true attribute accuracy on the demo corpus (whose labels are exact by construction).

Runs the extractors blind (labels removed) and compares with the labels:
  gender (voice2gender), speaking-speed bin (phonemes/s from the text, binned with config bins),
  volume bin (RMS dBFS), and, on the augmented corpus when present, SNR estimates vs the truth: the DSP
  frame-energy estimate (baseline) beside the learned estimator (results/snr_estimator, trained if missing).
Usage: .venv/bin/python bench/attribute_accuracy.py [--manifest results/corpora/demo.parquet]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import polars as pl

from destaflow.attributes.extract import build_extractor, extract_attributes
from destaflow.attributes.snr_model import train_snr_estimator
from destaflow.config import augment_settings, load_config, snr_estimator_sources

BLIND = ["gender", "speaking_speed", "volume", "pitch"]


def blind(table: pl.DataFrame) -> pl.DataFrame:
    return table.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in BLIND] + [pl.lit(None, dtype=pl.String).alias(f"{c}_source") for c in BLIND])


def accuracy(truth: pl.DataFrame, predicted: pl.DataFrame, column: str) -> tuple[float, int]:
    joined = truth.select("id", pl.col(column).alias("true")).join(predicted.select("id", pl.col(column).alias("pred")), on="id")
    return float((joined["true"] == joined["pred"]).mean()), joined.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="results/corpora/demo.parquet")
    parser.add_argument("--augmented", default="results/corpora/augmented.parquet")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--snr-estimator", default="results/snr_estimator", help="trained estimator folder (trained here when missing)")
    args = parser.parse_args()
    if not Path(args.manifest).exists():
        raise SystemExit(f"{args.manifest} is missing: run bin/demo (or snakemake --until synthesize_demo) first")
    settings = load_config(args.config)["attributes"]
    truth = pl.read_parquet(args.manifest)
    extractors = [build_extractor(name, settings, {}) for name in ("voice2gender", "volume", "speech_rate")]
    start = time.perf_counter()
    predicted, quarantine = extract_attributes(blind(truth), extractors, settings["batch_size"], settings["bins"])
    elapsed = time.perf_counter() - start
    print(f"{truth.height} clips, {quarantine.height} quarantined, {elapsed:.1f} s ({truth['duration'].sum() / elapsed:.1f}x real time)")
    print(f"{'attribute':<16}{'accuracy':>10}{'clips':>8}  extractor")
    for column, how in (("gender", "voice2gender"), ("speaking_speed", "dsp:espeak-phonemes-per-second + bins"), ("volume", "dsp:rms-dbfs + bins")):
        value, n = accuracy(truth, predicted, column)
        print(f"{column:<16}{value:>10.1%}{n:>8}  {how}")
    for split in ("train", "test"):
        subset = truth.filter(pl.col("split") == split)
        value, n = accuracy(subset, predicted, "gender")
        print(f"gender ({split}){'':<3}{value:>10.1%}{n:>8}")
    if Path(args.augmented).exists():
        report_snr(pl.read_parquet(args.augmented), settings, args.snr_estimator, load_config(args.config))


def report_snr(augmented: pl.DataFrame, settings: dict, estimator_dir: str, config: dict) -> None:
    """Blind SNR estimates vs the true SNR of augmented clips: the DSP estimate beside the learned estimator."""
    noisy = augmented.filter(pl.col("snr_db").is_not_null())
    blinded = noisy.with_columns(pl.lit(None, dtype=pl.Float64).alias("snr_db"), pl.lit(None, dtype=pl.String).alias("snr_db_source"))
    if not Path(estimator_dir).exists():
        print(f"training the SNR estimator into {estimator_dir} ({settings['snr_estimator']['steps']} steps; ~10 min on 2 cores at the default 4,000)")
        sources = [f"results/corpora/{name}.parquet" for name in snr_estimator_sources(config)]
        train_snr_estimator(sources, augment_settings(config), settings["snr_estimator"], estimator_dir)
    print(f"held-out check of the estimator (valid-split mixtures): {json.loads((Path(estimator_dir) / 'metrics.json').read_text())}")
    for name in ("snr", "learned_snr"):
        extractor = build_extractor(name, settings, {"snr_estimator": estimator_dir})
        estimated, _ = extract_attributes(blinded, [extractor], settings["batch_size"], settings["bins"])
        joined = noisy.select("id", "split", "noise_type", pl.col("c50_db").is_not_null().alias("reverberant"), pl.col("snr_db").alias("true")).join(
            estimated.select("id", pl.col("snr_db").alias("estimate")), on="id"
        ).with_columns(((pl.col("estimate") - pl.col("true")).abs() <= 3).alias("within_3db"))
        print(f"snr within 3 dB {joined['within_3db'].mean():>7.1%}{joined.height:>8}  {extractor.name} (augmented clips with noise)")
        for group in ("noise_type", "reverberant", "split"):
            for key, share, n in joined.group_by(group).agg(pl.col("within_3db").mean(), pl.len()).sort(group).iter_rows():
                print(f"  {group}={key}: {share:.1%} of {n}")
    known = augmented.filter(pl.col("c50_db").is_not_null()).height
    print(f"c50: {known} reverberant clips carry C50 computed from their known RIR (label; checked against an analytic decay in tests/test_augment.py)")


if __name__ == "__main__":
    main()
