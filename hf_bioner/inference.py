"""Tagging evaluation records with a model: the path scores are measured on.

:func:`predict_records` prompts each record with its own corpus's type set, generates every
answer through :func:`hf_bioner.decoding.generate_answers` and decodes them with
:func:`hf_bioner.tagging.decode`. Training's dev evaluation, the selector's hard negatives and
the benchmarks use it; users call the pipeline, which decodes the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hf_bioner.decoding import DEFAULT_DECODER, generate_answers
from hf_bioner.prompts import instruction
from hf_bioner.schema import BioNerInputError, Record, TypeSet, type_set
from hf_bioner.tagging import decode


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
    decoder: str = DEFAULT_DECODER,
    prefill_dtype=None,
) -> dict:
    """Tag records with the model: predicted entities, decode problems, speed.

    ``constrained`` (``inline`` scheme only) allows only valid answers while generating;
    ``prompt_style`` must be the one the model was trained with (its config says which);
    ``step_dtype`` as in :func:`~hf_bioner.decoding.generate_answers`.

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
                               step_dtype=step_dtype, decoder=decoder,
                               prefill_dtype=prefill_dtype)  # fmt: skip
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
