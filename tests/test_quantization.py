"""Int8 projections (hf_bioner.quantization): per-token scales, shared inputs, real models."""

from __future__ import annotations

import pytest

from hf_bioner.quantization import (
    INT8,
    Int8Linear,
    TokenQuantizer,
    activation_ranges,
    calibration_ids,
    int8_copy,
    projections,
    quantize_projections,
)
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


def _assert_close_hidden_states(body, twin, tokenizer) -> None:
    """The int8 ``twin`` of a decoder ``body`` gives nearly its hidden states on a sentence."""
    import torch

    ids = tokenizer(["Breast cancer and aspirin."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = body(input_ids=ids).last_hidden_state
        got = twin(input_ids=ids).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(got, want, dim=-1)
    assert cosine.min() > 0.99, cosine


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
    _assert_close_hidden_states(body, twin, tokenizer)


def test_smoothing_moves_an_outlier_channel_into_the_weights():
    """Tokens whose channel 3 is 100x the others (a transformer's outlier channel): quantized
    per token as they are, the other channels keep few levels; divided by the smoothing
    factors (weights multiplied by them, the same product) the error falls several-fold."""
    import copy

    import torch

    layers = torch.nn.ModuleDict({"up_proj": _linear()})
    torch.manual_seed(2)
    x = torch.randn(32, 64)
    x[:, 3] *= 100
    plain, smoothed = copy.deepcopy(layers), copy.deepcopy(layers)
    assert (
        quantize_projections(plain)
        == quantize_projections(smoothed, {"up_proj": x.abs().amax(0)})
        == 1
    )
    assert plain.up_proj.quantizer.smoothing is None
    assert smoothed.up_proj.quantizer.smoothing.shape == (64,)
    with torch.no_grad():
        want = layers.up_proj(x)
        errors = [(q.up_proj(x) - want).norm() / want.norm() for q in (plain, smoothed)]
    assert errors[1] < errors[0] / 4, errors


def test_a_calibrated_int8_copy_smooths_every_projection_of_a_real_model():
    """The ranges of a tiny Gemma 3 read on the calibration texts (the package's English and
    Chinese sample abstracts) cover every projection with one value per input channel; the
    copy made with them smooths each shared input once (q/k/v one factor vector, gate/up
    another) and stays close to fp32 (a random model has no outlier channels: this checks the
    factors are paired with the right weights, not that they help, which the outlier test
    above and the bundled model's evaluations show)."""
    import torch

    model, tokenizer = _tiny_gemma(4096)
    body = model.get_decoder()
    texts = calibration_ids(tokenizer)
    assert len(texts) == 4 and all(len(ids) > 10 for ids in texts)
    ranges = activation_ranges(body, texts)
    layer = body.layers[0]
    linears = {"self_attn.q_proj": layer.self_attn.q_proj, "self_attn.o_proj": layer.self_attn.o_proj,
               "mlp.gate_proj": layer.mlp.gate_proj, "mlp.down_proj": layer.mlp.down_proj}  # fmt: skip
    for name, linear in linears.items():
        assert ranges[f"layers.0.{name}"].shape == (linear.in_features,)
        assert (ranges[f"layers.0.{name}"] > 0).all()
    assert len(ranges) == 7 * len(body.layers)
    weights = {name: linear.weight.clone() for name, linear in projections(body).items()}
    twin = int8_copy(body, texts)
    attention, mlp = twin.layers[0].self_attn, twin.layers[0].mlp
    assert attention.q_proj.quantizer is attention.k_proj.quantizer is attention.v_proj.quantizer
    assert mlp.gate_proj.quantizer is mlp.up_proj.quantizer is not mlp.down_proj.quantizer
    for projection in (attention.q_proj, attention.o_proj, mlp.up_proj, mlp.down_proj):
        assert projection.quantizer.smoothing.shape == (projection.in_features,)
    # The original is left as it was: its weights, and no calibration hook on it.
    for name, linear in projections(body).items():
        assert torch.equal(linear.weight, weights[name]) and not linear._forward_pre_hooks
    _assert_close_hidden_states(body, twin, tokenizer)


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
    """Which CPU gets which steps (and prompts, read in the same dtype), by its flags: AMX
    bf16 (measured fast), int8 where only VNNI is there (an Intel Xeon with AVX-512 BF16 but
    no AMX: bf16 was slower than fp32), the model's own dtype where neither is."""
    import torch

    import hf_bioner.device as device
    from hf_bioner.decoding import step_dtype

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
    assert step_dtype(model.to(torch.bfloat16), "auto") is None  # not an fp32 model


def test_int8_tags_real_sentences_as_full_precision_does(corpus_records):
    """The bundled model on 24 NCBI-disease test sentences, prompts and steps on smoothed
    int8 projections (the default on a CPU without AMX), against full precision throughout:
    nearly the same entities (on the whole test set, generator alone, F1 84.75 against 85.04:
    eval_int8-smooth-int8-ncbi_disease.json, eval_int8-check-model-ncbi_disease.json). The
    pipeline reads prompts as its steps run unless told otherwise, and its own selector
    scores in the same dtype."""
    from transformers import pipeline

    import hf_bioner  # noqa: F401  (registers the bio-ner task)
    from hf_bioner.decoding import step_dtype

    tagger = pipeline("bio-ner", device="cpu")
    assert tagger._dtypes("int8", None) == (INT8, INT8)
    assert tagger._dtypes("int8", "model") == (INT8, None)
    auto = step_dtype(tagger.model, "auto")
    assert tagger._dtypes(None, None) == (auto, auto)
    selector_projection = tagger.selector.backbone.layers[0].mlp.down_proj
    assert isinstance(selector_projection, Int8Linear) == (auto is INT8)
    texts = [r["text"] for r in corpus_records("ncbi_disease", "test")[:24]]
    settings = {"int8": {"step_dtype": "int8"}, "model": {"step_dtype": "model"}}
    runs = {
        name: tagger(texts, corpus="ncbi_disease", use_selector=False, **options)
        for name, options in settings.items()
    }
    found = {dtype: {(i, e["start"], e["end"], e["entity_group"])
                     for i, entities in enumerate(run) for e in entities}
             for dtype, run in runs.items()}  # fmt: skip
    assert len(found["model"]) >= 20
    shared = found["int8"] & found["model"]
    # 37 of 39 here (int8 prompts drop two); at most a tenth may differ on so few sentences.
    assert len(shared) >= 0.9 * max(len(found["int8"]), len(found["model"])), found
