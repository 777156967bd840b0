
import pytest
import torch
import torch.nn.functional as F

from destaflow.decoding import Decoding
from destaflow.models.speech_lm import IGNORE, SpeechLM
from destaflow.models.whisper_taps import frames_for_duration, tap_encoder

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core

USER = "What can you hear from the audio?"


def test_frames_for_duration_is_50_hz_within_the_30_s_window():
    assert frames_for_duration(2.0) == 100
    assert frames_for_duration(0.011) == 1
    assert frames_for_duration(3.41) == 171
    assert frames_for_duration(45.0) == 1500


@pytest.fixture(scope="module")
def model(prepared_models) -> SpeechLM:
    torch.manual_seed(0)
    return SpeechLM.from_pretrained(prepared_models["whisper"], prepared_models["llm"]).eval()


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    return torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(0))


def test_taps_are_outputs_of_0_indexed_encoder_layers(model, features):
    encoder = model.whisper.get_encoder()
    x = features[:1]
    with torch.no_grad():
        hidden = F.gelu(encoder.conv2(F.gelu(encoder.conv1(x)))).permute(0, 2, 1) + encoder.embed_positions.weight
        by_hand = []
        for layer in encoder.layers:
            hidden = layer(hidden, None)
            by_hand.append(hidden)
        reference = encoder(x, output_hidden_states=True)
    taps = tap_encoder(model.whisper, x, [0, 1, 2, 3])
    assert taps.shape == (1, 4, 1500, 384)
    for i in range(4):
        torch.testing.assert_close(taps[:, i], by_hand[i])
    for i in range(3):
        torch.testing.assert_close(taps[:, i], reference.hidden_states[i + 1])
    assert not torch.allclose(taps[:, 3], reference.last_hidden_state, atol=1e-2)  # before the final LayerNorm
    torch.testing.assert_close(tap_encoder(model.whisper, x, [3, 1]), taps[:, [3, 1]])


def test_labels_cover_exactly_the_target_and_its_end_of_turn(model):
    tokenizer = model.tokenizer
    assert tokenizer.convert_ids_to_tokens(model.end_of_turn_id) == "<|im_end|>"
    targets = ["A man says hello.", "Two clips: a greeting and a farewell."]
    batch = model.build_inputs(["hello there", ["hi", "bye now"]], [USER, USER], targets)
    assert batch["num_audios"].tolist() == [1, 2] and batch["num_truncated"] == 0
    for b, target in enumerate(targets):
        labels = batch["labels"][b]
        assert tokenizer.decode(labels[labels != IGNORE]) == target + "<|im_end|>"
        slots = batch["audio_slots"][b]
        assert int(slots.sum()) == 64 * (b + 1)
        assert (labels[slots] == IGNORE).all() and (batch["attention_mask"][b][slots] == 1).all()
    assert batch["attention_mask"][0, -1] == 0  # right padding for training


def test_several_audios_are_spliced_in_order(model):
    batch = model.build_inputs([["a", "b"], "c"], [USER, USER], ["x", "y"])
    audio = torch.arange(3.0)[:, None, None].expand(3, 64, model.llm.config.hidden_size)
    embeds = model.splice(batch, audio)
    first = embeds[0][batch["audio_slots"][0]][:, 0]
    assert first.tolist() == [0.0] * 64 + [1.0] * 64
    assert (embeds[1][batch["audio_slots"][1]][:, 0] == 2.0).all()
    with pytest.raises(ValueError):
        model.splice(batch, audio[:2])


def test_token_cap_cuts_targets_from_the_end_and_counts_them(model):
    context = len(model.build_inputs(["hello"], [USER])["input_ids"][0])
    batch = model.build_inputs(["hello", "hello"], [USER, USER], ["one two three four five six", "ok"], max_tokens=context + 3)
    assert batch["num_truncated"] == 1
    kept = batch["labels"][0][batch["labels"][0] != IGNORE]
    assert model.tokenizer.decode(kept) == "one two three"
    assert model.tokenizer.decode(batch["labels"][1][batch["labels"][1] != IGNORE]) == "ok<|im_end|>"


def test_only_the_connector_learns_and_the_fast_loss_matches_the_plain_one(model, features):
    model.train()
    assert not model.whisper.training and not model.llm.training and model.connector.training
    tapped, mask = model.tap(features, [frames_for_duration(2.0), frames_for_duration(1.2)])
    assert tapped.shape[2] == 100 and mask.sum(1).tolist() == [100, 60]
    batch = model.build_inputs(["a cat sat", "hello"], [USER, USER], ["A cat.", "Someone greets you warmly."])
    model.zero_grad(set_to_none=True)
    audio = model.audio_embeddings(tapped, mask)
    loss, num_tokens = model(batch, audio)
    loss.backward()
    assert num_tokens == int((batch["labels"] != IGNORE).sum())
    assert all(p.grad is None for p in [*model.whisper.parameters(), *model.llm.parameters()])
    assert all(p.grad is not None for p in model.connector.parameters())

    with torch.no_grad():
        plain = model.llm(
            inputs_embeds=model.splice(batch, audio), attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
    assert abs(loss.item() - plain.item()) < 1e-5
    model.reference_style = True  # the benchmark's DeSTA2-style pass: the same loss and token count
    try:
        with torch.no_grad():
            reference_loss, reference_tokens = model(batch, audio)
    finally:
        model.reference_style = False
    assert abs(reference_loss.item() - plain.item()) < 1e-6 and reference_tokens == num_tokens
    model.eval()


def test_the_shared_prefix_is_reused_only_while_the_llm_is_frozen(model, features):
    tapped, mask = model.tap(features, [frames_for_duration(2.0), frames_for_duration(1.2)])
    batch = model.build_inputs(["a cat sat", "hello"], [USER, "Who speaks?"], ["A cat.", "Someone greets you warmly."])
    prefix = model.shared_prefix_length(batch)
    assert prefix == int(batch["audio_slots"][0].int().argmax()) > 0
    audio = model.audio_embeddings(tapped, mask)
    attention_mask = batch["attention_mask"]
    embeds = model.splice(batch, audio)
    with torch.no_grad():
        full = model.decode(embeds, attention_mask)
        reused = model.decode(embeds, attention_mask, prefix)
    assert torch.allclose(full[:, prefix:], reused, atol=1e-4)
    other = dict(batch, input_ids=batch["input_ids"].clone())
    other["input_ids"][1, 1] += 1
    assert model.shared_prefix_length(other) == 0  # rows whose contexts differ share nothing
    weight = model.llm.get_input_embeddings().weight
    weight.requires_grad_(True)  # a trainable LLM (LoRA) needs the prefix's graph
    try:
        assert model.shared_prefix_length(batch) == 0
    finally:
        weight.requires_grad_(False)


def test_batched_generation_equals_one_at_a_time(model, features):
    with torch.no_grad():
        audio = model.audio_embeddings(*model.tap(features, [100, 40]))
    transcriptions, users = ["a cat sat on the mat", "hi"], [USER, "Is the speaker male or female?"]
    batch = model.build_inputs(transcriptions, users)
    assert batch["attention_mask"][1, 0] == 0  # left padding for generation
    together = model.generate(batch, audio, Decoding.greedy(12))
    alone = [
        model.generate(model.build_inputs([text], [user]), audio[b : b + 1], Decoding.greedy(12))[0]
        for b, (text, user) in enumerate(zip(transcriptions, users))
    ]
    assert together == alone
    assert all(together)
    with pytest.raises(ValueError):
        model.generate(model.build_inputs(transcriptions, users, padding_side="right"), audio)



def test_questions_about_one_clip_share_its_prefix(model, features):
    with torch.no_grad():
        audio = model.audio_embeddings(*model.tap(features, [100, 40]))
    transcriptions, users = ["a cat sat on the mat", "a cat sat on the mat", "hi"], [USER, "Is the speaker male or female?", USER]
    batch, rows = model.build_inputs(transcriptions, users), audio[[0, 0, 1]]

    shared = model.generate(batch, rows, Decoding.greedy(12), share_keys=["cat", "cat", "hi"])

    assert shared == model.generate(batch, rows, Decoding.greedy(12))
    assert all(shared)

def test_whisper_transcribes_greedily_in_english(model, features):
    silence = torch.full_like(features[:1], -0.8)  # log-mel floor after Whisper's normalisation
    assert isinstance(model.transcribe(silence)[0], str)
