"""The one entry point of decoding: prompts in, :class:`Answer` objects out, batched.

:func:`generate_answers` sorts the prompts (rows of one type set together, then by length, so
a batch shares its prompt's beginning and pads little), cuts them into batches and hands each
batch to one decoder of :data:`DECODERS`. Every decoder takes the same arguments and gives the
same answers (constrained greedy decoding, up to floating-point differences of batching);
they differ in speed and in the models they support:

``drafted-tables`` (:mod:`~hf_bioner.decoding.drafted_tables`, the default)
    token-tables reading copy drafts: several copied tokens checked per forward pass where
    a step is bound by reading weights (a GPU; a CPU at a few rows).
``token-tables`` (:mod:`~hf_bioner.decoding.token_tables`)
    scores only a superset of the allowed tokens, looked up in tables built once per prompt,
    for all rows at once on the model's device; the Python work per row and step is small.
``allowed-tokens`` (:mod:`~hf_bioner.decoding.allowed_tokens`)
    the same loop, with the allowed set of each row walked on the automaton at every step.
``logits-processor`` (:mod:`~hf_bioner.decoding.logits_processor`)
    ``model.generate`` with a logits processor: any model, the full head every step; also the
    path for unconstrained answers.
``copy-drafts`` (:mod:`~hf_bioner.decoding.copy_drafts`)
    one sentence at a time, several copied tokens verified per forward pass.

The first three need a head they can slice (:func:`supports_sliced_head`); for other models
they give way to ``logits-processor``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_bioner.decoding.allowed_tokens import AllowedTokenDecoder, supports_sliced_head
from hf_bioner.decoding.answers import Answer
from hf_bioner.decoding.copy_drafts import CopyDraftDecoder
from hf_bioner.decoding.drafted_tables import DraftedTableDecoder
from hf_bioner.decoding.logits_processor import ProcessorDecoder
from hf_bioner.decoding.token_tables import TableDecoder
from hf_bioner.device import bf16_is_fast, int8_is_fast
from hf_bioner.schema import BioNerInputError

DECODERS = {
    "token-tables": TableDecoder,
    "drafted-tables": DraftedTableDecoder,
    "allowed-tokens": AllowedTokenDecoder,
    "logits-processor": ProcessorDecoder,
    "copy-drafts": CopyDraftDecoder,
}
DEFAULT_DECODER = "drafted-tables"
# Batches' worth of rows a refilling decoder is handed at once: the batch runs empty only at
# the end of them (its last, longest rows finishing with few beside them: 18% of a corpus
# run's time when it was every 8 batches), and it builds their tables a stage at a time
# (token_tables.STAGE_BATCHES), so the tables stay small. A pipeline's batch is as large (2,048
# prompts at a CPU batch of 64, 8,192 at a GPU's 256): a streamed call's first results come
# after that many prompts.
REFILL_BATCHES = 32
SLICED_HEAD = ("token-tables", "drafted-tables", "allowed-tokens")


def check_decoder(decoder: str) -> None:
    """Refuse a decoder name that :func:`generate_answers` does not know, in one line."""
    if decoder not in DECODERS:
        raise BioNerInputError(
            f"unknown decoder {decoder!r}; decoder must be one of {', '.join(DECODERS)}"
        )


def end_token_ids(model, tokenizer) -> list[int]:
    """Every token id that ends generation (the tokenizer's EOS and the model's)."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return sorted({*ids, tokenizer.eos_token_id} - {None})


def step_dtype(model, name: str = "auto"):
    """The torch dtype of the one-token decoding steps, or None for the model's own.

    ``"auto"``, for an fp32 model: bf16 on hardware with fast bf16 (1.49x faster on an AMX
    CPU, tag_speed); int8 projections (:mod:`hf_bioner.quantization`, named by
    ``torch.qint8``, smoothed) on a CPU with int8 dot products and no bf16 units; else the
    model's own. Prompts are read, and the selector scores, in the same dtype: smoothed int8
    prompts and steps scored CMeEE dev (1,000 seeded sentences) 56.33 against 56.36 in fp32
    and NCBI-disease test 84.75 against 85.04, generator alone
    (``eval_int8-smooth-int8-*.json`` beside ``eval_int8-check-model-*.json``; without the
    smoothing int8 prompts lost 0.7 on CMeEE).
    ``"model"`` always the model's own; ``"int8"``; or a dtype name such as ``"bfloat16"``.
    The pipeline and the evaluation scripts share this rule, so a score is measured the way
    the pipeline tags on that machine.
    """
    import torch

    from hf_bioner.quantization import INT8, INT8_NAMES

    on_cpu = model.device.type == "cpu"
    if name == "auto":
        if model.dtype != torch.float32:
            return None
        if bf16_is_fast(model.device.type == "cuda"):
            return torch.bfloat16
        return INT8 if on_cpu and int8_is_fast(False) else None
    if name == "model":
        return None
    name = str(name).removeprefix("torch.")
    dtype = INT8 if name in INT8_NAMES else getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype == INT8):
        raise BioNerInputError(
            f"step_dtype must be 'auto', 'model', 'int8' or a float dtype, not {name!r}"
        )
    if dtype == INT8 and not on_cpu:
        raise BioNerInputError(
            f"step_dtype='int8' runs on a CPU only, not on {model.device.type}: "
            "use 'auto' (bf16 on a GPU that supports it)"
        )
    return dtype


def make_decoder(name: str, model, tokenizer, constrained: bool = True, step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
    """The decoder ``name`` for this model, or the one it gives way to (see the module doc)."""
    check_decoder(name)
    if not constrained or (name in SLICED_HEAD and not supports_sliced_head(model)):
        name = "logits-processor"
    eos_ids = end_token_ids(model, tokenizer)
    return DECODERS[name](model, tokenizer, eos_ids, step_dtype, prefill_dtype)


def batch_order(prompts: Sequence[str], constraints, longest_first: bool = False) -> list[int]:
    """The order rows are batched in: by type set, then by prompt length (similar lengths
    together, so a batch pads little and its rows finish at about the same step). A decoder
    that refills its batch takes the longest first: the short rows then fill in around them,
    instead of the longest running alone at the end."""
    sign = -1 if longest_first else 1
    if constraints is None:
        return sorted(range(len(prompts)), key=lambda i: sign * len(prompts[i]))
    return sorted(range(len(prompts)),
                  key=lambda i: (tuple(constraints[i][1]), sign * len(prompts[i])))  # fmt: skip


def generate_answers(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    progress: bool = False,
    constraints: Sequence[tuple[str, Sequence[str]]] | None = None,
    decoder: str = DEFAULT_DECODER,
    step_dtype=None,
    prefill_dtype=None,
) -> list[Answer]:
    """Greedy completions of ``prompts`` (same order), batched by type set and length.

    ``constraints[i] = (sentence, tag names)`` makes row ``i`` an ``inline`` answer for that
    sentence by construction (:mod:`hf_bioner.decoding.automaton`), written by ``decoder`` (a
    name in :data:`DECODERS`, or a decoder :func:`make_decoder` made). ``step_dtype`` (a torch dtype; the sliced-head decoders only) runs the
    one-token steps in that dtype, e.g. bf16 for an fp32 model: faster, answers may differ
    slightly; ``prefill_dtype`` likewise reads the prompts in that dtype.

    Each row may write ``max_new_tokens`` tokens; by default a constrained row gets
    :func:`~hf_bioner.decoding.answers.answer_budget` of its sentence and a free row 1.5x
    its batch's prompt width. A row that spends its budget comes back with ``cut=True``; a
    constrained one is then completed with the rest of its sentence, untagged (entities closed
    before the cut are kept, a tag still open is dropped).
    """
    from tqdm.auto import tqdm

    if isinstance(decoder, str):
        chosen = make_decoder(decoder, model, tokenizer, constraints is not None, step_dtype,
                              prefill_dtype)  # fmt: skip
    else:  # a decoder made by make_decoder (benchmarks instrument one)
        chosen = decoder
    # A decoder that refills its batch takes many batches' rows at once (REFILL_BATCHES); the
    # others one batch at a time.
    refills = getattr(chosen, "refill", False)
    order = batch_order(prompts, constraints, longest_first=refills)
    outputs: list[Answer] = [Answer("")] * len(prompts)
    model.eval()
    bar = tqdm(total=len(order), desc="generating", disable=not progress)
    step = batch_size * REFILL_BATCHES if refills else batch_size
    for start in range(0, len(order), step):
        ids = order[start : start + step]
        batch_constraints = None if constraints is None else [constraints[i] for i in ids]
        batch_prompts = [prompts[i] for i in ids]
        if refills:
            answers = chosen.generate(batch_prompts, batch_constraints, max_new_tokens,
                                      batch_size=batch_size, on_done=bar.update)  # fmt: skip
        else:
            answers = chosen.generate(batch_prompts, batch_constraints, max_new_tokens)
            bar.update(len(ids))
        for i, answer in zip(ids, answers, strict=True):
            outputs[i] = answer
    bar.close()
    return outputs


def generate(model, tokenizer, prompts: Sequence[str], **options) -> list[str]:
    """The texts of :func:`generate_answers` (same options), for callers that need no more."""
    return [a.text for a in generate_answers(model, tokenizer, prompts, **options)]
