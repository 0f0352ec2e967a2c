"""Int8 projections (hf_bioner.quantization): per-token scales, shared inputs, real models."""

from __future__ import annotations

import pytest

from hf_bioner.quantization import INT8, Int8Linear, TokenQuantizer, int8_copy
from tests.test_constrained import _tiny_gemma


def _linear(inputs: int = 64, outputs: int = 48):
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(inputs, outputs)


def test_an_int8_linear_layer_is_close_to_its_float_original():
    import torch

    linear = _linear()
    x = torch.randn(5, 7, 64)
    with torch.no_grad():
        want, got = linear(x), Int8Linear(linear)(x)
    assert got.shape == want.shape == (5, 7, 48)
    assert got.dtype == x.dtype
    relative = (got - want).abs().max() / want.abs().max()
    assert 0 < relative < 0.03, float(relative)


def test_a_token_is_quantized_on_its_own_scale_whatever_its_batch_holds():
    """A token 1000x larger than the others (transformers' outlier activations) beside a
    normal one changes nothing of the normal one's output: each token has its own scale. One
    scale per batch, as torch's dynamic quantization takes, rounds the small token to zero."""
    import torch

    layer = Int8Linear(_linear())
    torch.manual_seed(1)
    small, outlier = torch.randn(1, 64), 1000 * torch.randn(1, 64)
    with torch.no_grad():
        alone = layer(small)
        beside = layer(torch.cat([small, outlier]))[:1]
    assert torch.equal(alone, beside)


def test_projections_reading_one_tensor_quantize_it_once_and_let_it_go():
    """Three readers of one tensor get one quantization of it; after the third the quantizer
    holds nothing of it, and a later call quantizes anew. Every value is within half a step
    of its token's scale."""
    import torch

    quantizer = TokenQuantizer(readers=3)
    x = torch.randn(4, 64)
    first = quantizer(x)
    assert quantizer(x) is first and quantizer(x) is first
    assert quantizer._source is None and quantizer._quantized == ()
    again = quantizer(x)
    assert again is not first and torch.equal(again[0], first[0])
    values, scales = first
    assert values.dtype == torch.int8 and scales.shape == (4, 1)
    assert ((values.float() * scales - x).abs() <= scales / 2 + 1e-6).all()
    assert (values.abs().amax(1) == 127).all()  # each token uses its whole range


def test_an_int8_copy_converts_every_projection_shares_the_embeddings_and_keeps_the_original():
    """Gemma 3's shape: every attention and MLP projection becomes int8 (query, key and value
    read one quantizer, gate and up another), the 262k-row embeddings are the original's own
    tensor, and the original model is untouched; its hidden states stay close to fp32's."""
    import torch

    model, tokenizer = _tiny_gemma(4096)
    body = model.get_decoder()
    twin = int8_copy(body)
    layer = twin.layers[0]
    names = ("q_proj", "k_proj", "v_proj", "o_proj")
    assert all(isinstance(getattr(layer.self_attn, n), Int8Linear) for n in names)
    assert all(isinstance(getattr(layer.mlp, n), Int8Linear)
               for n in ("gate_proj", "up_proj", "down_proj"))  # fmt: skip
    attention, mlp = layer.self_attn, layer.mlp
    assert attention.q_proj.quantizer is attention.k_proj.quantizer is attention.v_proj.quantizer
    assert mlp.gate_proj.quantizer is mlp.up_proj.quantizer
    assert mlp.down_proj.quantizer is not mlp.up_proj.quantizer
    assert isinstance(body.layers[0].self_attn.q_proj, torch.nn.Linear)  # original untouched
    assert twin.embed_tokens.weight is body.embed_tokens.weight
    ids = tokenizer(["Breast cancer and aspirin."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = body(input_ids=ids).last_hidden_state
        got = twin(input_ids=ids).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(got, want, dim=-1)
    assert cosine.min() > 0.99, cosine


def test_int8_is_a_step_dtype_by_name():
    import torch

    from hf_bioner.decoding import step_dtype
    from hf_bioner.schema import BioNerInputError

    model, _ = _tiny_gemma(4096)
    assert step_dtype(model, "int8") is INT8 is torch.qint8
    assert step_dtype(model, "qint8") is INT8
    with pytest.raises(BioNerInputError, match="'int8'"):
        step_dtype(model, "eight-bit")
    with pytest.raises(BioNerInputError, match="a float dtype, not 'int16'"):
        step_dtype(model, "torch.int16")  # an integer dtype is no step dtype


def test_the_cpu_rule_takes_bf16_with_amx_int8_with_vnni_alone(monkeypatch):
    """Which CPU gets which steps and prompts, by its flags: AMX bf16 (measured fast), int8 where only
    VNNI is there (an Intel Xeon with AVX-512 BF16 but no AMX: bf16 was slower than fp32),
    the model's own dtype where neither is."""
    import torch

    import hf_bioner.device as device
    from hf_bioner.decoding import prefill_dtype, step_dtype

    model, _ = _tiny_gemma(4096)
    expected = {
        frozenset(
            {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"}
        ): torch.bfloat16,
        frozenset({"avx512f", "avx512_bf16", "avx512_vnni"}): INT8,
        frozenset({"avx2", "avx_vnni"}): INT8,
        frozenset({"avx2"}): None,
    }
    for flags, dtype in expected.items():
        monkeypatch.setattr(device, "cpu_flags", lambda flags=flags: flags)
        assert step_dtype(model, "auto") == dtype, sorted(flags)
        # Prompts are read in bf16 where the steps are, never in int8 unless asked by name.
        assert prefill_dtype(model, "auto") == (None if dtype is INT8 else dtype)
        assert prefill_dtype(model, "int8") is INT8
    assert step_dtype(model.to(torch.bfloat16), "auto") is None  # not an fp32 model


def test_int8_steps_tag_real_sentences_as_full_precision_does(corpus_records):
    """The bundled model on 24 NCBI-disease test sentences, steps on int8 projections after
    prompts read in full precision, against full precision throughout: nearly the same
    entities (on the whole test set, generator alone, int8 prompts and steps scored F1 85.0
    against 85.0: eval_int8-check-{int8,model}-ncbi_disease.json)."""
    from transformers import pipeline

    import hf_bioner  # noqa: F401  (registers the bio-ner task)

    tagger = pipeline("bio-ner", device="cpu")
    texts = [r["text"] for r in corpus_records("ncbi_disease", "test")[:24]]
    # int8 steps after prompts read in full precision: the default on a CPU without AMX.
    settings = {"int8": {"step_dtype": "int8", "prefill_dtype": "model"},
                "model": {"step_dtype": "model"}}  # fmt: skip
    runs = {
        name: tagger(texts, corpus="ncbi_disease", use_selector=False, **options)
        for name, options in settings.items()
    }
    found = {dtype: {(i, e["start"], e["end"], e["entity_group"])
                     for i, entities in enumerate(run) for e in entities}
             for dtype, run in runs.items()}  # fmt: skip
    assert len(found["model"]) >= 20
    shared = found["int8"] & found["model"]
    assert len(shared) >= 0.95 * max(len(found["int8"]), len(found["model"])), found
