"""DeSTA2's modality adapter: a Q-Former over several Whisper encoder layers, mixed per query, projected to the LLM.

    tapped (B, L, T, d) --+
    queries (L, Q, d) ----+--> shared Q-Former (self-attn over queries, cross-attn to that layer's frames)
                                --> (B, L, Q, d) --softmax(layer_weights) over L--> (B, Q, d)
                                --> LayerNorm --> Linear --> (B, Q, llm_dim)

Always Q (= 64) embeddings per clip, whatever its length. At whisper-small + a 4096-wide LLM this is
22,251,776 trainable parameters, the size of the published connector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertEncoder


def default_tap_layers(num_encoder_layers: int) -> list[int]:
    """DeSTA2's taps: 0-indexed encoder layers spaced evenly and ending at the last layer.

    Four taps (tiny 4 -> [0,1,2,3], base 6 -> [1,2,4,5], small 12 -> [2,5,8,11], medium 24 -> [5,11,17,23]),
    eight from 32 layers on (large 32 -> [3,7,...,31], every fourth layer as in DeSTA2; DeSTA2.5 used four).
    Tap k of n sits at ceil(k * layers / n) - 1.
    """
    num_taps = min(num_encoder_layers, 8 if num_encoder_layers >= 32 else 4)
    return [-(-k * num_encoder_layers // num_taps) - 1 for k in range(1, num_taps + 1)]


@dataclass
class ConnectorConfig:
    whisper_dim: int
    llm_dim: int
    tap_layers: list[int]
    num_queries: int = 64
    qformer_layers: int = 2
    num_heads: int | None = None  # default whisper_dim // 64 (12 at whisper-small)
    ffn_dim: int | None = None  # default 4 * whisper_dim; the authors keep 3072 at every size (equal at whisper-small, see desta_release)
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    attn_implementation: str = "sdpa"  # or "eager"; both read the masks below the same way

    def __post_init__(self) -> None:
        self.tap_layers = list(self.tap_layers)
        self.num_heads = self.num_heads or self.whisper_dim // 64
        self.ffn_dim = self.ffn_dim or 4 * self.whisper_dim

    def bert_config(self) -> BertConfig:
        # is_decoder is only there because BertLayer refuses cross-attention without it; it makes the
        # self-attention modules "causal", which QFormerConnector defuses with an explicit all-visible mask.
        config = BertConfig(
            hidden_size=self.whisper_dim,
            num_attention_heads=self.num_heads,
            intermediate_size=self.ffn_dim,
            num_hidden_layers=self.qformer_layers,
            hidden_act="gelu",
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
            layer_norm_eps=self.layer_norm_eps,
            is_decoder=True,
            add_cross_attention=True,
        )
        config._attn_implementation = self.attn_implementation
        return config


def additive_mask(visible: Tensor, dtype: torch.dtype) -> Tensor:
    """Bool (..., K) with True = attend -> float (..., 1, K) with 0 / dtype-min, broadcastable to (B, heads, Q, K).

    BertEncoder in transformers 5.x hands masks unchanged to the attention function: eager *adds* them to the
    scores, SDPA takes bool or float. An additive float mask means the same thing to both.
    """
    hidden = torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(~visible, torch.finfo(dtype).min)
    return hidden.unsqueeze(-2)


class QFormerConnector(nn.Module):
    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__()
        self.config = config
        num_taps, d = len(config.tap_layers), config.whisper_dim
        self.queries = nn.Parameter(torch.randn(num_taps, config.num_queries, d))  # one query set per tap, N(0, 1)
        self.qformer = BertEncoder(config.bert_config())
        self.layer_weights = nn.Parameter(torch.zeros(config.num_queries, num_taps))
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(d, config.llm_dim)

    def forward(self, tapped: list[Tensor] | Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """tapped: L tensors (B, T, d) or one (B, L, T, d); frame_mask: bool (B, T), True on real frames."""
        states = torch.stack(list(tapped), dim=1) if isinstance(tapped, (list, tuple)) else tapped
        batch, num_taps, frames, d = states.shape
        if num_taps != self.queries.shape[0]:
            raise ValueError(f"connector expects {self.queries.shape[0]} tapped layers, got {num_taps}")
        dtype = self.queries.dtype
        # Every (clip, layer) pair is an independent Q-Former call: fold the layers into the batch.
        states = states.to(dtype).reshape(batch * num_taps, frames, d)
        queries = self.queries.unsqueeze(0).expand(batch, -1, -1, -1).reshape(batch * num_taps, -1, d)
        num_queries = queries.shape[1]

        # The trap: without a mask, SDPA runs the is_decoder self-attention causally. Queries see each other freely.
        all_visible = torch.zeros(1, 1, num_queries, num_queries, dtype=dtype, device=queries.device)
        cross_mask = None
        if frame_mask is not None:
            frame_mask = frame_mask.to(states.device, torch.bool).repeat_interleave(num_taps, dim=0)
            cross_mask = additive_mask(frame_mask, dtype).unsqueeze(1)  # (B*L, 1, 1, T)
        out = self.qformer(
            queries, attention_mask=all_visible, encoder_hidden_states=states, encoder_attention_mask=cross_mask
        ).last_hidden_state

        per_layer = out.view(batch, num_taps, num_queries, d)
        weights = self.layer_weights.softmax(dim=-1)  # (Q, L): each query mixes the layers its own way
        mixed = torch.einsum("blqd,ql->bqd", per_layer, weights)
        return self.proj(self.norm(mixed))
