"""Captioning: both backends, shard partition, resume after SIGKILL, retries and quarantine on a flaky endpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from destaflow import tables
from destaflow.captioning import Generation, TransformersBackend, caption_shard, shard_items
from destaflow.captioning.backends import load_tokenizer
from destaflow.captioning.parts import parts_folder, read_parts
from destaflow.captioning.prompts import prompt_pool
from destaflow.captioning.settings import CaptionSettings
from destaflow.captioning.shards import PART_COLUMNS
from destaflow.config import validate_config
from destaflow.models.sources import model_name
from destaflow.template import caption_context

ROOT = Path(__file__).resolve().parent.parent
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def caption_settings(**overrides) -> CaptionSettings:
    return CaptionSettings.of(validate_config({"caption": overrides})["caption"])


def write_seed_manifest(path: Path, seeds: dict[str, str], corpus_of=lambda i: "a") -> str:
    ids = list(seeds)
    pl.DataFrame(
        {
            "id": ids,
            "corpus": [corpus_of(i) for i in range(len(ids))],
            "split": ["train"] * len(ids),
            "seed": list(seeds.values()),
            "audio_path": [f"audio/{clip}.wav" for clip in ids],
        }
    ).write_parquet(path)
    return str(path)


def keys(table: pl.DataFrame) -> list[tuple[str, int]]:
    return list(table.select("id", "caption_index").iter_rows())


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    """A whitespace ChatML tokenizer: enough to render and count for tests that need no model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.WordLevel({token: i for i, token in enumerate(specials)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<|im_start|>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def llm_dir(prepared_models):
    import torch

    # On a small machine shared with other jobs, two torch threads fighting for busy cores run ~10x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield str(prepared_models["llm"])
    torch.set_num_threads(threads)


class EchoBackend:
    """Answers instantly (or after `delay_s` per batch) and remembers every prompt it saw."""

    name = "echo"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.prompts: list[str] = []

    def generate(self, prompts: list[str], sample_seed: int) -> list[Generation]:
        time.sleep(self.delay_s)
        self.prompts += prompts
        return [Generation(f" caption {len(self.prompts)} ", 2, False) for _ in prompts]

    def close(self) -> None:
        pass


# --- shard partition -------------------------------------------------------------------------------------


def test_shards_partition_the_items_and_per_clip_multiplies_them():
    clips = pl.DataFrame({"id": [f"c{i}" for i in range(30)], "corpus": ["a"] * 10 + ["b"] * 20})
    shards = [shard_items(clips, {"a": 3}, shard, 4) for shard in range(4)]
    every_key = [key for shard in shards for key in keys(shard)]
    assert len(every_key) == len(set(every_key)) == 10 * 3 + 20
    assert all(shard.height for shard in shards)
    assert keys(shards[1]) == keys(shard_items(clips, {"a": 3}, 1, 4))


# --- transformers backend on the prepared SmolLM2 ---------------------------------------------------------


def test_transformers_backend_writes_complete_rows(llm_dir, tmp_path):
    seeds = {f"clip{i}": f"[00:00:00-00:00:0{i + 1}] Sentence {i}. (Gender: Female, Emotion: calm)" for i in range(5)}
    manifest = write_seed_manifest(tmp_path / "seed.parquet", seeds, corpus_of=lambda i: "a" if i < 2 else "b")
    settings = caption_settings(max_new_tokens=16, batch_size=4, per_clip={"a": 2}, seed=7)
    out, quarantine = tmp_path / "captions.parquet", tmp_path / "quarantine.parquet"

    caption_shard([manifest], 0, 1, settings, llm_dir, str(out), str(quarantine))

    captions, failed = pl.read_parquet(out), pl.read_parquet(quarantine)
    assert captions.schema == pl.Schema(tables.CAPTIONS)
    assert captions.height + failed.height == 2 * 2 + 3
    items_of_a = captions.filter(pl.col("corpus") == "a").height + failed.filter(pl.col("id").is_in(["clip0", "clip1"])).height
    assert items_of_a == 4
    assert sorted(set(keys(captions))) == sorted(keys(captions))
    assert not parts_folder(out).exists()
    row = captions.row(0, named=True)
    assert row["prompt"] == "What can you hear from the audio?" and row["seed"] == seeds[row["id"]]
    assert row["llm"] == model_name(llm_dir) and row["backend"] == "transformers"
    expected_params = {"temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0, "max_new_tokens": 16, "system": None}
    assert json.loads(row["gen_params"]) == expected_params
    assert captions["response"].str.strip_chars().eq(captions["response"]).all() and captions["response"].str.len_chars().min() > 0
    assert captions["n_tokens"].is_between(1, 16).all()
    assert captions.filter(pl.col("hit_token_limit"))["n_tokens"].eq(16).all()
    assert captions["sample_seed"].n_unique() <= 2  # one seed per batch of 4


def test_batched_greedy_equals_one_prompt_at_a_time(llm_dir):
    backend = TransformersBackend(llm_dir, caption_settings(temperature=0, max_new_tokens=16))
    seeds = [
        "Hi.",
        "[00:00:00-00:00:04] The quick brown fox jumps over the lazy dog. (Gender: Male, Pitch: low)",
        "Okay then, see you tomorrow at nine.",
        "No.",
    ]
    prompts = [caption_context(backend.tokenizer, seed) for seed in seeds]

    batched = backend.generate(prompts, sample_seed=1)
    alone = [backend.generate([prompt], sample_seed=1)[0] for prompt in prompts]

    assert batched == alone
    assert all(generation.n_tokens > 0 for generation in batched)


def test_a_sampled_batch_gives_what_its_prompts_give_alone_with_their_row_seeds(llm_dir):
    """Row i samples from its own stream (seed + i): a caption does not depend on its batch or batch size."""
    backend = TransformersBackend(llm_dir, caption_settings(temperature=1.0, top_p=0.9, repetition_penalty=1.2, max_new_tokens=12))
    prompts = [caption_context(backend.tokenizer, seed) for seed in ("Hi.", "Okay then, see you tomorrow at nine.", "No.")]

    batched = backend.generate(prompts, sample_seed=7)
    alone = [backend.generate([prompt], sample_seed=7 + i)[0] for i, prompt in enumerate(prompts)]
    again = backend.generate(prompts, sample_seed=8)

    assert batched == alone
    assert batched != again  # other seeds, other draws



def test_prompts_about_one_clip_read_their_common_prefix_once_with_the_same_answers(llm_dir):
    """share_keys: the rows of a key share the keys and values of their longest common prefix (different lengths,
    a key of one row, a row that is a prefix of another's question), without keys the whole batch shares its
    common prefix; greedy and sampled answers stay the same."""
    from destaflow.template import conversation, render

    for settings in (caption_settings(temperature=0, max_new_tokens=10), caption_settings(temperature=1.0, top_p=0.9, repetition_penalty=1.2, max_new_tokens=10)):
        backend = TransformersBackend(llm_dir, settings)
        about = {"a": "[00:00:00-00:00:02] Hello there. (Gender: Female)", "b": "[00:00:00-00:00:05] Okay then, see you tomorrow at nine."}
        questions = [("a", "Is the speaker male or female?"), ("b", "What did they say?"), ("a", "Describe the voice in detail, please."),
                     ("a", "Is the speaker male"), ("c", "Hi.")]
        about["c"] = "[00:00:00-00:00:01] Hi."
        prompts = [render(backend.tokenizer, conversation([about[key]], question)) for key, question in questions]
        keys = [key for key, _ in questions]

        unshared = backend.generate(prompts, 3, share_keys=list(range(len(prompts))))
        assert backend.generate(prompts, 3, share_keys=keys) == unshared
        assert backend.generate(prompts, 3) == unshared  # no keys: text prompts share their common prefix (system turn)


def test_train_backbone_dtype_reaches_the_in_process_llm(llm_dir):
    import torch

    backend = TransformersBackend(llm_dir, caption_settings(temperature=0, max_new_tokens=4), dtype="bfloat16")

    assert backend.model.dtype == torch.bfloat16
    assert isinstance(backend.generate([caption_context(backend.tokenizer, "Hi.")], 0)[0], Generation)

# --- resume after SIGKILL ---------------------------------------------------------------------------------

KILLED_JOB = """
import json, sys, time
from destaflow.captioning import Generation, caption_shard

class SlowBackend:
    name = "echo"
    def generate(self, prompts, sample_seed):
        time.sleep(0.3)
        return [Generation("slow caption", 2, False) for _ in prompts]
    def close(self):
        pass

manifest, settings, tokenizer_dir, out, quarantine = sys.argv[1:]
caption_shard([manifest], 0, 1, json.loads(settings), tokenizer_dir, out, quarantine, backend=SlowBackend())
"""


def test_resume_after_sigkill_loses_and_duplicates_nothing(tokenizer_dir, tmp_path):
    seeds = {f"clip{i:02d}": f"seed number {i}" for i in range(12)}
    manifest = write_seed_manifest(tmp_path / "seed.parquet", seeds)
    settings = caption_settings(batch_size=2, per_clip={"a": 2})
    out, quarantine = tmp_path / "captions.parquet", tmp_path / "quarantine.parquet"
    parts = parts_folder(out)
    script = tmp_path / "job.py"
    script.write_text(KILLED_JOB)

    arguments = [manifest, json.dumps(settings.as_dict()), tokenizer_dir, str(out), str(quarantine)]
    job = subprocess.Popen([sys.executable, str(script), *arguments], cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(list(parts.glob("part-*.parquet"))) < 2 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()

    assert job.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert not out.exists()
    done = keys(read_parts(parts, PART_COLUMNS))
    assert 2 <= len(done) < 24
    first = sorted(parts.glob("part-*.parquet"))[0]
    shutil.copy(first, parts / "part-999999.parquet")  # a part written twice must not duplicate rows

    backend = EchoBackend()
    caption_shard([manifest], 0, 1, settings, tokenizer_dir, str(out), str(quarantine), backend=backend)

    captions = pl.read_parquet(out)
    everything = sorted((clip, index) for clip in seeds for index in range(2))
    assert keys(captions) == everything
    assert len(backend.prompts) == len(everything) - len(done)
    assert pl.read_parquet(quarantine).height == 0
    assert not parts.exists()


def test_a_killed_run_rerun_with_another_prompt_keeps_only_new_captions(tokenizer_dir, tmp_path):
    """Parts of a killed job are matched by (clip, caption index) only; after the prompt changed they must go."""
    seeds = {f"clip{i:02d}": f"seed number {i}" for i in range(12)}
    manifest = write_seed_manifest(tmp_path / "seed.parquet", seeds)
    settings = caption_settings(batch_size=2)
    out, quarantine = tmp_path / "captions.parquet", tmp_path / "quarantine.parquet"
    parts = parts_folder(out)
    script = tmp_path / "job.py"
    script.write_text(KILLED_JOB)
    job = subprocess.Popen([sys.executable, str(script), manifest, json.dumps(settings.as_dict()), tokenizer_dir, str(out), str(quarantine)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(list(parts.glob("part-*.parquet"))) < 2 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL and len(keys(read_parts(parts, PART_COLUMNS))) >= 2

    changed = settings.replace(prompt="Describe what you hear.")
    backend = EchoBackend()
    caption_shard([manifest], 0, 1, changed, tokenizer_dir, str(out), str(quarantine), backend=backend)

    captions = pl.read_parquet(out)
    assert captions.height == len(seeds) and len(backend.prompts) == len(seeds)  # every clip captioned again
    assert (captions["prompt"] == "Describe what you hear.").all() and not captions["response"].str.contains("slow").any()


# --- OpenAI-compatible backend against a flaky local server ------------------------------------------------


class FlakyCompletionServer:
    """/v1/completions that fails its first `fail_first` requests, times out once on SLOW, always fails BROKEN."""

    def __init__(self, fail_first: int, slow_s: float) -> None:
        self.fail_first, self.slow_s = fail_first, slow_s
        self.requests: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def attempts(self, word: str) -> int:
        return sum(word in body["prompt"] for body, _ in self.requests)

    def _reply(self, body: dict, headers: dict) -> tuple[int, dict]:
        prompt = body["prompt"]
        with self.lock:
            self.requests.append((body, headers))
            number, attempt = len(self.requests), sum(seen["prompt"] == prompt for seen, _ in self.requests)
        if "BROKEN" in prompt:
            return 500, {"error": "broken"}
        if "SLOW" in prompt and attempt == 1:
            time.sleep(self.slow_s)
        elif number <= self.fail_first:
            return 500, {"error": "warming up"}
        text = "" if "EMPTY" in prompt else f"  a caption for attempt {attempt}  "
        choice = {"text": text, "finish_reason": "length" if "LONG" in prompt else "stop"}
        return 200, {"choices": [choice], "usage": {"completion_tokens": 5}}

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions":
                    status, payload = 404, {}
                else:
                    status, payload = owner._reply(body, dict(self.headers.items()))
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (the timeout under test)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_openai_backend_retries_times_out_and_quarantines(tokenizer_dir, tmp_path, monkeypatch):
    seeds = {
        "a_ok": "fine clip",
        "b_slow": "SLOW clip",
        "c_broken": "BROKEN clip",
        "d_empty": "EMPTY clip",
        "e_long": "LONG clip",
        "f_ok": "other clip",
    }
    manifest = write_seed_manifest(tmp_path / "seed.parquet", seeds)
    out, quarantine = tmp_path / "captions.parquet", tmp_path / "quarantine.parquet"
    monkeypatch.setenv("CAPTION_TEST_KEY", "secret")

    with FlakyCompletionServer(fail_first=2, slow_s=1.0) as server:
        endpoint = {"base_url": server.base_url, "model": "smol", "api_key_env": "CAPTION_TEST_KEY"}
        endpoint |= {"timeout_s": 0.3, "max_retries": 3, "concurrency": 3, "backoff_s": 0.01}
        settings = caption_settings(backend="openai", temperature=0.7, top_p=0.9, max_new_tokens=7, batch_size=4, seed=5, endpoint=endpoint)
        caption_shard([manifest], 0, 1, settings, tokenizer_dir, str(out), str(quarantine))

    captions, failed = pl.read_parquet(out), pl.read_parquet(quarantine)
    assert captions.height + failed.height == len(seeds)
    assert captions["id"].to_list() == ["a_ok", "b_slow", "e_long", "f_ok"]
    assert captions["response"].str.starts_with("a caption for attempt").all()
    assert captions["n_tokens"].to_list() == [5] * 4
    assert captions.filter(pl.col("hit_token_limit"))["id"].to_list() == ["e_long"]
    reasons = dict(failed.select("id", "reason").iter_rows())
    assert failed["stage"].unique().to_list() == ["caption"]
    assert failed["audio_path"].to_list() == ["audio/c_broken.wav", "audio/d_empty.wav"]
    assert "HTTP 500" in reasons["c_broken"] and "4 attempts" in reasons["c_broken"]
    assert "empty output" in reasons["d_empty"]
    assert server.attempts("BROKEN") == 4 and server.attempts("SLOW") >= 2

    tokenizer = load_tokenizer(tokenizer_dir)
    rendered = {caption_context(tokenizer, seed): clip for clip, seed in seeds.items()}
    sample_seed = dict(captions.select("id", "sample_seed").iter_rows())
    expected = {"model": "smol", "temperature": 0.7, "top_p": 0.9, "max_tokens": 7, "stop": ["<|im_end|>"]}
    for body, headers in server.requests:
        assert body["prompt"] in rendered
        sent = {name: body[name] for name in expected}
        assert sent == expected
        assert "repetition_penalty" not in body
        assert headers["Authorization"] == "Bearer secret"
        clip = rendered[body["prompt"]]
        if clip in sample_seed:
            assert 0 <= body["seed"] - sample_seed[clip] < 4


# --- the prompt pool ---------------------------------------------------------------------------------------------

POOL = ["What can you hear from the audio?", "Describe the voice.", "Describe everything you hear in this clip."]


def test_a_prompt_pool_asks_each_item_one_prompt_fixed_by_its_key(tokenizer_dir, tmp_path):
    seeds = {f"clip{i:02d}": f"seed number {i}" for i in range(12)}
    manifest = write_seed_manifest(tmp_path / "seed.parquet", seeds)
    settings = caption_settings(batch_size=5, prompts=POOL)
    runs = []
    for shards in (1, 3):
        backend = EchoBackend()
        parts = []
        for shard in range(shards):
            out = tmp_path / f"captions-{shards}-{shard}.parquet"
            caption_shard([manifest], shard, shards, settings, tokenizer_dir, str(out), str(tmp_path / f"q-{shards}-{shard}.parquet"), backend=backend)
            parts.append(pl.read_parquet(out))
        captions = pl.concat(parts).sort("id")
        assert set(captions["prompt"]) == set(POOL)  # 12 clips over 3 prompts: each is asked
        for row in captions.iter_rows(named=True):  # the LLM was asked the recorded prompt after that clip's seed
            assert any(f"{row['seed']}<|im_end|>\n<|im_start|>user\n{row['prompt']}<|im_end|>" in sent for sent in backend.prompts)
        runs.append(dict(captions.select("id", "prompt").iter_rows()))
    assert runs[0] == runs[1]  # the same prompt per clip however the items are sharded


@pytest.mark.parametrize("prompt", ["What is the gender of the speaker?", "Is the speaker talking fast?", "Describe the pitch.",
                                    "How high is the speaker's voice?", "Describe the tone.", "Is the voice deep?", "Is she happy?",
                                    "Is the recording clean?", "Does the speech match the text below?"])
def test_a_pool_naming_what_the_benchmarks_ask_is_refused(prompt):
    with pytest.raises(ValueError, match="generic prompts only"):
        prompt_pool(caption_settings(prompts=[*POOL, prompt]))


def test_without_a_pool_the_papers_one_prompt_is_asked():
    assert prompt_pool(caption_settings()) == ["What can you hear from the audio?"]
    assert prompt_pool(caption_settings(prompt="Describe the speed.")) == ["Describe the speed."]  # the ablations' own prompts are theirs


def test_rows_without_a_common_first_token_are_prefilled_unshared():
    import torch

    from destaflow.decoding import shared_prefixes

    ids = torch.tensor([[0, 5, 6, 7], [8, 5, 6, 9]])
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert shared_prefixes(ids, mask, [0, 0]) is None  # 5 6 7 and 8 5 6 9: nothing in common
    (first_rows, context, _), groups, (suffixes, _) = shared_prefixes(torch.tensor([[5, 6, 7], [5, 6, 9]]), torch.ones(2, 3, dtype=torch.long), [0, 0])
    assert first_rows.tolist() == [0] and context.tolist() == [[0, 1]] and groups.tolist() == [0, 0] and suffixes.tolist() == [[2], [2]]
