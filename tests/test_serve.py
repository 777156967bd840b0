"""`destaflow serve`: a live server on localhost, called with the official openai client."""

from __future__ import annotations

import base64
import contextlib
import io
import threading
import time

import numpy as np
import pytest
import soundfile as sf

openai = pytest.importorskip("openai")

from destaflow.serve import create_app, running_server  # noqa: E402


def audio_part(samples: np.ndarray, fmt: str = "wav", rate: int = 16000) -> dict:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt.upper())
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(buffer.getvalue()).decode(), "format": fmt}}


def tone(seconds: float = 1.0, frequency: float = 220.0, rate: int = 16000) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def question(text: str, *audios: dict) -> list[dict]:
    return [{"role": "user", "content": [*audios, {"type": "text", "text": text}]}]


class EchoModel:
    """Answers with what it was given; `gate` (an Event) holds the worker inside a generation."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate, self.batches = gate, []

    def batch_chat(self, conversations, batch_size, max_new_tokens, do_sample, temperature, top_p):
        self.batches.append(len(conversations))
        if self.gate is not None:
            self.gate.wait(30)
        return [f"{sum(m['role'] == 'audio' for m in c)} audio, {len(next(m for m in c if m['role'] == 'audio')['content'][0])} samples: {c[-1]['content']}"
                for c in conversations]  # fmt: skip


@contextlib.contextmanager
def running(app):
    with running_server(app) as url:
        yield openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)


def test_the_openai_client_lists_the_model_and_gets_answers_about_several_audios():
    with running(create_app(EchoModel(), "tiny")) as client:
        assert [model.id for model in client.models.list().data] == ["tiny"]
        messages = [{"role": "system", "content": "Be brief."}, *question("Same speaker?", audio_part(tone()), audio_part(tone(0.5, rate=8000), "flac"))]
        response = client.chat.completions.create(model="tiny", messages=messages, max_tokens=16)
        assert response.choices[0].message.content == "2 audio, 16000 samples: Same speaker?"


def test_bad_requests_get_a_4xx_with_a_reason_and_the_server_keeps_serving():
    with running(create_app(EchoModel(), "tiny", max_tokens=64, max_body_bytes=100_000, max_audio_s=2.0)) as client:
        ask = lambda messages, **kwargs: client.chat.completions.create(model="tiny", messages=messages, **kwargs)  # noqa: E731
        broken = {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF not really a wav").decode(), "format": "wav"}}
        cases = [
            (dict(messages=question("Hi?", broken)), 400, "undecodable"),
            (dict(messages=question("Hi?", {"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}})), 400, "not base64"),
            (dict(messages=question("What can you hear?")), 400, "no input_audio"),
            (dict(messages=question("Hi?", audio_part(tone())), extra_body={"voice": "alloy"}), 400, "voice"),
            (dict(messages=question("Hi?", audio_part(tone())), max_tokens=65), 400, "over this server's limit"),
            (dict(messages=question("Hi?", audio_part(tone(5.0)))), 413, "request body over"),
            (dict(messages=question("Hi?", audio_part(tone(2.5, rate=8000), rate=8000))), 400, "over this server's limit of 2 s"),
        ]
        for kwargs, status, reason in cases:
            with pytest.raises(openai.APIStatusError) as failure:
                ask(**kwargs)
            assert failure.value.status_code == status and reason in failure.value.message, (kwargs.keys(), failure.value.message)
        assert ask(question("Still there?", audio_part(tone()))).choices[0].message.content.endswith("Still there?")
        import httpx

        def chunks():  # a body that does not declare its size
            yield b'{"model": "tiny", "messages": [{"role": "user", "content": "' + b"x" * 200_000 + b'"}]}'

        streamed = httpx.post(f"{client.base_url}chat/completions", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and "request body over" in streamed.json()["error"]["message"]
        assert httpx.get(f"{client.base_url}nowhere").json()["error"]["type"] == "not_found_error"


def test_a_failing_batch_fails_only_its_requests_and_the_worker_keeps_going():
    class Flaky(EchoModel):
        def batch_chat(self, conversations, **kwargs):
            if any("boom" in c[-1]["content"] for c in conversations):
                raise RuntimeError("boom")
            return super().batch_chat(conversations, **kwargs)[:-1] if len(conversations) > 1 else super().batch_chat(conversations, **kwargs)

    with running(create_app(Flaky(), "tiny")) as client:
        with pytest.raises(openai.InternalServerError, match="boom"):
            client.chat.completions.create(model="tiny", messages=question("boom", audio_part(tone())))
        assert client.chat.completions.create(model="tiny", messages=question("fine", audio_part(tone()))).choices[0].message.content.endswith("fine")


def test_a_full_queue_answers_429_at_once_and_queued_requests_are_still_answered():
    gate = threading.Event()
    model = EchoModel(gate)
    app = create_app(model, "tiny", batch_size=1, queue_size=1)
    with running(app) as client:
        answers = {}

        def send(name):
            answers[name] = client.chat.completions.create(model="tiny", messages=question(name, audio_part(tone()))).choices[0].message.content

        first = threading.Thread(target=send, args=("first",))
        first.start()
        wait_for(lambda: model.batches == [1])  # the worker holds the first request
        second = threading.Thread(target=send, args=("second",))
        second.start()
        wait_for(lambda: app.state.batcher.queue.qsize() == 1)  # the second waits in the full queue
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError):
            send("third")
        assert time.monotonic() - started < 5
        gate.set()
        first.join(30), second.join(30)
        assert answers == {"first": "1 audio, 16000 samples: first", "second": "1 audio, 16000 samples: second"}


def test_concurrent_requests_share_a_batch_and_each_gets_its_own_answer():
    gate = threading.Event()
    model = EchoModel(gate)
    app = create_app(model, "tiny", batch_size=8)
    with running(app) as client:
        answers = {}

        def send(index):
            messages = question(f"question {index}", audio_part(tone(1 + index / 10)))
            answers[index] = client.chat.completions.create(model="tiny", messages=messages).choices[0].message.content

        threads = [threading.Thread(target=send, args=(index,)) for index in range(6)]
        threads[0].start()
        wait_for(lambda: model.batches == [1])
        for thread in threads[1:]:
            thread.start()
        wait_for(lambda: app.state.batcher.queue.qsize() == 5)
        gate.set()
        for thread in threads:
            thread.join(30)
    assert model.batches == [1, 5]
    assert answers == {index: f"1 audio, {16000 + 1600 * index} samples: question {index}" for index in range(6)}


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def tiny_adapter(prepared_models, tmp_path_factory):
    import torch

    from destaflow.models.adapter import save_adapter
    from destaflow.models.speech_lm import SpeechLM

    torch.manual_seed(0)
    whisper, llm = prepared_models["whisper"], prepared_models["llm"]
    return save_adapter(SpeechLM.from_pretrained(whisper, llm), tmp_path_factory.mktemp("served") / "adapter", whisper, llm)


@pytest.mark.slow
def test_the_trained_model_answers_the_same_served_and_alone(tiny_adapter):
    from destaflow.inference import DestaModel

    model = DestaModel.from_pretrained(tiny_adapter, device="cpu")
    clips = [tone(1.0 + k / 4, 180 + 60 * k) for k in range(4)]
    texts = ["What can you hear?", "Is it a man or a woman?", "Describe the sound.", "Is it noisy?"]
    alone = [model.chat([{"role": "audio", "content": (clip, 16000)}, {"role": "user", "content": text}], max_new_tokens=12) for clip, text in zip(clips, texts)]
    with running(create_app(model, "tiny-adapter", batch_size=4)) as client:
        served = [None] * 4

        def send(k):
            response = client.chat.completions.create(model="tiny-adapter", messages=question(texts[k], audio_part(clips[k])), max_tokens=12, temperature=0)
            served[k] = response.choices[0].message.content

        threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    assert served == alone


@pytest.mark.slow
def test_a_served_system_scores_what_the_in_process_one_does(tiny_adapter):
    """The scoring stage with a system of kind openai (this server) and with desta2 (the adapter loaded in
    process) on the same benchmark items: the same answers, so the same scores."""
    from destaflow.evaluation.dynamic_superb import Item
    from destaflow.evaluation.scoring import score_items
    from destaflow.evaluation.stage import answer_items
    from destaflow.inference import DestaModel

    def wav_bytes(samples):
        buffer = io.BytesIO()
        sf.write(buffer, samples, 16000, format="WAV")
        return buffer.getvalue()

    items = [Item(f"NoiseDetection_Demo/{k}", "NoiseDetection_Demo", "DEG", "Is the speech noisy? The answer could be clean or noisy.",
                  ["clean", "noisy"][k % 2], ["clean", "noisy"], [{"bytes": wav_bytes(tone(1 + k / 3, 200 + 40 * k)), "path": f"{k}.wav"}])
             for k in range(5)]  # fmt: skip
    settings = {"two_audio": "native", "batch_size": 4, "max_new_tokens": 8}
    local = answer_items(items, "desta2", "speech_lm", settings, str(tiny_adapter), None, None, None)
    with running_server(create_app(DestaModel.from_pretrained(tiny_adapter, device="cpu"), "tiny", batch_size=4)) as url:
        served = answer_items(items, "served", "openai", settings, None, None, None, None, endpoint={"base_url": url, "model": "tiny"})
    assert served["answer"].to_list() == local["answer"].to_list() and served["error"].null_count() == len(items)
    (local_scores, _), (served_scores, _) = score_items(local), score_items(served)
    for metric in ("exact", "contains", "exclusive"):
        assert served_scores[metric].to_list() == local_scores[metric].to_list()
