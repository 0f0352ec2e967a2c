"""The decoders' cache writes each step in place and reads as transformers' own cache does."""

from __future__ import annotations

import pytest

from hf_bioner.decoding.allowed_tokens import FINISHED, _compact
from hf_bioner.decoding.kv_cache import InPlaceSlidingWindowLayer, decoding_cache
from hf_bioner.models import cache_argument
from tests.test_constrained import _tiny_gemma


def _read(body, cache, ids, attention, positions):
    """One pass of ``ids`` (rows x tokens) after what ``cache`` holds: the hidden states."""
    inputs = {cache_argument(body): cache}
    return body(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                **inputs).last_hidden_state  # fmt: skip


@pytest.mark.parametrize("window", [4096, 8])
def test_steps_read_as_with_a_dynamic_cache(window):
    """Three left-padded prompts of a two-layer Gemma 3 (one sliding-window layer), then
    one-token steps, a finished row left out as the decoders do (:func:`_compact`) and a
    three-token step: every hidden state is that of transformers' ``DynamicCache``. While the
    rows fit in the spare slots a one-token step writes into the same buffer; with a window of
    8 the sliding layer outgrows it and gives way to transformers' update."""
    import torch
    from transformers import DynamicCache

    model, tokenizer = _tiny_gemma(window)
    body = model.get_decoder()
    prompts = ["Aspirin and ibuprofen.", "Breast cancer", "No entity here at all, none."]
    rows = tokenizer(prompts)["input_ids"]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    caches = {"dynamic": DynamicCache(config=model.config),
              "in place": decoding_cache(model.config)}  # fmt: skip
    states = {}
    with torch.no_grad():
        for name, cache in caches.items():
            attention = (ids != tokenizer.pad_token_id).long()
            positions = (attention.cumsum(1) - 1).clamp(min=0)
            hidden = [_read(body, cache, ids, attention, positions)]
            position = positions[:, -1] + 1
            buffers = []
            for step in range(4):
                token = torch.full((len(rows), 1), 100 + step)
                attention = torch.cat([attention, torch.ones(len(rows), 1, dtype=torch.long)], 1)
                hidden.append(_read(body, cache, token, attention, position[:, None]))
                position = position + 1
                buffers.append(cache.layers[1].keys.data_ptr())
            active, _, attention, position = _compact([0, FINISHED, 2], [0, 0, 0], cache,
                                                      attention, position, plain=True)  # fmt: skip
            assert active == [0, 2]
            draft = torch.tensor([[7, 8, 9], [10, 11, 12]])
            attention = torch.cat([attention, torch.ones(2, 3, dtype=torch.long)], 1)
            hidden.append(_read(body, cache, draft, attention, position[:, None] + torch.arange(3)))
            buffers.append(cache.layers[1].keys.data_ptr())
            states[name] = hidden
            if name == "in place":
                assert len(set(buffers)) == 1  # every step wrote into the first buffer
                sliding = cache.layers[0]
                assert isinstance(sliding, InPlaceSlidingWindowLayer)
                assert sliding.get_seq_length() == width + 7
                assert (sliding.keys.shape[-2] < width + 7) == (window == 8)
    for dynamic, in_place in zip(states["dynamic"], states["in place"], strict=True):
        torch.testing.assert_close(in_place, dynamic, rtol=1e-5, atol=1e-6)
