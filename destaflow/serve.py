"""The trained model behind OpenAI's chat-completions API: `destaflow serve --model ADAPTER_DIR`.

    POST /v1/chat/completions   messages whose content is text or a list of parts: {"type": "text", "text": ...}
                                and {"type": "input_audio", "input_audio": {"data": <base64>, "format": wav|mp3|flac}}
                                (several audios per conversation); system messages; max_tokens (or
                                max_completion_tokens), temperature (0 or absent = greedy), top_p
    GET  /v1/models             the one model served

Concurrent requests are answered together: a bounded queue feeds one worker thread, which takes the requests
waiting (up to `batch_size`) and runs those with the same decoding settings through one batched generation.
A full queue answers 429 at once. Bad input (undecodable audio, no audio, an unknown field, an oversized body,
audio over `max_audio_s`) answers 4xx with a one-line reason in OpenAI's error shape; nothing a request sends
stops the server, and a batch that fails fails only its own requests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import io
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
import soundfile as sf
from starlette.exceptions import HTTPException as StarletteHTTPException

from destaflow.audio import TARGET_RATE, AudioError, decode_audio

log = logging.getLogger("destaflow.serve")


class ChatModel(Protocol):
    def batch_chat(self, conversations: list[list[dict]], batch_size: int, max_new_tokens: int, do_sample: bool,
                   temperature: float, top_p: float) -> list[str]: ...  # fmt: skip


# ---- the request ----------------------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is an error, never silently ignored


class AudioData(Strict):
    data: str
    format: Literal["wav", "mp3", "flac"]


class AudioPart(Strict):
    type: Literal["input_audio"]
    input_audio: AudioData


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant"]
    content: str | list[Annotated[TextPart | AudioPart, Field(discriminator="type")]]


class ChatRequest(Strict):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: Literal[1] = 1
    stream: Literal[False] = False


class BadRequest(ValueError):
    """The request is well-formed JSON but cannot be answered (its reason goes back to the client)."""


def decode_part(part: AudioPart, where: str, max_audio_s: float) -> tuple:
    try:
        raw = base64.b64decode(part.input_audio.data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: input_audio.data is not base64") from None
    try:
        seconds = sf.info(io.BytesIO(raw)).duration  # the header's length: refuse hours of audio before decoding them
    except Exception:  # noqa: BLE001 - decode_audio below says what is wrong with it
        seconds = 0.0
    if seconds > max_audio_s:
        raise BadRequest(f"{where}: {seconds:.0f} s of audio, over this server's limit of {max_audio_s:.0f} s")
    try:
        audio = decode_audio(io.BytesIO(raw))
    except AudioError as error:
        raise BadRequest(f"{where}: {part.input_audio.format} audio {error}") from None
    return audio.samples, TARGET_RATE


def conversation_of(request: ChatRequest, max_audio_s: float = 600.0) -> list[dict]:
    """OpenAI messages -> the model's: each audio part becomes an audio turn before its message's text."""
    messages: list[dict] = []
    for index, message in enumerate(request.messages):
        parts = [TextPart(type="text", text=message.content)] if isinstance(message.content, str) else message.content
        audios = [(number, part) for number, part in enumerate(parts) if isinstance(part, AudioPart)]
        if audios and message.role != "user":
            raise BadRequest(f"messages[{index}]: audio is only accepted in user messages")
        messages += [{"role": "audio", "content": decode_part(part, f"messages[{index}].content[{number}]", max_audio_s)} for number, part in audios]
        text = "\n".join(part.text for part in parts if isinstance(part, TextPart))
        if text or message.role != "user":
            messages.append({"role": message.role, "content": text})
    if not any(m["role"] == "audio" for m in messages):
        raise BadRequest("no input_audio part: this model answers questions about audio")
    if messages[-1]["role"] != "user":
        raise BadRequest("the last message must be the user's")
    return messages


# ---- the batching worker --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float


@dataclass
class Job:
    conversation: list[dict]
    decoding: Decoding
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class Batcher:
    """One worker thread answering queued jobs in batches; `submit` raises queue.Full when the queue is full."""

    def __init__(self, model: ChatModel, batch_size: int, queue_size: int, gather_s: float = 0.01) -> None:
        self.model, self.batch_size, self.gather_s = model, batch_size, gather_s
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self.run, name="destaflow-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> concurrent.futures.Future:
        if not self.thread.is_alive():
            raise RuntimeError("the server's worker has stopped; restart the server")
        self.queue.put_nowait(job)
        return job.future

    def stop(self) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=5)
        self.thread.join(timeout=30)
        self.fail_waiting(RuntimeError("the server is shutting down"))

    def fail_waiting(self, error: Exception) -> None:
        """Resolve every job still queued with `error`, so no request waits for a worker that is gone."""
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(error)

    def gather(self, first: Job) -> tuple[list[Job], bool]:
        """The first job and whatever else arrives within `gather_s`, up to batch_size; and whether to stop."""
        jobs, deadline = [first], time.monotonic() + self.gather_s
        while len(jobs) < self.batch_size:
            try:
                job = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                return
            jobs, stop = self.gather(first)
            jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]  # a cancelled request needs no answer
            groups: dict[Decoding, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.decoding, []).append(job)
            for decoding, group in groups.items():
                try:
                    self.answer(group, decoding)
                except BaseException as error:  # the worker must outlive any batch: fail that batch's requests only
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(error if isinstance(error, Exception) else RuntimeError(repr(error)))
                    if not isinstance(error, Exception):
                        self.fail_waiting(RuntimeError("the server's worker stopped"))
                        raise

    def answer(self, group: list[Job], decoding: Decoding) -> None:
        try:
            answers = self.model.batch_chat([job.conversation for job in group], batch_size=len(group), **vars(decoding))
            if len(answers) != len(group):
                raise RuntimeError(f"{len(answers)} answers to {len(group)} conversations")
        except Exception as error:  # noqa: BLE001 - one bad conversation must not fail the others
            if len(group) > 1:
                for job in group:
                    self.answer([job], decoding)
            else:
                group[0].future.set_exception(error)
            return
        for job, answer in zip(group, answers):
            job.future.set_result(answer)


# ---- the app --------------------------------------------------------------------------------------------------


def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message.splitlines()[0][:500] if message else kind, "type": kind, "param": None, "code": None}}, status_code=status)


TOO_LARGE = "destaflow.body_too_large"


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` (declared or streamed) is answered 413 unread."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = error(413, f"request body over {self.max_bytes} bytes", "request_too_large")
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await too_large(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                scope[TOO_LARGE] = self.max_bytes  # FastAPI turns a failed body read into its own 400: say why
                raise OverflowError
            return message

        try:
            return await self.app(scope, counted, send)
        except OverflowError:
            return await too_large(scope, receive, send)


def create_app(model: ChatModel, name: str, batch_size: int = 8, queue_size: int = 64, max_tokens: int = 1024,
               default_tokens: int = 256, max_body_bytes: int = 32 << 20, max_audio_s: float = 600.0) -> FastAPI:  # fmt: skip
    batcher = Batcher(model, batch_size, queue_size)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        batcher.stop()

    app = FastAPI(title="destaflow", lifespan=lifespan)
    app.state.batcher = batcher

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error(400, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if TOO_LARGE in request.scope:
            return error(413, f"request body over {request.scope[TOO_LARGE]} bytes", "request_too_large")
        return error(exc.status_code, str(exc.detail), "not_found_error" if exc.status_code == 404 else "invalid_request_error")

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "destaflow"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: ChatRequest) -> Any:
        wanted = request.max_completion_tokens or request.max_tokens or min(default_tokens, max_tokens)
        if wanted > max_tokens:
            return error(400, f"max_tokens {wanted} is over this server's limit of {max_tokens}")
        try:
            conversation = await asyncio.to_thread(conversation_of, request, max_audio_s)  # decoding must not stall the loop
        except BadRequest as problem:
            return error(400, str(problem))
        sampled = bool(request.temperature)
        decoding = Decoding(wanted, sampled, request.temperature or 1.0, request.top_p or 1.0)
        try:
            future = batcher.submit(Job(conversation, decoding))
        except queue.Full:
            return error(429, f"the queue is full ({queue_size} requests waiting); retry later", "rate_limit_exceeded")
        except RuntimeError as problem:
            return error(503, str(problem), "server_error")
        try:
            answer = await asyncio.wrap_future(future)
        except (ValueError, AudioError) as problem:
            return error(400, str(problem))
        except Exception as problem:  # noqa: BLE001 - reported to the client; the server keeps serving
            log.exception("generation failed")
            return error(500, f"generation failed: {type(problem).__name__}: {problem}", "server_error")
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()), "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        }  # fmt: skip

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


@contextlib.contextmanager
def running_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The app served from a background thread until the block ends (tests, benchmarks); yields the base URL
    clients use (`http://host:port/v1`). Port 0 takes a free one."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="destaflow-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound}/v1"
    finally:
        server.should_exit = True
        thread.join(30)


def serve(adapter_dir: str, host: str, port: int, whisper: str | None = None, llm: str | None = None, name: str | None = None,
          device: str | None = None, dtype: str | None = None, **settings: Any) -> None:  # fmt: skip
    import uvicorn

    from destaflow.inference import DestaModel

    model = DestaModel.from_pretrained(adapter_dir, whisper, llm, device=device, dtype=dtype)
    app = create_app(model, name or adapter_dir, **settings)
    uvicorn.run(app, host=host, port=port, log_level="info")
