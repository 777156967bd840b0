"""Attribute extractors backed by model weights: Whisper ASR, voice2gender, audio classifiers.

Factories take the validated `attributes` config section and the prepared model folders by role
(`{"whisper": ..., "llm": ...}`) and return an `Extractor`. Weights load lazily, once per extractor, on
first use: safetensors only, never remote code; CUDA when available, else CPU. Rows whose column
already holds a value (a corpus label) are skipped, since `merge` would keep the label anyway.

Long clips: Whisper sees at most 30 s, so a longer clip is cut into the fewest consecutive windows of
equal length (each at most 30 s) and their transcripts are joined with spaces; nothing is dropped.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from destaflow.attributes.base import Extractor
from destaflow.attributes.settings import AttributeSettings
from destaflow.asr import load_whisper, transcribe
from destaflow.audio import TARGET_RATE
from destaflow.runtime import chunks, quiet_loading, torch_device
from destaflow.models.sources import SOURCE_FILE, model_name

log = logging.getLogger(__name__)

VOICE2GENDER_VERSION = "0.1.1"
VOICE2GENDER_RATE = 44_100  # the bundled XGBoost model's documented input rate

GENDER_WORDS = {"male": "male", "m": "male", "man": "male", "female": "female", "f": "female", "woman": "female"}
EMOTION_WORDS = {
    "neu": "neutral",
    "hap": "happy",
    "happiness": "happy",
    "joy": "happy",
    "exc": "happy",
    "sad": "sad",
    "sadness": "sad",
    "ang": "angry",
    "anger": "angry",
    "fea": "fearful",
    "fear": "fearful",
    "dis": "disgusted",
    "disgust": "disgusted",
    "sur": "surprised",
    "surprise": "surprised",
    "fru": "frustrated",
}


# --------------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------------


def resolve_source(source: str) -> str:
    """A hub id (an optional `hub:` prefix dropped) or a local folder path."""
    return source.removeprefix("hub:")


def provenance(source: str) -> str:
    """The hub id, or the recorded name of a prepared folder, or the folder path as given."""
    path = Path(source)
    if path.is_dir() and (path / SOURCE_FILE).exists():
        return model_name(path)
    return source


def check_local_folder(source: str) -> None:
    """Fail at build time (not clip by clip) when a local model folder cannot be loaded."""
    path = Path(source)
    if not path.is_dir():
        return  # a hub id; resolved from the Hugging Face cache when loaded
    if not (path / "config.json").exists():
        raise ValueError(f"{source} is not a Hugging Face model folder (no config.json)")
    if not any(path.glob("*.safetensors")):
        raise ValueError(f"{source} has no .safetensors weights; pickled weights are not loaded")


def lazy(load: Callable[[], Any]) -> Callable[[], Any]:
    """Call `load` on first use only."""
    return functools.lru_cache(maxsize=1)(load)


def missing(rows: list[dict[str, Any]], column: str) -> list[int]:
    """Indices of rows without a value in `column`."""
    return [i for i, row in enumerate(rows) if row.get(column) is None]


def fill(rows: list[dict[str, Any]], column: str, compute: Callable[[list[int]], list[Any]]) -> list[dict[str, Any]]:
    """One output dict per row: `compute(indices)` values for rows lacking `column`, nothing for the rest."""
    out: list[dict[str, Any]] = [{} for _ in rows]
    todo = missing(rows, column)
    if todo:
        for i, value in zip(todo, compute(todo)):
            out[i] = {column: value}
    return out


# --------------------------------------------------------------------------------------------------
# Whisper ASR
# --------------------------------------------------------------------------------------------------


def whisper_asr_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """`text` from Whisper: the prepared `models.asr` folder if configured, else the backbone Whisper."""
    source = resolve_source(model_dirs.get("asr") or model_dirs.get("whisper") or "")
    if not source:
        raise ValueError("whisper_asr needs models.asr or a prepared backbone Whisper (model_dirs['whisper'])")
    check_local_folder(source)
    load = lazy(lambda: load_whisper(source))
    batch_size = settings.batch_size

    def run(rows, audios):
        def compute(todo):
            processor, model = load()
            return transcribe([audios[i] for i in todo], processor, model, batch_size, settings.asr_window_step_s)

        return fill(rows, "text", compute)

    return Extractor(provenance(source), ("text",), run)


# --------------------------------------------------------------------------------------------------
# voice2gender (XGBoost on 20 acoustic features)
# --------------------------------------------------------------------------------------------------


def to_pcm16(audio: np.ndarray, rate: int = TARGET_RATE, target_rate: int = VOICE2GENDER_RATE) -> bytes:
    """Little-endian int16 PCM at `target_rate`, as voice2gender.predict takes it."""
    import soxr

    if rate != target_rate:
        audio = soxr.resample(audio, rate, target_rate)
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


def load_voice2gender():
    log.info("loading voice2gender %s (XGBoost, CPU)", VOICE2GENDER_VERSION)
    from voice2gender import predict

    return predict


def predict_gender(predict, audio: np.ndarray) -> str | None:
    """'female' or 'male'; None when voice2gender finds no usable voiced frames (too short, silent)."""
    try:
        result = predict([to_pcm16(audio)], sample_rate=VOICE2GENDER_RATE)
    except ValueError as error:
        log.warning("voice2gender gave no answer for a clip: %s", error)
        return None
    return "female" if result["female_probability"] >= 0.5 else "male"


def voice2gender_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """`gender` from voice2gender (weights in its wheel; clips upsampled to its 44.1 kHz input rate)."""
    load = lazy(load_voice2gender)

    def run(rows, audios):
        def compute(todo):
            predict = load()
            return [predict_gender(predict, audios[i]) for i in todo]

        return fill(rows, "gender", compute)

    return Extractor(f"voice2gender-{VOICE2GENDER_VERSION}", ("gender",), run)


# --------------------------------------------------------------------------------------------------
# generic audio classifiers (gender, emotion)
# --------------------------------------------------------------------------------------------------


def label_words(id2label: dict[int, str], words: dict[str, str]) -> list[str]:
    """Lower-cased label per class index, common spellings mapped to our vocabulary."""
    labels = []
    for index in range(len(id2label)):
        label = str(id2label[index]).strip().lower()
        labels.append(words.get(label, label))
    return labels


def load_classifier(source: str, words: dict[str, str]):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    device = torch_device()
    log.info("loading audio classifier %s on %s", source, device)
    with quiet_loading():
        extractor = AutoFeatureExtractor.from_pretrained(source)
        model = AutoModelForAudioClassification.from_pretrained(source, use_safetensors=True)
    return extractor, model.to(device).eval(), label_words(model.config.id2label, words)


def classify(audios: list[np.ndarray], extractor, model, labels: list[str]) -> list[str]:
    """Arg-max label word per clip, one padded batch."""
    import torch

    inputs = extractor(audios, sampling_rate=TARGET_RATE, padding=True, return_tensors="pt")
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    with torch.inference_mode():
        logits = model(**inputs).logits
    return [labels[i] for i in logits.argmax(dim=-1).tolist()]


def check_gender_labels(labels: list[str], source: str) -> None:
    if not {"female", "male"} & set(labels):
        raise ValueError(f"{source} has no female/male labels (id2label gives {labels}); not a gender model")


def local_labels(source: str, words: dict[str, str]) -> list[str] | None:
    """Label words from a local folder's config.json (None for a hub id)."""
    config = Path(source) / "config.json"
    if not config.exists():
        return None
    id2label = json.loads(config.read_text()).get("id2label") or {}
    return label_words({int(k): v for k, v in id2label.items()}, words)


def classifier_extractor(settings: AttributeSettings, model_dirs: dict[str, str], column: str, words: dict[str, str]) -> Extractor:
    if not model_dirs.get(column):
        raise ValueError(f"{column}_classifier needs models.{column} (an audio-classification model: hub id or local folder)")
    source = resolve_source(model_dirs[column])
    check_local_folder(source)
    if column == "gender" and (labels := local_labels(source, words)) is not None:
        check_gender_labels(labels, source)  # at build time, not clip by clip
    batch_size = settings.batch_size

    def load():
        extractor, model, labels = load_classifier(source, words)
        if column == "gender":
            check_gender_labels(labels, source)
        return extractor, model, labels

    loaded = lazy(load)

    def run(rows, audios):
        def compute(todo):
            extractor, model, labels = loaded()
            clips = [audios[i] for i in todo]
            return [word for batch in chunks(clips, batch_size) for word in classify(batch, extractor, model, labels)]

        return fill(rows, column, compute)

    return Extractor(provenance(source), (column,), run)


def gender_classifier_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """`gender` from the prepared audio-classification model `models.gender`."""
    return classifier_extractor(settings, model_dirs, "gender", GENDER_WORDS)


def emotion_classifier_extractor(settings: AttributeSettings, model_dirs: dict[str, str]) -> Extractor:
    """`emotion` from the prepared audio-classification model `models.emotion`."""
    return classifier_extractor(settings, model_dirs, "emotion", EMOTION_WORDS)
