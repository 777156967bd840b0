"""The "specialized models + LLM" cascade's clips: every distinct audio input of a benchmark as a corpus.

Each input a model would hear (one per audio turn, or the 15 s + 15 s concatenation) is written as a 16 kHz
wav and listed in a corpus manifest with no labels at all, so the attribute stage describes it from the audio
alone (ASR, gender model, DSP measurements) and the seed stage writes its seed transcript. The cascade then
gives the text LLM those seeds where the speech LM hears audio (Table I's "specialized models + LLM" row).
A clip id is the input's content key, so answers find their seeds without another table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import soundfile as sf
from tqdm import tqdm

from destaflow import tables
from destaflow.evaluation.settings import BenchmarkSettings
from destaflow import manifest
from destaflow.atomic import atomic_path
from destaflow.audio import TARGET_RATE, AudioError
from destaflow.evaluation.dynamic_superb import input_keys, load_benchmark, model_inputs

log = logging.getLogger(__name__)


def export_benchmark_clips(benchmark_dir: str, settings: BenchmarkSettings | dict, corpus: str, out_manifest: str, audio_dir: str, out_quarantine: str) -> pl.DataFrame:
    """Write each distinct input once; unreadable items go to the quarantine table with the reason."""
    settings = BenchmarkSettings.of(settings)
    items = load_benchmark(benchmark_dir, settings.instances, settings.max_per_instance, settings.seed)
    audio_root = Path(audio_dir)
    audio_root.mkdir(parents=True, exist_ok=True)
    rows, failed, seen = [], [], set()
    for item in tqdm(items, desc="benchmark clips", unit="item"):
        keys = input_keys(item, settings.two_audio)
        if all(key in seen for key in keys):
            continue
        try:
            audios = model_inputs(item, settings.two_audio)
        except AudioError as error:
            failed.append(tables.quarantine_row(item.id, item.id, "benchmark_clips", error))
            continue
        for key, audio in zip(keys, audios):
            if key in seen:
                continue
            seen.add(key)
            path = audio_root / f"{key}.wav"
            with atomic_path(path) as tmp:
                sf.write(tmp, audio, TARGET_RATE, format="WAV", subtype="PCM_16")
            # one pseudo-speaker per clip: nothing is known about who speaks
            rows.append({"id": key, "corpus": corpus, "audio_path": str(path), "speaker": key, "split": "test",
                         "sample_rate": TARGET_RATE, "duration": len(audio) / TARGET_RATE, "duration_source": "dsp:sample-count"})
    table = pl.DataFrame(rows, schema={name: column.dtype for name, column in manifest.CORPUS_COLUMNS.items()})
    log.info("%d items, %d distinct inputs written, %d items unreadable", len(items), table.height, len(failed))
    tables.write_quarantine(failed, out_quarantine)
    manifest.write(table, out_manifest, "corpus")
    return table
