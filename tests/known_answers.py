"""A tiny model whose answers are known, for tests that check entities: it always finds some.

A random tiny model may tag nothing, and a loop over its entities then checks nothing. This
one is a 2-layer Llama (the SmolLM2 tokenizer of ``tiny_base``) whose attention and MLP
output projections are zero, so the residual stream holds only the current token's
embedding and the next-token logits depend on the last token alone: a bigram table set by
hand. Its logits:

* right after a prompt (whose last token is the newline after ``Answer:`` / ``答案：``),
  tokens that start with ``<`` win: the answer opens a tag;
* after any other token, every token containing ``<`` loses to every other token: the
  answer copies text and opens no further tag;
* among tokens of one kind, longer ones win (fewer steps per answer).

With constrained decoding (only a tagged copy of the sentence may be written, and the end
only once every tag is closed) the answer to every sentence is therefore the whole sentence
inside one tag: ``<Disease>Ataxia is rare.</Disease>``. The tag is the prompt's only type for
NCBI-disease; for CMeEE (nine types) it is one of them. The model is saved as an hf-bioner
model folder: a LoRA adapter (initialised to change nothing) over that base, so loading
and merging go through the same code as a trained model.
"""

from __future__ import annotations

from pathlib import Path

TAG_BONUS = 100.0  # how much "<" tokens win right after the prompt, and lose elsewhere
BYTE_BONUS = 1.0  # per byte of a token: longer tokens win among equals


def _prompt_end_tokens(tokenizer) -> set[int]:
    """The last token of every kind of prompt (a newline, in every language and style)."""
    from hf_bioner.prompts import PROMPT_STYLES, instruction
    from hf_bioner.schema import type_set

    return {
        tokenizer(instruction("Ataxia.", type_set(corpus), "inline", style))["input_ids"][-1]
        for corpus in ("ncbi_disease", "cmeee")
        for style in PROMPT_STYLES
    }


def _bigram_logit_rows(tokenizer):
    """lm_head rows over a 3-dimensional hidden state (see :func:`whole_sentence_tagger`)."""
    import torch

    from hf_bioner.decoding.automaton import token_bytes

    rows = torch.zeros(len(tokenizer), 3)
    for token_id, data in enumerate(token_bytes(tokenizer)):
        if not data:  # special tokens (end of sequence included): logit 0
            continue
        rows[token_id, 0] = BYTE_BONUS * len(data)
        if data.startswith(b"<"):
            rows[token_id, 1:] = torch.tensor([-TAG_BONUS, TAG_BONUS])
        elif b"<" in data:
            rows[token_id, 1:] = torch.tensor([-TAG_BONUS, -TAG_BONUS])
    return rows


def whole_sentence_tagger(folder: Path, tiny_base: str,
                          corpora: tuple[str, ...] = ("ncbi_disease", "cmeee")) -> str:  # fmt: skip
    """Save the model described in the module docstring under ``folder``; returns the model
    folder (what ``pipeline("bio-ner", model=...)`` and ``hf-bioner tag --model`` take)."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    from hf_bioner.model_format import MODEL_CONFIG_NAME
    from hf_bioner.training import TrainConfig
    from hf_bioner.training.records import model_config

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    config = AutoConfig.from_pretrained(tiny_base)
    config.tie_word_embeddings = False
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    prompt_ends = sorted(_prompt_end_tokens(tokenizer))
    with torch.no_grad():
        for layer in model.model.layers:  # every layer adds nothing to the residual stream
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        # Embeddings of equal norm, so the final RMSNorm scales both by 1/rms = 4 (32 dims):
        # [1, 1, 0, ...] for every token, [1, 0, 1, ...] for the prompt's last token.
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, :2] = 1.0
        model.model.embed_tokens.weight[prompt_ends, 1:3] = torch.tensor([0.0, 1.0])
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, :3] = _bigram_logit_rows(tokenizer) / 4
    base = Path(folder) / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)

    out = Path(folder) / "model"
    adapter = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear",
                                               task_type="CAUSAL_LM"))  # fmt: skip
    adapter.save_pretrained(out)  # LoRA B starts at zero: the adapter changes nothing
    tokenizer.save_pretrained(out)
    model.config.save_pretrained(out)
    settings = TrainConfig(output_dir=str(out), base=str(base), corpora=list(corpora),
                           scheme="inline")  # fmt: skip
    (out / MODEL_CONFIG_NAME).write_text(json.dumps(model_config(settings), ensure_ascii=False))
    return str(out)
