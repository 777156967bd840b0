import pytest
import torch

from destaflow.models.connector import ConnectorConfig, QFormerConnector, default_tap_layers

torch.set_num_threads(1)  # 2 spinning OpenMP threads crawl when another job holds a core


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def small_connector(**overrides) -> QFormerConnector:
    torch.manual_seed(0)
    options = {"whisper_dim": 128, "llm_dim": 96, "tap_layers": [0, 1, 2], "num_queries": 8} | overrides
    connector = QFormerConnector(ConnectorConfig(**options)).eval()
    with torch.no_grad():  # non-uniform layer mixing, so a permutation bug cannot hide behind equal weights
        connector.layer_weights.normal_()
    return connector


def test_whisper_small_with_a_4096_wide_llm_has_the_published_parameter_count():
    with torch.device("meta"):
        connector = QFormerConnector(ConnectorConfig(768, 4096, [2, 5, 8, 11]))
    assert count(connector.qformer) == 18_903_552
    assert connector.queries.numel() == 196_608
    assert connector.layer_weights.numel() == 256
    assert count(connector.norm) + count(connector.proj) == 3_151_360
    assert count(connector) == 22_251_776


@pytest.mark.parametrize(
    ("layers", "taps"),
    [(4, [0, 1, 2, 3]), (6, [1, 2, 4, 5]), (12, [2, 5, 8, 11]), (24, [5, 11, 17, 23]), (32, list(range(3, 32, 4)))],
)
def test_default_taps_are_evenly_spaced_and_end_at_the_last_layer(layers, taps):
    assert default_tap_layers(layers) == taps


def test_output_shape_and_fresh_parameters():
    connector = small_connector()
    assert connector(torch.randn(2, 3, 20, 128)).shape == (2, 8, 96)
    assert torch.count_nonzero(QFormerConnector(connector.config).layer_weights) == 0
    tapped = [torch.randn(2, 20, 128) for _ in range(3)]
    assert torch.allclose(connector(tapped), connector(torch.stack(tapped, 1)))


def permuted_queries(connector: QFormerConnector, order: torch.Tensor) -> QFormerConnector:
    permuted = small_connector()
    permuted.load_state_dict(connector.state_dict())
    with torch.no_grad():
        permuted.queries.copy_(connector.queries[:, order])
        permuted.layer_weights.copy_(connector.layer_weights[order])
    return permuted


def test_queries_attend_to_each_other_without_a_causal_mask():
    connector = small_connector()
    tapped, mask = torch.randn(2, 3, 20, 128), torch.ones(2, 20, dtype=torch.bool)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = connector(tapped, mask)[:, order]
        actual = permuted_queries(connector, order)(tapped, mask)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_the_trap_bert_encoder_without_a_mask_is_causal():
    """Guards the test above: is_decoder=True + no self-attention mask makes SDPA attend causally in transformers 5."""
    qformer = small_connector().qformer
    queries, frames = torch.randn(1, 8, 128), torch.randn(1, 20, 128)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = qformer(queries, encoder_hidden_states=frames).last_hidden_state
        permuted = qformer(queries[:, order], encoder_hidden_states=frames).last_hidden_state
        visible = torch.zeros(1, 1, 8, 8)
        fixed = qformer(queries, attention_mask=visible, encoder_hidden_states=frames).last_hidden_state
        fixed_permuted = qformer(queries[:, order], attention_mask=visible, encoder_hidden_states=frames).last_hidden_state
    assert not torch.allclose(permuted, plain[:, order], atol=1e-4)
    torch.testing.assert_close(fixed_permuted, fixed[:, order], atol=1e-5, rtol=1e-5)


def test_masked_padding_frames_change_nothing():
    connector = small_connector()
    tapped = torch.randn(2, 3, 12, 128)
    frames = torch.tensor([12, 7])
    mask = torch.arange(12)[None] < frames[:, None]
    padded = torch.cat([tapped, 100 * torch.randn(2, 3, 9, 128)], dim=2)
    padded_mask = torch.cat([mask, torch.zeros(2, 9, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        alone = connector(tapped[1:, :, :7])  # the short clip with no padding at all
        trimmed = connector(tapped, mask)
        longer = connector(padded, padded_mask)
        unmasked = connector(padded)
    torch.testing.assert_close(longer, trimmed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(trimmed[1:], alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked, trimmed, atol=1e-3)


def test_eager_and_sdpa_read_the_masks_the_same_way():
    sdpa = small_connector()
    eager = small_connector(attn_implementation="eager")
    eager.load_state_dict(sdpa.state_dict())
    tapped, mask = torch.randn(2, 3, 10, 128), torch.arange(10)[None] < torch.tensor([[10], [4]])
    with torch.no_grad():
        torch.testing.assert_close(eager(tapped, mask), sdpa(tapped, mask), atol=1e-5, rtol=1e-5)


def test_dropout_is_active_only_in_train_mode():
    connector = small_connector()
    tapped = torch.randn(1, 3, 10, 128)
    with torch.no_grad():
        assert torch.equal(connector(tapped), connector(tapped))
        connector.train()
        assert not torch.equal(connector(tapped), connector(tapped))
