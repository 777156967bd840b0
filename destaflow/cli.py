"""The `destaflow` command (also `python -m destaflow.cli`).

    destaflow chat --model ADAPTER_DIR --audio a.wav [--audio b.flac ...] [--system S] "What can you hear?"
    destaflow transcribe --whisper WHISPER_DIR --audio a.wav [--audio ...]
    destaflow prepare --role llm --source SPEC --out DIR   (what the workflow's prepare_model rule does)
    destaflow serve --model ADAPTER_DIR [--port 8000]   (OpenAI chat-completions API, destaflow.serve)
    destaflow import-release RELEASE_DIR --out ADAPTER_DIR [--whisper W --llm L --taps training|inference]
    destaflow export-release ADAPTER_DIR --out RELEASE_DIR  (the authors' DeSTA2 layout, destaflow.models.desta_release)

Audio in any format libsndfile reads (wav, flac, ogg, mp3), any sample rate, mono or multichannel. Unusable
input ends the command with one line per problem, `error: <file>: <reason>`, and exit status 2; every file
is checked before the (slow) model load.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from destaflow.audio import AudioError, load_audio

USAGE_ERROR = 2  # argparse's status for bad input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="destaflow", description="Chat with a DeSTA2-style speech LM.")
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="answer a question about one or more audio clips")
    chat.add_argument("question", help="the user's question")
    chat.add_argument("--model", required=True, metavar="ADAPTER_DIR", help="trained adapter folder")
    chat.add_argument("--whisper", help="Whisper folder or hub id (default: the one the adapter records)")
    chat.add_argument("--llm", help="LLM folder or hub id (default: the one the adapter records)")
    chat.add_argument("--audio", action="append", required=True, metavar="FILE", help="an audio clip; repeat for several")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    chat.add_argument("--temperature", type=float, default=0.6, help="with --sample")
    chat.add_argument("--top-p", type=float, default=0.9, help="with --sample")
    chat.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    chat.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="backbone dtype")

    transcribe = commands.add_parser("transcribe", help="Whisper transcripts of audio clips")
    transcribe.add_argument("--whisper", required=True, help="Whisper folder or hub id")
    transcribe.add_argument("--audio", action="append", required=True, metavar="FILE")
    transcribe.add_argument("--batch-size", type=int, default=8)

    prepare = commands.add_parser("prepare", help="prepare a backbone folder from a package, hub id or folder")
    prepare.add_argument("--role", required=True, help="models.<role> it stands for: whisper, llm, asr, gender or emotion")
    prepare.add_argument("--source", required=True, metavar="SPEC", help="package:..., hub:... or a local folder (as in config)")
    prepare.add_argument("--out", required=True, metavar="DIR", help="folder to create")

    serve = commands.add_parser("serve", help="serve the model over OpenAI's chat-completions API")
    serve.add_argument("--model", required=True, metavar="ADAPTER_DIR", help="trained adapter folder")
    serve.add_argument("--whisper", help="Whisper folder or hub id (default: the one the adapter records)")
    serve.add_argument("--llm", help="LLM folder or hub id (default: the one the adapter records)")
    serve.add_argument("--name", help="the model id clients name (default: ADAPTER_DIR)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--batch-size", type=int, default=8, help="requests answered in one batched generation")
    serve.add_argument("--queue-size", type=int, default=64, help="waiting requests before 429")
    serve.add_argument("--max-tokens", type=int, default=1024, help="the largest max_tokens a request may ask")
    serve.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body (base64 audio included)")
    serve.add_argument("--max-audio-s", type=float, default=600.0, help="longest audio clip a request may send")
    serve.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    serve.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="backbone dtype")

    imports = commands.add_parser("import-release", help="an adapter folder from the authors' DeSTA2 release (qformer_connector.pth)")
    imports.add_argument("release", metavar="RELEASE_DIR")
    imports.add_argument("--out", required=True, metavar="ADAPTER_DIR")
    imports.add_argument("--whisper", help="Whisper folder or hub id (default: the release's whisper_model_id)")
    imports.add_argument("--llm", help="LLM folder or hub id (default: the release's llama_model_id)")
    imports.add_argument("--taps", choices=["training", "inference"],
                         help="which of the authors' tap conventions the weights expect (default: training, or the taps an export records)")
    exports = commands.add_parser("export-release", help="the authors' DeSTA2 release layout from an adapter folder")
    exports.add_argument("adapter", metavar="ADAPTER_DIR")
    exports.add_argument("--out", required=True, metavar="RELEASE_DIR")
    return parser


def unreadable(paths: Sequence[str]) -> list[str]:
    """'<file>: <reason>' for every path that cannot be used as audio."""
    problems = []
    for path in paths:
        try:
            load_audio(path)
        except AudioError as error:
            problems.append(f"{path}: {error}")
    return problems


def fail(*problems: object) -> int:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return USAGE_ERROR


def run_chat(args: argparse.Namespace) -> int:
    from destaflow.inference import DestaModel
    from destaflow.models.adapter import AdapterError

    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages += [{"role": "audio", "content": path} for path in args.audio]
    messages.append({"role": "user", "content": args.question})
    try:
        model = DestaModel.from_pretrained(args.model, args.whisper, args.llm, device=args.device, dtype=args.dtype)
        answer = model.chat(
            messages, args.max_new_tokens, do_sample=args.sample, temperature=args.temperature, top_p=args.top_p
        )
    except (AdapterError, AudioError) as error:
        return fail(error)
    except OSError as error:  # transformers: a backbone folder or hub id that cannot be found
        return fail(str(error).strip().splitlines()[0])
    print(answer)
    return 0


def run_transcribe(args: argparse.Namespace) -> int:
    from destaflow.asr import load_whisper, transcribe

    try:
        processor, model = load_whisper(args.whisper)
    except OSError as error:
        return fail(str(error).strip().splitlines()[0])
    texts = transcribe([load_audio(path).samples for path in args.audio], processor, model, args.batch_size)
    for path, text in zip(args.audio, texts):
        print(text if len(args.audio) == 1 else f"{path}\t{text}")
    return 0


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run_prepare(args: argparse.Namespace) -> int:
    from destaflow.models.prepare import prepare_model
    from destaflow.models.sources import ModelSourceError

    from destaflow.models.sources import SOURCE_FILE

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / SOURCE_FILE).exists():
        return fail(f"{out} exists and is not a prepared model folder; choose a new --out (it would be replaced)")
    try:
        print(prepare_model(args.role, args.source, out))
    except (ModelSourceError, OSError, ValueError) as error:
        return fail((str(error).strip() or type(error).__name__).splitlines()[0])
    return 0


def run_release(args: argparse.Namespace) -> int:
    from destaflow.models.adapter import AdapterError
    from destaflow.models.desta_release import export_release, import_release

    try:
        if args.command == "import-release":
            print(import_release(args.release, args.out, args.whisper, args.llm, args.taps))
        else:
            print(export_release(args.adapter, args.out))
    except (AdapterError, OSError, ValueError) as error:
        return fail((str(error).strip() or type(error).__name__).splitlines()[0])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "prepare":
        return run_prepare(args)
    if args.command in ("import-release", "export-release"):
        return run_release(args)
    if args.command == "serve":
        from destaflow.serve import serve

        serve(args.model, args.host, args.port, args.whisper, args.llm, args.name, args.device, args.dtype, batch_size=args.batch_size,
              queue_size=args.queue_size, max_tokens=args.max_tokens, max_body_bytes=int(args.max_body_mb * (1 << 20)),
              max_audio_s=args.max_audio_s)  # fmt: skip
        return 0
    if problems := unreadable(args.audio):
        return fail(*problems)
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        return run_chat(args) if args.command == "chat" else run_transcribe(args)


if __name__ == "__main__":
    sys.exit(main())
