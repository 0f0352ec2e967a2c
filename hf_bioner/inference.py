"""Batched greedy generation of tagged sentences, and turning them into entities.

This is the plain path used to score a model during and after training: prompts sorted by
length (so a batch pads little), left padding (so every row continues from its last prompt
token), greedy decoding, then :func:`hf_bioner.tagging.decode`. The user-facing pipeline adds
constrained and copy-aware decoding on top (see the pipeline issue).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hf_bioner.prompts import instruction
from hf_bioner.schema import BioNerInputError, Record, TypeSet, type_set
from hf_bioner.tagging import decode


def end_token_ids(model, tokenizer) -> list[int]:
    """Every token id that ends generation (the tokenizer's EOS and the model's)."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return sorted({*ids, tokenizer.eos_token_id} - {None})


def answer_budget(prompt_tokens: int) -> int:
    """New tokens allowed for an answer: a tagged copy is the sentence plus tags, and the
    prompt holds the sentence, so 1.5x the prompt is ample."""
    return int(prompt_tokens * 1.5) + 16


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    progress: bool = False,
    constraints: Sequence[tuple[str, Sequence[str]]] | None = None,
    copy_drafts: bool = False,
) -> list[str]:
    """Greedy completions of ``prompts`` (same order), batched by length.

    ``constraints[i] = (sentence, tag names)`` makes row ``i`` an ``inline`` answer for that
    sentence by construction (:mod:`hf_bioner.constrained`). With ``copy_drafts`` those
    answers are decoded one sentence at a time with copy-aware speculative decoding
    (:mod:`hf_bioner.copy_decoding`) instead of in padded batches.
    """
    if constraints is not None and copy_drafts:
        return _generate_with_copy_drafts(model, tokenizer, prompts, constraints,
                                          max_new_tokens, progress)  # fmt: skip
    import torch
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    from hf_bioner.constrained import InlineConstraint

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    eos_ids = end_token_ids(model, tokenizer)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    model.eval()
    try:
        batches = range(0, len(order), batch_size)
        for start in tqdm(batches, desc="generating", disable=not progress):
            ids = order[start : start + batch_size]
            batch = tokenizer([prompts[i] for i in ids], return_tensors="pt", padding=True)
            batch = batch.to(model.device)
            limit = max_new_tokens or answer_budget(batch["input_ids"].shape[1])
            processors = LogitsProcessorList()
            if constraints is not None:
                texts, names = zip(*(constraints[i] for i in ids), strict=True)
                width = batch["input_ids"].shape[1]
                processors.append(InlineConstraint(tokenizer, texts, names, width, eos_ids))
            with torch.no_grad():
                generated = model.generate(
                    **batch,
                    max_new_tokens=limit,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    logits_processor=processors,
                )
            new = generated[:, batch["input_ids"].shape[1] :]
            for i, text in zip(
                ids, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True
            ):
                outputs[i] = text
    finally:
        tokenizer.padding_side = padding_side
    return outputs


def _generate_with_copy_drafts(model, tokenizer, prompts, constraints, max_new_tokens, progress):
    from tqdm.auto import tqdm

    from hf_bioner.copy_decoding import CopyDecoder

    model.eval()
    decoder = CopyDecoder(model, tokenizer, end_token_ids(model, tokenizer))
    outputs = []
    for prompt, (sentence, names) in tqdm(list(zip(prompts, constraints, strict=True)),
                                          desc="generating", disable=not progress):  # fmt: skip
        limit = max_new_tokens or answer_budget(len(tokenizer(prompt)["input_ids"]))
        outputs.append(decoder.generate(prompt, sentence, names, limit))
    return outputs


def predict_records(
    model,
    tokenizer,
    records: Sequence[Record],
    scheme: str = "paper",
    batch_size: int = 16,
    progress: bool = False,
    constrained: bool = False,
) -> dict:
    """Tag records with the model: predicted entities, decode problems, speed.

    ``constrained`` (``inline`` scheme only) allows only valid answers while generating.

    Returns ``{"predictions": [entities per record], "outputs": [raw text], "problems":
    [list per record], "seconds": float}``.
    """
    type_sets: dict[str, TypeSet] = {}
    prompts = []
    for record in records:
        types = type_sets.setdefault(record["corpus"], type_set(record["corpus"]))
        prompts.append(instruction(record["text"], types, scheme))
    constraints = None
    if constrained:
        if scheme != "inline":
            raise BioNerInputError("constrained decoding needs the inline scheme")
        constraints = [(r["text"], type_sets[r["corpus"]].names) for r in records]
    started = time.perf_counter()
    outputs = generate(
        model, tokenizer, prompts, batch_size=batch_size, progress=progress, constraints=constraints
    )
    predictions, problems = [], []
    for record, output in zip(records, outputs, strict=True):
        names = type_sets[record["corpus"]].display_names()
        entities, issues = decode(output, record["text"], scheme=scheme, type_names=names)
        predictions.append(entities)
        problems.append(issues)
    return {
        "predictions": predictions,
        "outputs": outputs,
        "problems": problems,
        "seconds": time.perf_counter() - started,
    }
