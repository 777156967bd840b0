"""Batched decoding with a Hugging Face causal LM, greedy or sampled, one random stream per row.

One loop serves every generator of the workflow: captions, the text cascades' answers and the speech LM's
(which passes its prompts as embeddings, with the audio spliced in). Why not `model.generate`:
- there every row of a batch draws from one random stream, so a sampled caption depends on which prompts share
  its batch; here row i draws from its own generator seeded with `seeds[i]`, so a batch gives what its prompts
  give one at a time (in float32: tests/test_captioning.py);
- rows that have ended are computed until the longest one ends; here they leave the batch and its cache;
- rows asked about the same audio (`share_keys`) repeat the same long context (system turn, audio turn) before
  their question: here each group's common prefix goes through the model once and its keys and values serve
  every row of the group (the demo benchmark asks 4-9 questions per clip: a third of the prefill); prompts of
  text alone share at least their system turn (a caption batch: 41 of ~114 tokens, 1.6x its prefill);
- the prompt's logits come from a 2-D copy of the last hidden states: the LM head on a slice of a 3-D prefill
  output made torch expand the head's weight per row when the LLM is frozen (2x a bf16 prefill).
A draw is an inverse-CDF lookup (torch.multinomial over a 49k vocabulary cost a tenth of the batched step).
Sampling follows transformers' semantics: repetition penalty on every token seen (prompt included), then
temperature, then nucleus (top_p) filtering; temperature 0 is greedy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    repetition_penalty: float  # 1: off

    @classmethod
    def greedy(cls, max_new_tokens: int) -> Decoding:
        return cls(max_new_tokens, 0.0, 1.0, 1.0)


def decode(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, decoding: Decoding, seeds: Sequence[int] | None,
           stop_ids: Sequence[int], inputs_embeds: torch.Tensor | None = None,
           share_keys: Sequence[Hashable] | None = None) -> list[list[int]]:
    """Each row's new tokens, ending with its first stop token (kept) or at `max_new_tokens`.

    `input_ids` are left-padded prompts (also what the repetition penalty sees); `inputs_embeds`, when given, is
    what the model reads instead (the speech LM's audio slots). `seeds[i]` seeds row i's draws (None: drawn from
    torch's global generator; unused when greedy). Rows with equal `share_keys` must carry the same inputs
    wherever their token ids agree (the same audio): they share the keys and values of their common prefix;
    without `inputs_embeds` and `share_keys` all rows share theirs."""
    from transformers import DynamicCache

    if seeds is None:
        seeds = torch.randint(0, 2**31, (input_ids.shape[0],)).tolist()
    generators = [torch.Generator(device=input_ids.device).manual_seed(int(seed)) for seed in seeds]
    stops = torch.tensor(list(stop_ids), device=input_ids.device)
    cache = DynamicCache()
    alive = list(range(input_ids.shape[0]))
    new_tokens: list[list[int]] = [[] for _ in alive]
    seen = input_ids
    with torch.inference_mode():
        logits, attention_mask, positions = prefill(model, cache, input_ids, attention_mask, inputs_embeds, share_keys)
        for step in range(decoding.max_new_tokens):
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
            positions = positions + 1
            logits = last_logits(model, model.get_decoder()(input_ids=step_ids, attention_mask=attention_mask, position_ids=positions,
                                                            cache=cache, use_cache=True).last_hidden_state)
            if decoding.repetition_penalty != 1:
                seen = torch.cat([seen, step_ids], dim=1)
    return new_tokens


def head_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """float32 next-token logits of hidden states (the LLM's head, with its final soft-capping if any)."""
    logits = model.get_output_embeddings()(hidden).float()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    return softcap * torch.tanh(logits / softcap) if softcap else logits


def last_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """(B, vocab) logits of the last position of (B, T, D) hidden states, from a contiguous (B, D) copy."""
    return head_logits(model, hidden[:, -1].contiguous())


def prefill(model, cache, input_ids: torch.Tensor, attention_mask: torch.Tensor, inputs_embeds: torch.Tensor | None,
            share_keys: Sequence[Hashable] | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The prompts through the model into `cache`: the last position's logits, the attention mask the cache is
    under, and each row's last position id."""
    decoder = model.get_decoder()
    name, source = ("input_ids", input_ids) if inputs_embeds is None else ("inputs_embeds", inputs_embeds)
    if share_keys is None and inputs_embeds is None:
        share_keys = [0] * len(input_ids)  # token ids are the whole input: all rows may share their common prefix
    split = shared_prefixes(input_ids, attention_mask, share_keys)
    if split is None:
        positions = mask_positions(attention_mask)
        hidden = decoder(**{name: source}, attention_mask=attention_mask, position_ids=positions, cache=cache,
                         use_cache=True).last_hidden_state
        return last_logits(model, hidden), attention_mask, positions[:, -1:]
    (first_rows, context_columns, context_mask), group_of_row, (suffix_columns, suffix_mask) = split
    decoder(**{name: gathered(source, first_rows, context_columns)}, attention_mask=context_mask,
            position_ids=mask_positions(context_mask), cache=cache, use_cache=True)
    cache.batch_select_indices(group_of_row)
    attention_mask = torch.cat([context_mask[group_of_row], suffix_mask], dim=1)
    positions = mask_positions(attention_mask)[:, context_mask.shape[1]:]
    hidden = decoder(**{name: gathered(source, torch.arange(len(source)), suffix_columns)}, attention_mask=attention_mask,
                     position_ids=positions, cache=cache, use_cache=True).last_hidden_state
    return last_logits(model, hidden), attention_mask, positions[:, -1:]


def gathered(source: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """source[rows[b], columns[b, t]] (ids or embeddings): each row's own span of a left-padded batch."""
    index = columns if source.dim() == 2 else columns.unsqueeze(-1).expand(-1, -1, source.shape[-1])
    return source[rows].gather(1, index)


def mask_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def shared_prefixes(input_ids: torch.Tensor, attention_mask: torch.Tensor, share_keys: Sequence[Hashable] | None):
    """How to prefill rows with a shared context once: None when no two rows share a key. Otherwise
    ((first row of each group, its context's columns, their mask), the group of each row, (each row's remaining
    columns, their mask)), columns left-padded (padding repeats column 0, masked out). A group's context is its
    rows' longest common token prefix, less at least one token so every row has a suffix to read."""
    if share_keys is None or len(set(share_keys)) == len(share_keys):
        return None
    if len(share_keys) != input_ids.shape[0]:
        raise ValueError(f"{len(share_keys)} share keys for {input_ids.shape[0]} prompts")
    width = input_ids.shape[1]
    starts = (width - attention_mask.sum(-1)).tolist()
    rows = [input_ids[b, start:].tolist() for b, start in enumerate(starts)]
    groups: dict[Hashable, list[int]] = {}
    for b, key in enumerate(share_keys):
        groups.setdefault(key, []).append(b)
    group_of_row = [0] * len(rows)
    contexts, suffixes = [], []
    for g, members in enumerate(groups.values()):
        length = min(len(rows[b]) for b in members) - 1
        first = rows[members[0]]
        for b in members[1:]:
            length = next((i for i, (x, y) in enumerate(zip(first[:length], rows[b])) if x != y), length)
        contexts.append(range(starts[members[0]], starts[members[0]] + length))
        for b in members:
            group_of_row[b] = g
            suffixes.append((b, range(starts[b] + length, width)))
    if not any(contexts):  # no two rows of a group agree on a first token
        return None
    suffixes = [columns for _, columns in sorted(suffixes)]
    return ((torch.tensor([members[0] for members in groups.values()]), *left_padded(contexts, input_ids.device)),
            torch.tensor(group_of_row), left_padded(suffixes, input_ids.device))


def left_padded(spans: list[range], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(columns, mask) of spans left-padded to the longest; a padding slot points at column 0 and is masked."""
    width = max(len(span) for span in spans)
    columns = torch.zeros(len(spans), width, dtype=torch.long)
    mask = torch.zeros(len(spans), width, dtype=torch.long)
    for b, span in enumerate(spans):
        if len(span):
            columns[b, width - len(span):] = torch.tensor(list(span))
            mask[b, width - len(span):] = 1
    return columns.to(device), mask.to(device)


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
