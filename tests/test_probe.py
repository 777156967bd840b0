"""The likelihood probe: labels from seed transcripts, option scores equal to the LLM's own log-likelihoods."""

import pytest
import torch

from destaflow.evaluation.probe import PROBES, Probe, likelihood_probe, option_scores, probe_labels, summarise
from destaflow.models.speech_lm import SpeechLM
from destaflow.seed import format_seed, parse_seed

torch.set_num_threads(1)

SEED = "[00:00:00-00:00:02] The bus was full. (Gender: Female, Pitch: Low, Speaking speed: Fast, Noise level: Moderately noisy (SNR 28 dB), Duration: 2s)"


def test_parse_seed_inverts_format_seed():
    row = {"duration": 3.2, "text": "Well, (so) it goes.", "gender": "male", "speaking_speed": "slow", "snr": "very noisy", "snr_db": 4.0}
    assert parse_seed(format_seed(row, ["gender", "speaking_speed", "snr"])) == {"gender": "Male", "speaking_speed": "Slow", "snr": "Very noisy"}
    assert parse_seed(format_seed(row, ["gender"], style="quoted")) == {"gender": "Male"}


def test_probe_labels_keep_only_values_a_probe_can_ask_about():
    # "moderately noisy" is neither clean nor noisy: not probed
    assert probe_labels(SEED) == {"gender": "female", "pitch": "low", "speaking_speed": "fast"}
    assert probe_labels(SEED.replace("Moderately noisy", "Very clean"))["snr"] == "clean"


def test_summary_counts_intervals_and_the_majority_share():
    table = summarise({"gender": [("female", "female"), ("male", "female"), ("female", "female"), ("female", "male")]}).row(0, named=True)
    assert (table["n"], table["correct"], table["accuracy"], table["majority"]) == (4, 2, 50.0, 75.0)
    assert table["accuracy_lo"] == pytest.approx(15.0, abs=0.1) and table["accuracy_hi"] == pytest.approx(85.0, abs=0.1)


@pytest.fixture(scope="module")
def model(prepared_models) -> SpeechLM:
    torch.manual_seed(0)
    return SpeechLM.from_pretrained(prepared_models["whisper"], prepared_models["llm"], num_queries=4).eval()


MULTI_TOKEN = Probe("How fast does the speaker talk?", "The speaker talks", {"slow": " at a slow pace", "fast": " very fast"}, {})


@pytest.mark.parametrize("probe", [PROBES["speaking_speed"], MULTI_TOKEN], ids=["one token per option", "several tokens"])
def test_option_scores_are_the_llms_log_likelihoods(model, probe):
    embeds = torch.randn(2, 4, model.llm.config.hidden_size) * 0.02
    scores = option_scores(model, probe, ["the bus was full", "hello"], embeds)
    assert scores.shape == (2, len(probe.options))
    for clip, transcript in enumerate(["the bus was full", "hello"]):
        for k, continuation in enumerate(probe.options.values()):
            batch = model.build_inputs([transcript], [probe.question], [probe.answer_start + continuation])
            with torch.no_grad():
                logits = model.llm(inputs_embeds=model.splice(batch, embeds[clip : clip + 1])).logits[0].log_softmax(-1)
            labels = batch["labels"][0]
            option_ids = model.tokenizer(continuation, add_special_tokens=False).input_ids
            last = int((labels != -100).nonzero().max())  # the end-of-turn token; the option ends just before it
            positions = range(last - len(option_ids), last)
            expected = sum(float(logits[p - 1, labels[p]]) for p in positions)
            assert float(scores[clip, k]) == pytest.approx(expected, abs=1e-3)


def test_probe_runs_every_attribute_a_clip_is_labelled_with(model):
    clips = [{"transcription": "the bus was full", "labels": probe_labels(SEED)}, {"transcription": "hi", "labels": {"gender": "male"}}]
    table = likelihood_probe(model, clips, lambda chunk: torch.zeros(len(chunk), 4, model.llm.config.hidden_size), batch_size=1)
    counts = dict(table.select("attribute", "n").iter_rows())
    assert counts == {"gender": 2, "speaking_speed": 1, "pitch": 1}
