"""Batched decoding with a Hugging Face causal LM, greedy or sampled, one random stream per row.

Why not `model.generate`: there every row of a batch draws from one random stream, so a sampled caption
depends on which prompts share its batch, and rows that have ended are computed until the longest one ends.
Here row i draws from its own generator seeded with `seeds[i]`, so a batch gives what its prompts give one at
a time (in float32: tests/test_captioning.py), finished rows leave the batch, and a draw is an inverse-CDF
lookup (torch.multinomial over a 49k vocabulary cost a tenth of the batched step: bench/caption_throughput.py).
Sampling follows transformers' semantics: repetition penalty on every token seen (prompt included), then
temperature, then nucleus (top_p) filtering; temperature 0 is greedy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    repetition_penalty: float  # 1: off


def decode(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, decoding: Decoding, seeds: list[int],
           stop_ids: list[int]) -> list[list[int]]:
    """Each row's new tokens, ending with its first stop token (kept) or at `max_new_tokens`.

    `input_ids` are left-padded prompts; `seeds[i]` seeds row i's draws (unused when greedy)."""
    from transformers import DynamicCache

    generators = [torch.Generator(device=input_ids.device).manual_seed(seed) for seed in seeds]
    stops = torch.tensor(stop_ids, device=input_ids.device)
    cache = DynamicCache()
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    alive = list(range(input_ids.shape[0]))
    new_tokens: list[list[int]] = [[] for _ in alive]
    seen, step_ids = input_ids, input_ids
    with torch.inference_mode():
        for step in range(decoding.max_new_tokens):
            logits = model(input_ids=step_ids, attention_mask=attention_mask, position_ids=positions, cache=cache,
                           use_cache=True, logits_to_keep=1).logits[:, -1].float()
            tokens = next_tokens(logits, seen, decoding, [generators[row] for row in alive])
            for row, token in zip(alive, tokens.tolist()):
                new_tokens[row].append(token)
            going = (~torch.isin(tokens, stops)).nonzero().squeeze(-1)
            if step + 1 == decoding.max_new_tokens or going.numel() == 0:
                break
            if going.numel() < len(alive):  # finished rows leave the batch and its cache
                cache.batch_select_indices(going)
                alive = [alive[i] for i in going.tolist()]
                tokens, attention_mask, positions, seen = tokens[going], attention_mask[going], positions[going], seen[going]
            step_ids = tokens.unsqueeze(-1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(len(alive), 1)], dim=1)
            positions = positions[:, -1:] + 1
            if decoding.repetition_penalty != 1:
                seen = torch.cat([seen, step_ids], dim=1)
    return new_tokens


def next_tokens(logits: torch.Tensor, seen: torch.Tensor, decoding: Decoding, generators: list[torch.Generator]) -> torch.Tensor:
    if decoding.repetition_penalty != 1:
        penalised = logits.gather(1, seen)
        penalised = torch.where(penalised > 0, penalised / decoding.repetition_penalty, penalised * decoding.repetition_penalty)
        logits = logits.scatter(1, seen, penalised)
    if decoding.temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / decoding.temperature, dim=-1)
    if decoding.top_p < 1:
        probs = nucleus(probs, decoding.top_p)
    cumulative = probs.cumsum(-1)
    draws = torch.cat([torch.rand(1, generator=generator, device=probs.device) for generator in generators])
    chosen = torch.searchsorted(cumulative, (draws * cumulative[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    return chosen.clamp(max=probs.shape[-1] - 1)


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """The smallest set of most likely tokens whose mass reaches top_p (at least one token); the rest get 0."""
    ordered, order = probs.sort(dim=-1, descending=True)
    mass_before = ordered.cumsum(-1) - ordered
    ordered = ordered.masked_fill(mass_before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, ordered)
