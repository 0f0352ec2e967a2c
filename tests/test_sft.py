"""The CPU training recipe: the loss over the completions' vocabulary, short prompts, full
fine-tuning with frozen embeddings (tiny random Llama, real SmolLM2 tokenizer, real TRL)."""

from __future__ import annotations

import json

import torch

from hf_bioner.model_format import MODEL_CONFIG_NAME
from hf_bioner.models import load_base
from hf_bioner.prompts import instruction
from hf_bioner.schema import type_set
from hf_bioner.training import train
from hf_bioner.training.sft import IGNORE_INDEX, completion_loss, restricted_logits
from tests.conftest import tiny_config


def test_restricted_logits_equal_the_full_heads_columns(tiny_base):
    model, _tokenizer = load_base(tiny_base)
    hidden = torch.randn(5, model.config.hidden_size)
    vocabulary = torch.tensor([2, 17, 300, 4000, len(model.get_output_embeddings().weight) - 1])
    full = model.get_output_embeddings()(hidden)
    torch.testing.assert_close(restricted_logits(model, hidden, vocabulary), full[:, vocabulary])


def test_completion_vocabulary_loss_is_the_softmax_over_those_tokens(tiny_base):
    model, tokenizer = load_base(tiny_base)
    ids = torch.tensor([tokenizer("Tag Disease. BRCA1 <Disease>cancer</Disease>")["input_ids"]])
    labels = ids.clone()
    labels[0, :4] = IGNORE_INDEX  # the "prompt"
    targets = labels[0, 1:][labels[0, 1:] != IGNORE_INDEX]
    vocabulary = torch.unique(torch.cat([targets, torch.tensor([0, 1, 2])]))
    with torch.no_grad():
        loss, count, _correct = completion_loss(model, {"input_ids": ids}, labels, None, vocabulary)
        logits = model(input_ids=ids).logits[0, :-1][labels[0, 1:] != IGNORE_INDEX]
    # By hand: cross-entropy of the full logits restricted to the vocabulary's columns.
    restricted = logits[:, vocabulary]
    expected = -torch.log_softmax(restricted, -1)[
        torch.arange(len(targets)), [vocabulary.tolist().index(t) for t in targets.tolist()]
    ].mean()
    assert count == len(targets) > 0
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-4)
    full_loss, _, _ = completion_loss(model, {"input_ids": ids}, labels, None)
    assert loss < full_loss  # fewer competitors in the softmax


def test_short_prompts_name_the_types_only():
    prompt = instruction("BRCA1 causes cancer.", type_set("bc5cdr"), "inline", style="short")
    assert prompt == "Tag Chemical, Disease.\nSentence: BRCA1 causes cancer.\nAnswer:\n"
    chinese = instruction("患者有糖尿病。", type_set("cmeee"), "inline", style="short")
    assert chinese.startswith("标注疾病、临床表现、") and chinese.endswith(
        "句子：患者有糖尿病。\n答案：\n"
    )
    assert len(prompt) < len(instruction("BRCA1 causes cancer.", type_set("bc5cdr"), "inline"))


def test_cpu_recipe_trains_and_the_pipeline_prompts_as_it_was_trained(tmp_path, tiny_base):
    from transformers import pipeline

    summary = train(
        tiny_config(
            tmp_path,
            tiny_base,
            scheme="inline",
            eval_size=0,
            lora=False,
            learning_rate=1e-3,
            loss_vocabulary="completions",
            prompt_style="short",
        )
    )
    vocabulary_size = len(load_base(tiny_base)[1])
    assert 0 < summary["loss_vocabulary_size"] < vocabulary_size / 10
    assert summary["completion_tokens"] > 0
    losses = [row["loss"] for row in summary["log_history"] if "loss" in row]
    assert losses[-1] < losses[0]
    out = tmp_path / "run"
    assert json.loads((out / MODEL_CONFIG_NAME).read_text())["prompt_style"] == "short"
    # Full fine-tuning left the embeddings as they were (frozen by default).
    base_model, _ = load_base(tiny_base)
    from hf_bioner.models import load_trained

    trained, _tokenizer, _config = load_trained(out)
    torch.testing.assert_close(
        trained.get_input_embeddings().weight, base_model.get_input_embeddings().weight
    )
    assert not torch.equal(
        trained.model.layers[0].mlp.down_proj.weight,
        base_model.model.layers[0].mlp.down_proj.weight,
    )
    tagger = pipeline("bio-ner", model=str(out))
    units = tagger.units("Ataxia is rare.", corpus="ncbi_disease")
    assert units[0]["prompt"] == "Tag Disease.\nSentence: Ataxia is rare.\nAnswer:\n"
    zero_shot = tagger.units("IL-2 binds.", types={"Gene": "a gene"})
    assert "- Gene: a gene" in zero_shot[0]["prompt"]  # zero-shot types keep definitions


def test_max_minutes_stops_training_and_still_evaluates(tmp_path, tiny_base):
    summary = train(
        tiny_config(tmp_path, tiny_base, max_steps=50, max_minutes=1e-6, eval_steps=100)
    )
    assert summary["steps"] == 1  # stopped after its first step, far from max_steps
    assert [point["step"] for point in summary["dev_f1_curve"]] == [1]
