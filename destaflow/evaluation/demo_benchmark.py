"""A demo benchmark in Dynamic-SUPERB's format, built from held-out (test-split) voices.

It mirrors the benchmark's tasks on the demo corpus: gender, accent, speaking speed, pitch (labels from the
corpus), noise detection, SNR level and reverberation detection (the clips degraded here, labels known by
construction), speech-text matching, and speaker verification (two audios). Every instruction ends with its
options, as the benchmark's do. Each instance is saved like a hub copy (`save_to_disk`, split `test`, audio
embedded as wav bytes), with an `instances.json` naming its dimension, so the same loader reads both.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf
from tqdm import tqdm

from destaflow.atomic import atomic_dir, atomic_path
from destaflow.audio import TARGET_RATE, load_audio
from destaflow.augmentation.noise import NoisePlan, headroom_gain, make_noise, scale_to_snr
from destaflow.augmentation.reverb import RoomPlan, align_to_direct_path, apply_reverb, clarity_db, draw_room, simulate_room
from destaflow.augmentation.settings import RoomRanges, parse_room
from destaflow.binning import to_word
from destaflow.evaluation.dynamic_superb import INSTANCES_FILE, TRUTH_COLUMNS
from destaflow.instructions import BENCHMARK_QUESTIONS, TASKS, options_sentence
from destaflow.seed import DISPLAY_NAMES, MEASUREMENT_SUFFIX, format_seed

SNR_LEVELS = {"zero": 0.0, "five": 5.0, "ten": 10.0, "fifteen": 15.0}
NOISE_KINDS = ("white", "pink", "babble")
BABBLE_TALKERS = 4

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoTask:
    instance: str
    dimension: str
    questions: tuple[str, ...]
    two_audio: bool = False


DEMO_TASKS = {
    "gender": DemoTask("SpeakerGenderRecognition_Demo", "PAR", TASKS["gender"].questions),
    "accent": DemoTask("AccentClassification_Demo", "PAR", TASKS["accent"].questions),
    "speaking_speed": DemoTask("SpeakingSpeedClassification_Demo", "PAR", TASKS["speaking_speed"].questions),
    "pitch": DemoTask("PitchClassification_Demo", "PAR", TASKS["pitch"].questions),
    "noise": DemoTask("NoiseDetection_Demo", "DEG", TASKS["noise"].questions),
    "snr_level": DemoTask("NoiseSNRLevelPrediction_Demo", "DEG", BENCHMARK_QUESTIONS["snr_level"]),
    "reverberation": DemoTask("ReverberationDetection_Demo", "DEG", BENCHMARK_QUESTIONS["reverberation"]),
    "speech_text_matching": DemoTask("SpeechTextMatching_Demo", "CON", BENCHMARK_QUESTIONS["speech_text_matching"]),
    "speaker_verification": DemoTask("SpeakerVerification_Demo", "SPK", BENCHMARK_QUESTIONS["speaker_verification"], two_audio=True),
}


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(samples, dtype=np.float32), TARGET_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def scaled(mix: np.ndarray) -> np.ndarray:
    return (mix * headroom_gain(mix)).astype(np.float32)


def true_seed(truth: dict, settings: dict) -> str:
    """An item's truth (Builder.truth) as a seed transcript in the seed stage's attributes and style, SNR and C50
    in the attribute stage's words ({attributes, style, bins: {snr, c50}}); without added noise the clip is the
    cleanest SNR word, without a room it states no reverberation."""
    bins = settings["bins"]
    snr_db, c50_db = truth.get("snr_db"), truth.get("c50_db")
    exact = truth | {
        "snr": to_word(snr_db, **bins["snr"]) if snr_db is not None else bins["snr"]["words"][-1],
        "c50": to_word(c50_db, **bins["c50"]) if c50_db is not None else None,
    }
    return format_seed(exact, settings["attributes"], settings["style"])


class Builder:
    """Records of every task from the test clips; degradations seeded per clip id."""

    def __init__(self, clips: pl.DataFrame, seed: int, room: RoomRanges) -> None:
        self.clips = clips.sort("id").to_dicts()
        self.seed, self.room = seed, room
        self._audio: dict[str, np.ndarray] = {}

    def truth(self, row: dict, snr_db: float | None = None, c50_db: float | None = None) -> str:
        """What the item's audio is, in exact values (JSON): the clip's labels, clean and dry unless this
        benchmark added noise (its SNR) or a room (its C50). The `seed_llm` system writes it as a seed transcript."""
        labels = {a: row.get(a) for a in DISPLAY_NAMES if a not in MEASUREMENT_SUFFIX}
        return json.dumps(labels | {"text": row.get("text"), "duration": len(self.audio(row)) / TARGET_RATE, "snr_db": snr_db, "c50_db": c50_db})

    def rng(self, *parts: Any) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *parts))))

    def audio(self, row: dict) -> np.ndarray:
        if row["id"] not in self._audio:
            self._audio[row["id"]] = load_audio(row["audio_path"]).samples.astype(np.float64)
        return self._audio[row["id"]]

    def record(self, task: str, row: dict, label: str, options: list[str], audio: np.ndarray, truth: str | None = None, **extra: Any) -> dict:
        """One item; `truth` is what the audio is when it is not the clean clip (Builder.truth)."""
        question = self.rng(task, row["id"]).choice(DEMO_TASKS[task].questions)
        return {
            "file": Path(row["audio_path"]).name,
            "audio": {"bytes": wav_bytes(audio), "path": f"{row['id']}.wav"},
            "instruction": f"{question} {options_sentence(options)}",
            "label": label,
            "truth": truth or self.truth(row),
            **extra,
        }

    def labelled(self, task: str) -> list[dict]:
        column = TASKS[task].label
        rows = [row for row in self.clips if column(row) is not None]
        options = TASKS[task].options or sorted({column(row) for row in rows})
        return [self.record(task, row, column(row), list(options), self.audio(row)) for row in rows]

    def noisy(self, row: dict, snr_db: float, salt: str) -> np.ndarray:
        rng = self.rng(salt, row["id"])
        kind = rng.choice(NOISE_KINDS)
        others = [(r["id"], r["audio_path"]) for r in self.clips if r["speaker"] != row["speaker"]]
        talkers = tuple(rng.sample(others, min(BABBLE_TALKERS, len(others)))) if kind == "babble" else ()
        speech = self.audio(row)
        noise = make_noise(NoisePlan(kind, snr_db, rng.randrange(2**31), babble=talkers), len(speech))
        return scaled(speech + scale_to_snr(speech, noise, snr_db))

    def noise(self) -> list[dict]:
        records = []
        for n, row in enumerate(self.clips):
            noisy = n % 2 == 1
            snr = self.rng("noise-snr", row["id"]).uniform(0.0, 15.0)
            audio = self.noisy(row, snr, "noise") if noisy else self.audio(row)
            truth = self.truth(row, snr_db=snr) if noisy else None
            records.append(self.record("noise", row, "noisy" if noisy else "clean", ["clean", "noisy"], audio, truth))
        return records

    def snr_level(self) -> list[dict]:
        levels = list(SNR_LEVELS)
        return [
            self.record("snr_level", row, level, levels, self.noisy(row, SNR_LEVELS[level], "snr"), self.truth(row, snr_db=SNR_LEVELS[level]))
            for n, row in enumerate(self.clips)
            for level in [levels[n % len(levels)]]
        ]

    def reverberation(self) -> list[dict]:
        records = []
        for n, row in enumerate(self.clips):
            reverberant = n % 2 == 1
            audio, truth = self.audio(row), None
            if reverberant:
                room: RoomPlan = draw_room(np.random.default_rng(self.rng("room", row["id"]).randrange(2**31)), self.room)
                rir = align_to_direct_path(simulate_room(room))
                audio, truth = apply_reverb(audio, rir), self.truth(row, c50_db=clarity_db(rir))
            records.append(self.record("reverberation", row, "reverberant" if reverberant else "clean", ["clean", "reverberant"], scaled(audio), truth))
        return records

    def speech_text_matching(self) -> list[dict]:
        records = []
        for n, row in enumerate(self.clips):
            others = [r["text"] for r in self.clips if r["text"] and r["text"] != row["text"]]
            matching = n % 2 == 0 or not others
            text = row["text"] if matching else self.rng("text", row["id"]).choice(others)
            records.append(self.record("speech_text_matching", row, "yes" if matching else "no", ["yes", "no"], self.audio(row), text=text))
        return records

    def speaker_verification(self) -> list[dict]:
        records = []
        for n, row in enumerate(self.clips):
            same = [r for r in self.clips if r["speaker"] == row["speaker"] and r["id"] != row["id"]]
            different = [r for r in self.clips if r["speaker"] != row["speaker"]]
            pool, label = (same, "yes") if n % 2 == 0 and same else (different, "no")
            if not pool:
                continue
            other = self.rng("pair", row["id"]).choice(pool)
            record = self.record("speaker_verification", row, label, ["yes", "no"], self.audio(row))
            records.append(record | {"audio2": {"bytes": wav_bytes(self.audio(other)), "path": f"{other['id']}.wav"}, "truth2": self.truth(other)})
        return records

    def build(self, task: str) -> list[dict]:
        special: dict[str, Callable[[], list[dict]]] = {
            "noise": self.noise,
            "snr_level": self.snr_level,
            "reverberation": self.reverberation,
            "speech_text_matching": self.speech_text_matching,
            "speaker_verification": self.speaker_verification,
        }
        return special[task]() if task in special else self.labelled(task)


def save_instance(records: list[dict], folder: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    columns = {"file": datasets.Value("string"), "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
               "instruction": datasets.Value("string"), "label": datasets.Value("string")}
    for name in ("text", *TRUTH_COLUMNS):
        if any(r.get(name) is not None for r in records):
            columns[name] = datasets.Value("string")
    if any("audio2" in r for r in records):
        columns["audio2"] = columns["audio"]
    table = {name: [r.get(name) for r in records] for name in columns}
    dataset = datasets.Dataset.from_dict(table, features=datasets.Features(columns))
    for column in ("audio", "audio2"):  # the hub copies' type; cast at the Arrow level (no audio codec needed)
        if column in columns:
            dataset = dataset.cast_column(column, datasets.Audio(sampling_rate=TARGET_RATE))
    with atomic_dir(folder) as tmp:
        datasets.DatasetDict({"test": dataset}).save_to_disk(str(tmp))


def clips_per_speaker(table: pl.DataFrame, count: int | None, seed: int) -> pl.DataFrame:
    """At most `count` clips of each speaker (seeded); every task then asks about the same clips."""
    if count is None:
        return table
    rng = random.Random(seed)
    chosen = []
    for _, group in table.sort("id").group_by("speaker", maintain_order=True):
        ids = group["id"].to_list()
        chosen += rng.sample(ids, min(count, len(ids)))
    return table.filter(pl.col("id").is_in(chosen))


def held_out_clips(seed_manifests: list[str], per_speaker: int | None, seed: int) -> pl.DataFrame:
    """The test-split clips of the seed manifests, at most `per_speaker` of each voice (seeded), sorted by id."""
    table = pl.concat([pl.read_parquet(p) for p in seed_manifests], how="diagonal_relaxed").filter(pl.col("split") == "test")
    table = clips_per_speaker(table, per_speaker, seed).sort("id")
    if table.is_empty():
        raise ValueError(f"no test-split clip in {seed_manifests}")
    return table


PRIMARY_SYNTHESIZER = "espeak-ng"  # the training voices' synthesizer: its instances keep the plain names


def instance_name(task: str, synthesizer: str = PRIMARY_SYNTHESIZER) -> str:
    """`<Task>_Demo` for the training synthesizer's test voices, `<Task>_DemoFestival` for another's."""
    base = DEMO_TASKS[task].instance
    return base if synthesizer == PRIMARY_SYNTHESIZER else base + synthesizer.replace("-", " ").title().replace(" ", "")


def is_second_synthesizer_instance(name: str) -> bool:
    """A `<Task>_Demo<Synthesizer>` instance: kept out of the Table I-shaped dimension scores (it repeats a task)."""
    return re.search(r"_Demo[A-Z]\w*$", name) is not None


def synthesizer_groups(table: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """The test clips per synthesizer, the training one first (clips without the column are espeak-ng's)."""
    if "synthesizer" not in table.columns:
        table = table.with_columns(synthesizer=pl.lit(PRIMARY_SYNTHESIZER))
    table = table.with_columns(pl.col("synthesizer").fill_null(PRIMARY_SYNTHESIZER))
    names = sorted(table["synthesizer"].unique(), key=lambda s: (s != PRIMARY_SYNTHESIZER, s))
    return [(name, table.filter(pl.col("synthesizer") == name)) for name in names]


def build_demo_benchmark(manifests: list[str], out_dir: str, tasks: list[str], seed: int, room: RoomRanges | dict,
                         per_speaker: int | None = None, second_synthesizer_tasks: list[str] | None = None) -> pl.DataFrame:
    """Write one instance folder per task plus instances.json; returns a summary (instance, task, items).

    `room`: the shoebox ranges of reverberant clips (RoomRanges, or the config's `augment.room` mapping);
    `per_speaker`: test clips drawn per speaker (None = all); every item records what its audio is (`truth`,
    `truth2`: exact labels, the SNR or C50 the benchmark added), which the `seed_llm` system reads;
    `second_synthesizer_tasks`: the tasks asked about other synthesizers' test voices (None = every task).
    """
    room = parse_room(room) if isinstance(room, dict) else room
    unknown = [t for t in tasks if t not in DEMO_TASKS]
    if unknown:
        raise ValueError(f"unknown demo benchmark task(s) {unknown}; known: {', '.join(DEMO_TASKS)}")
    table = pl.concat([pl.read_parquet(p) for p in manifests], how="diagonal_relaxed").filter(pl.col("split") == "test")
    if table.is_empty():  # the attribute stage has already quarantined unreadable clips
        raise ValueError("no test-split clip to build the demo benchmark from")
    out = Path(out_dir)
    summary = []
    for synthesizer, clips in synthesizer_groups(table):
        if synthesizer == PRIMARY_SYNTHESIZER:  # a second synthesizer's few voices keep every clip (demo.festival.clips_per_voice)
            clips = clips_per_speaker(clips, per_speaker, seed)
        builder = Builder(clips, seed, room)
        asked = tasks if synthesizer == PRIMARY_SYNTHESIZER or second_synthesizer_tasks is None else [t for t in tasks if t in second_synthesizer_tasks]
        for task in tqdm(asked, desc=f"demo benchmark ({synthesizer})", unit="task"):
            spec = DEMO_TASKS[task]
            name = instance_name(task, synthesizer)
            records = builder.build(task)
            save_instance(records, out / name)
            summary.append({"instance": name, "task": task, "dimension": spec.dimension, "two_audio": spec.two_audio,
                            "synthesizer": synthesizer, "items": len(records)})
    entries = [{"name": s["instance"], "dimension": s["dimension"], "task": s["task"], "two_audio": s["two_audio"],
                "synthesizer": s["synthesizer"]} for s in summary]
    with atomic_path(out / INSTANCES_FILE) as tmp:
        tmp.write_text(json.dumps(entries, indent=1))
    table = pl.DataFrame(summary)
    log.info("demo benchmark in %s:\n%s", out, table)
    return table

