"""The demo corpus: English speech synthesized with espeak-ng, so that every label is exact.

Voices are espeak-ng accents x variants (gender read from espeak-ng itself). Each clip draws a pitch,
speaking-speed and volume *label* uniformly, then a value uniformly inside that label's configured range;
both are recorded. Whole voices are held out for validation and testing, balanced by gender, and held-out
voices speak sentences no training clip says. Test voices of a second synthesizer, Festival
(`demo.festival`), join the test split only, with labels set the same way (destaflow.corpora.festival).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf
import soxr
from tqdm import tqdm

from destaflow import manifest
from destaflow.atomic import atomic_path
from destaflow.corpora import espeak, festival

CORPUS = "demo"
FESTIVAL = "festival"  # Voice.language of Festival's voices (its variant is the Festival voice name)


@dataclass(frozen=True)
class Voice:
    language: str
    variant: str
    accent: str
    gender: str

    @property
    def id(self) -> str:
        return f"{self.language}+{self.variant}"

    @property
    def synthesizer(self) -> str:
        return FESTIVAL if self.language == FESTIVAL else "espeak-ng"


@dataclass(frozen=True)
class ClipPlan:
    id: str
    voice: Voice
    split: str
    text: str
    pitch: str
    pitch_value: float  # espeak-ng's -p (whole numbers), or Festival's shift in semitones
    speaking_speed: str
    speed_wpm: int
    volume: str
    volume_dbfs: float


def build_voices(accents: dict[str, str], variants: list[str]) -> list[Voice]:
    genders = espeak.variant_genders()
    unknown = [v for v in variants if v not in genders]
    if unknown:
        raise ValueError(f"espeak-ng has no voice variant(s) {unknown}; it lists {sorted(genders)}")
    ignored = [lang for lang in accents if not espeak.variants_apply(lang)]
    if ignored:
        raise ValueError(f"espeak-ng ignores voice variants for {ignored} (every variant sounds the same); use another voice, e.g. en-gb-x-rp for en-gb")
    voices = [Voice(lang, var, accent, genders[var]) for lang, accent in accents.items() for var in variants]
    if len({v.gender for v in voices}) < 2:
        raise ValueError("demo.variants must include both female and male variants")
    return voices


def split_voices(voices: list[Voice], n_valid: int, n_test: int, seed: int) -> dict[str, str]:
    """Voice id -> split; held-out voices alternate between genders so both are represented."""
    if n_valid + n_test >= len(voices):
        raise ValueError(f"{n_valid} valid + {n_test} test voices leave none of {len(voices)} for training")
    rng = random.Random(seed)
    by_gender = {g: rng.sample(vs, len(vs)) for g, vs in _group(voices, lambda v: v.gender).items()}
    held_out: list[Voice] = []
    genders = sorted(by_gender)
    while len(held_out) < n_valid + n_test:
        gender = genders[len(held_out) % len(genders)]
        if not by_gender[gender]:
            gender = next(g for g in genders if by_gender[g])
        held_out.append(by_gender[gender].pop())
    # interleaved genders: the first n_test go to test, so a 2-voice test set holds one of each
    splits = {v.id: "test" for v in held_out[:n_test]}
    splits.update({v.id: "valid" for v in held_out[n_test:]})
    return {v.id: splits.get(v.id, "train") for v in voices}


def _group(items, key):
    groups: dict[Any, list] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _draw(rng: random.Random, levels: dict[str, list[float]]) -> tuple[str, float]:
    label = rng.choice(sorted(levels))
    low, high = levels[label]
    return label, rng.uniform(low, high)


def split_sentences(sentences: list[str], shares: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Disjoint sentence pools per split (`shares` of valid and test, the rest train), so no held-out voice says
    a sentence that training heard."""
    shuffled = random.Random(f"sentences:{seed}").sample(sentences, len(sentences))
    counts = {split: round(share * len(sentences)) for split, share in shares.items()}
    if any(n < 1 for n in counts.values()) or sum(counts.values()) >= len(sentences):
        raise ValueError(f"{len(sentences)} sentences cannot be split into {shares} and leave some for training")
    pools, start = {}, 0
    for split in ("test", "valid"):
        pools[split], start = shuffled[start : start + counts[split]], start + counts[split]
    pools["train"] = shuffled[start:]
    return pools


def plan_clips(settings: dict[str, Any], sentences: list[str]) -> list[ClipPlan]:
    """Every clip of the corpus, decided up front and deterministically from `settings['seed']`."""
    voices = build_voices(settings["accents"], settings["variants"])
    splits = split_voices(voices, settings["valid_voices"], settings["test_voices"], settings["seed"])
    pools = split_sentences(sentences, settings["held_out_sentences"], settings["seed"])
    rng = random.Random(settings["seed"])
    plans = []
    for voice in voices:
        texts = _sentences_for_voice(rng, pools[splits[voice.id]], settings["clips_per_voice"])
        for index, text in enumerate(texts):
            pitch, pitch_value = _draw(rng, settings["pitch"])
            speed, wpm = _draw(rng, settings["speaking_speed"])
            volume, dbfs = _draw(rng, settings["volume"])
            plans.append(
                ClipPlan(
                    id=f"{CORPUS}-{voice.id}-{index:04d}",
                    voice=voice,
                    split=splits[voice.id],
                    text=text,
                    pitch=pitch,
                    pitch_value=float(round(pitch_value)),
                    speaking_speed=speed,
                    speed_wpm=round(wpm),
                    volume=volume,
                    volume_dbfs=round(dbfs, 2),
                )
            )
    return plans + festival_plans(settings, pools["test"], rng)


def festival_plans(settings: dict[str, Any], sentences: list[str], rng: random.Random) -> list[ClipPlan]:
    """Test clips of the Festival voices (`demo.festival`), drawn like the espeak-ng clips; none when no voice is named."""
    own = settings["festival"]
    plans = []
    for name, gender in own["voices"].items():
        voice = Voice(FESTIVAL, name, own["accent"], gender)
        for index, text in enumerate(_sentences_for_voice(rng, sentences, own["clips_per_voice"])):
            pitch, semitones = _draw(rng, own["pitch"])
            speed, wpm = _draw(rng, settings["speaking_speed"])
            volume, dbfs = _draw(rng, settings["volume"])
            plans.append(ClipPlan(f"{CORPUS}-{voice.id}-{index:04d}", voice, "test", text, pitch, round(semitones, 2), speed, round(wpm),
                                  volume, round(dbfs, 2)))
    return plans


def _sentences_for_voice(rng: random.Random, sentences: list[str], count: int) -> list[str]:
    chosen: list[str] = []
    while len(chosen) < count:
        chosen += rng.sample(sentences, min(len(sentences), count - len(chosen)))
    return chosen


def scale_to_dbfs(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale to an RMS level of `dbfs` dB relative to full scale, refusing to clip."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms == 0.0:
        raise ValueError("cannot set the level of a silent clip")
    scaled = samples * (10 ** (dbfs / 20) / rms)
    peak = float(np.max(np.abs(scaled)))
    if peak >= 1.0:
        raise ValueError(f"a {dbfs} dBFS RMS level would clip (peak {peak:.2f}); lower the demo.volume ranges")
    return scaled.astype(np.float32)


def render_clip(plan: ClipPlan, path: Path, sample_rate: int) -> float:
    """Synthesize one planned clip into `path` (16-bit PCM wav); return its duration in seconds."""
    if plan.voice.synthesizer == FESTIVAL:
        samples, rate = festival.synthesize(plan.text, plan.voice.variant, plan.pitch_value, plan.speed_wpm)
    else:
        samples, rate = espeak.synthesize(plan.text, plan.voice.id, int(plan.pitch_value), plan.speed_wpm)
    if rate != sample_rate:
        samples = soxr.resample(samples, rate, sample_rate)
    samples = scale_to_dbfs(samples, plan.volume_dbfs)
    with atomic_path(path) as tmp:
        sf.write(tmp, samples, sample_rate, subtype="PCM_16", format="WAV")
    return len(samples) / sample_rate


def manifest_row(plan: ClipPlan, audio_path: Path, sample_rate: int, duration: float) -> dict[str, Any]:
    label = "label"
    return {
        "id": plan.id,
        "corpus": CORPUS,
        "audio_path": str(audio_path),
        "speaker": plan.voice.id,
        "split": plan.split,
        "sample_rate": sample_rate,
        "duration": duration,
        "duration_source": "dsp:sample-count",
        "text": plan.text,
        "text_source": label,
        "gender": plan.voice.gender,
        "gender_source": label,
        "accent": plan.voice.accent,
        "accent_source": label,
        "pitch": plan.pitch,
        "pitch_source": label,
        "speaking_speed": plan.speaking_speed,
        "speaking_speed_source": label,
        "volume": plan.volume,
        "volume_source": label,
        "synthesizer": plan.voice.synthesizer,
        "synth_voice": plan.voice.id,
        "synth_pitch": plan.pitch_value,
        "synth_wpm": plan.speed_wpm,
        "synth_rms_dbfs": plan.volume_dbfs,
    }


def read_sentences(path: str | Path) -> list[str]:
    sentences = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not sentences:
        raise ValueError(f"{path} holds no sentences")
    return sentences


def synthesize_corpus(settings: dict[str, Any], audio_dir: str | Path, manifest_path: str | Path, threads: int = 2) -> pl.DataFrame:
    """Render the whole demo corpus into `audio_dir` and write its manifest; return the manifest."""
    plans = plan_clips(settings, read_sentences(settings["sentences"]))
    audio_dir = Path(audio_dir)
    rate = settings["sample_rate"]

    def render(plan: ClipPlan) -> dict[str, Any]:
        path = audio_dir / plan.split / f"{plan.id}.wav"
        return manifest_row(plan, path, rate, render_clip(plan, path, rate))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        rows = list(tqdm(pool.map(render, plans), total=len(plans), desc="synthesizing demo clips", unit="clip"))
    table = pl.DataFrame(rows).sort("id")
    manifest.write(table, manifest_path, "corpus")
    return table
