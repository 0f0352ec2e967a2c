"""Batched greedy generation of tagged sentences, and turning them into entities.

This is the plain path used to score a model during and after training: prompts sorted by
length (so a batch pads little), left padding (so every row continues from its last prompt
token), greedy decoding, then :func:`hf_bioner.tagging.decode`. Inline answers can be
constrained to valid ones (:mod:`hf_bioner.constrained`), and are then decoded by scoring only
the allowed tokens (:mod:`hf_bioner.allowed_decoding`), as the pipeline does.

Every answer has a token budget. :func:`generate_answers` says which answers spent it
(:class:`~hf_bioner.constrained.Answer` ``cut``); a constrained answer that did is still a
whole tagged copy of its sentence, with no tags after the cut.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hf_bioner.constrained import Answer, answer_budget, answer_from_tokens
from hf_bioner.prompts import instruction
from hf_bioner.schema import BioNerInputError, Record, TypeSet, type_set
from hf_bioner.tagging import decode


def end_token_ids(model, tokenizer) -> list[int]:
    """Every token id that ends generation (the tokenizer's EOS and the model's)."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return sorted({*ids, tokenizer.eos_token_id} - {None})


def free_answer_budget(prompt_tokens: int) -> int:
    """New tokens allowed for an unconstrained answer, whose sentence we do not know: the
    prompt holds it, so 1.5x the prompt. (Constrained answers use
    :func:`~hf_bioner.constrained.answer_budget`, sized from their sentence.)"""
    return int(prompt_tokens * 1.5) + 16


def step_dtype(model, name: str = "auto"):
    """The torch dtype of the one-token decoding steps, or None for the model's own.

    ``"auto"`` is bf16 for an fp32 model on hardware with fast bf16 (1.49x faster on this
    project's CPU, tag_speed), else the model's own; ``"model"`` always the model's own; or a
    dtype name such as ``"bfloat16"``. The pipeline and the evaluation scripts share this rule,
    so a score is measured the way the pipeline tags on that machine.
    """
    import torch

    from hf_bioner.training import bf16_is_fast

    if name == "auto":
        fast = bf16_is_fast(model.device.type == "cuda")
        return torch.bfloat16 if fast and model.dtype == torch.float32 else None
    if name == "model":
        return None
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise BioNerInputError(f"step_dtype must be 'auto', 'model' or a torch dtype, not {name!r}")
    return dtype


DECODERS = ("allowed-tokens", "logits-processor", "copy-drafts")


def check_decoder(decoder: str) -> None:
    """Refuse a decoder name that :func:`generate` does not know, in one line."""
    if decoder not in DECODERS:
        raise BioNerInputError(
            f"unknown decoder {decoder!r}; decoder must be one of {', '.join(DECODERS)}"
        )


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    progress: bool = False,
    constraints: Sequence[tuple[str, Sequence[str]]] | None = None,
    decoder: str = "allowed-tokens",
    step_dtype=None,
) -> list[str]:
    """The texts of :func:`generate_answers` (same arguments), for callers that need no more."""
    answers = generate_answers(model, tokenizer, prompts, batch_size, max_new_tokens, progress,
                               constraints, decoder, step_dtype)  # fmt: skip
    return [a.text for a in answers]


def generate_answers(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    progress: bool = False,
    constraints: Sequence[tuple[str, Sequence[str]]] | None = None,
    decoder: str = "allowed-tokens",
    step_dtype=None,
) -> list[Answer]:
    """Greedy completions of ``prompts`` (same order), batched by length.

    ``constraints[i] = (sentence, tag names)`` makes row ``i`` an ``inline`` answer for that
    sentence by construction (:mod:`hf_bioner.constrained`), decoded by ``decoder``:
    ``allowed-tokens`` scores only the allowed tokens in a loop of our own
    (:mod:`hf_bioner.allowed_decoding`; the fastest, and the default);
    ``logits-processor`` runs ``model.generate`` with a logits processor (the fallback for
    models whose head cannot be sliced); ``copy-drafts`` decodes one sentence at a time with
    copy-aware speculative decoding (:mod:`hf_bioner.copy_decoding`). All three give the same
    answers. ``step_dtype`` (a torch dtype, ``allowed-tokens`` only) runs the one-token steps
    in that dtype, e.g. bf16 for an fp32 model: faster, answers may differ slightly.

    Each row may write ``max_new_tokens`` tokens; by default a constrained row gets
    :func:`~hf_bioner.constrained.answer_budget` of its sentence and a free row
    :func:`free_answer_budget` of its batch's prompt width. A row that spends its budget comes
    back with ``cut=True``; a constrained one is then completed with the rest of its sentence,
    untagged (entities closed before the cut are kept, a tag still open is dropped).
    """
    check_decoder(decoder)
    if constraints is not None and decoder == "copy-drafts":
        return _generate_with_copy_drafts(model, tokenizer, prompts, constraints,
                                          max_new_tokens, progress)  # fmt: skip
    from tqdm.auto import tqdm

    from hf_bioner.allowed_decoding import AllowedTokenDecoder, supports_allowed_decoding

    if constraints is None:
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    else:  # rows of one type set together, so a batch shares its prompt's beginning
        order = sorted(range(len(prompts)),
                       key=lambda i: (tuple(constraints[i][1]), len(prompts[i])))  # fmt: skip
    outputs: list[Answer] = [Answer("")] * len(prompts)
    eos_ids = end_token_ids(model, tokenizer)
    fast = None
    if constraints is not None and decoder == "allowed-tokens" and supports_allowed_decoding(model):
        fast = AllowedTokenDecoder(model, tokenizer, eos_ids, step_dtype)
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="generating", disable=not progress):
        ids = order[start : start + batch_size]
        batch_prompts = [prompts[i] for i in ids]
        if fast is not None:
            answers = fast.generate(batch_prompts, [constraints[i] for i in ids], max_new_tokens)
        else:
            batch_constraints = None if constraints is None else [constraints[i] for i in ids]
            answers = _generate_batch(model, tokenizer, batch_prompts, batch_constraints,
                                      eos_ids, max_new_tokens)  # fmt: skip
        for i, answer in zip(ids, answers, strict=True):
            outputs[i] = answer
    return outputs


def _generate_batch(model, tokenizer, prompts, constraints, eos_ids,
                    max_new_tokens) -> list[Answer]:  # fmt: skip
    """One left-padded batch through ``model.generate`` (with the logits processor when
    constrained, which also ends each row at its own budget)."""
    import torch
    from transformers import LogitsProcessorList

    from hf_bioner.constrained import InlineConstraint

    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True).to(model.device)
    finally:
        tokenizer.padding_side = padding_side
    width = batch["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if constraints is None:
        budgets = [max_new_tokens or free_answer_budget(width)] * len(prompts)
        machines = [None] * len(prompts)
    else:
        texts, names = zip(*constraints, strict=True)
        budgets = [max_new_tokens or answer_budget(tokenizer, text, types)
                   for text, types in constraints]  # fmt: skip
        processor = InlineConstraint(tokenizer, texts, names, width, eos_ids, budgets)
        processors.append(processor)
        machines = processor.machines
    with torch.no_grad():
        generated = model.generate(
            **batch,
            max_new_tokens=max(budgets),
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            logits_processor=processors,
        )
    rows = [_until_end(row, eos_ids) for row in generated[:, width:].tolist()]
    return [answer_from_tokens(tokenizer, machine, row, budget)
            for machine, row, budget in zip(machines, rows, budgets, strict=True)]  # fmt: skip


def _until_end(tokens: list[int], eos_ids: Sequence[int]) -> list[int]:
    """The tokens before the first end-of-sequence (after it ``generate`` only pads)."""
    ends = set(eos_ids)
    return next((tokens[:n] for n, t in enumerate(tokens) if t in ends), tokens)


def _generate_with_copy_drafts(model, tokenizer, prompts, constraints, max_new_tokens,
                               progress) -> list[Answer]:  # fmt: skip
    from tqdm.auto import tqdm

    from hf_bioner.copy_decoding import CopyDecoder

    model.eval()
    decoder = CopyDecoder(model, tokenizer, end_token_ids(model, tokenizer))
    outputs = []
    for prompt, (sentence, names) in tqdm(list(zip(prompts, constraints, strict=True)),
                                          desc="generating", disable=not progress):  # fmt: skip
        limit = max_new_tokens or answer_budget(tokenizer, sentence, names)
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
    prompt_style: str = "full",
    step_dtype=None,
) -> dict:
    """Tag records with the model: predicted entities, decode problems, speed.

    ``constrained`` (``inline`` scheme only) allows only valid answers while generating;
    ``prompt_style`` must be the one the model was trained with (its config says which);
    ``step_dtype`` as in :func:`generate_answers`.

    Returns ``{"predictions": [entities per record], "outputs": [raw text], "problems":
    [list per record], "cut": [bool per record: the answer spent its token budget, so
    entities after the cut are missing], "seconds": float}``.
    """
    type_sets: dict[str, TypeSet] = {}
    prompts = []
    for record in records:
        types = type_sets.setdefault(record["corpus"], type_set(record["corpus"]))
        prompts.append(instruction(record["text"], types, scheme, prompt_style))
    constraints = None
    if constrained:
        if scheme != "inline":
            raise BioNerInputError("constrained decoding needs the inline scheme")
        constraints = [(r["text"], type_sets[r["corpus"]].names) for r in records]
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, prompts, batch_size=batch_size,
                               progress=progress, constraints=constraints,
                               step_dtype=step_dtype)  # fmt: skip
    predictions, problems = [], []
    for record, answer in zip(records, answers, strict=True):
        names = type_sets[record["corpus"]].display_names()
        entities, issues = decode(answer.text, record["text"], scheme=scheme, type_names=names)
        predictions.append(entities)
        problems.append(issues)
    return {
        "predictions": predictions,
        "outputs": [a.text for a in answers],
        "problems": problems,
        "cut": [a.cut for a in answers],
        "seconds": time.perf_counter() - started,
    }
