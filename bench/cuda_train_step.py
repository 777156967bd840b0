"""One adapter-training step at the paper's scale on a CUDA device: whisper-small + an 8B Llama-3-shaped LLM.

Both backbones are built from configs alone (random weights, bf16, nothing downloaded); the connector is the
paper's (64 queries x 4 taps, 2-layer Q-Former, 22.25 M parameters). Reports seconds per step, samples/s and
model FLOPs utilisation (MFU) against the GPU's bf16 dense peak. Without CUDA it says so and exits 0.
Usage: .venv/bin/python bench/cuda_train_step.py [--batch 8] [--steps 5] [--peak-tflops 989]
       .venv/bin/python bench/cuda_train_step.py --scale tiny   # CPU smoke run of the same code path
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM, AutoModelForSpeechSeq2Seq, AutoTokenizer, LlamaConfig, WhisperConfig

from destaflow.models.connector import ConnectorConfig, QFormerConnector, default_tap_layers
from destaflow.models.speech_lm import SpeechLM
from destaflow.training.data import labelled_tokens

SCALES = {
    # whisper-small encoder-decoder and Meta-Llama-3-8B's shapes
    "paper": (dict(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12, decoder_attention_heads=12,
                   encoder_ffn_dim=3072, decoder_ffn_dim=3072, vocab_size=51865, num_mel_bins=80),
              dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                   vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0)),
    "tiny": (dict(d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=1, decoder_attention_heads=1,
                  encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=51865, num_mel_bins=80),
             dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                  vocab_size=49152, max_position_embeddings=2048)),
}


def build(scale: str, device: torch.device, dtype: torch.dtype, tokenizer) -> SpeechLM:
    whisper_config, llm_config = SCALES[scale]
    llm_config = LlamaConfig(**llm_config | {"vocab_size": max(llm_config["vocab_size"], len(tokenizer))})
    with torch.device(device):  # initialised where they run, in their dtype: an 8B model never passes through host fp32
        whisper = AutoModelForSpeechSeq2Seq.from_config(WhisperConfig(**whisper_config), dtype=dtype)
        llm = AutoModelForCausalLM.from_config(llm_config, dtype=dtype)
    taps = default_tap_layers(whisper_config["encoder_layers"])
    connector = QFormerConnector(ConnectorConfig(whisper_config["d_model"], llm_config.hidden_size, taps)).to(device)
    return SpeechLM(whisper, llm, tokenizer, connector).train()


def step_flops(model: SpeechLM, tokens: int, labelled: int, frames: int, batch: int) -> float:
    """Training FLOPs of one step, batch x per sample: the frozen LLM's layers forward + backward through
    activations (4 x 2N per token: no weight gradients), its LM head on the labelled tokens only (as
    SpeechLM.forward), the frozen encoder forward (2N per frame), the connector forward + backward (6N per
    query-frame)."""
    llm = model.llm
    head = llm.get_output_embeddings().weight.numel()
    body = sum(p.numel() for p in llm.get_decoder().parameters()) - llm.get_input_embeddings().weight.numel()
    encoder_params = sum(p.numel() for p in model.whisper.get_encoder().parameters())
    connector_params = sum(p.numel() for p in model.connector.parameters())
    return batch * (4 * body * tokens + 4 * head * labelled + 2 * encoder_params * frames
                    + 6 * connector_params * model.num_audio_slots * len(model.connector.config.tap_layers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="paper")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tokenizer", default="resources/models/llm", help="any chat tokenizer folder (only token ids matter)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the GPU (H100 SXM 989)")
    args = parser.parse_args()
    if args.scale == "paper" and not torch.cuda.is_available():
        print("no CUDA device: skipped (run on a GPU machine; --scale tiny exercises the code path on CPU)")
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    torch.manual_seed(0)
    model = build(args.scale, device, dtype, tokenizer)
    optimizer = torch.optim.AdamW(model.connector.parameters(), lr=1e-4, betas=(0.9, 0.98), weight_decay=0.01)
    transcript = "the quick brown fox jumps over the lazy dog " * 3
    target = "I can hear a calm female voice with a British accent speaking at a normal pace. " * 2
    batch = model.build_inputs([transcript] * args.batch, ["What can you hear from the audio?"] * args.batch, [target] * args.batch, max_tokens=200)
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    features = torch.randn(args.batch, 80, 3000, device=device, dtype=dtype)
    tokens = int(batch["attention_mask"].sum()) // args.batch
    labelled = labelled_tokens(batch) // args.batch
    durations = []
    for step in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            tapped, mask = model.tap(features)
            loss, _ = model(batch, model.audio_embeddings(tapped.float() if device.type == "cpu" else tapped, mask))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.connector.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            durations.append(time.perf_counter() - start)
    seconds = sum(durations) / len(durations)
    flops = step_flops(model, tokens, labelled, 1500, args.batch)
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, scale {args.scale}, batch {args.batch}, {tokens} tokens/sample")
    print(f"LLM {sum(p.numel() for p in model.llm.parameters()) / 1e9:.2f} B params, connector {sum(p.numel() for p in model.connector.parameters()) / 1e6:.2f} M trainable")
    print(f"{seconds:.3f} s/step, {args.batch / seconds:.1f} samples/s, {flops / seconds / 1e12:.1f} TFLOP/s")
    if device.type == "cuda":
        print(f"MFU {flops / seconds / (args.peak_tflops * 1e12):.1%} of {args.peak_tflops:.0f} TFLOP/s; peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
