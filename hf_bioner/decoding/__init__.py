"""Decoding: how a model writes its answers, one family of interchangeable decoders.

``automaton``        the language of valid ``inline`` answers and the tokens that spell it
``answers``          :class:`Answer`, token budgets, completing answers cut at their budget
``allowed_tokens``   a batched loop of our own that scores only allowed tokens
``token_tables``     the same loop with candidate tables built once per prompt
``drafted_tables``   token tables reading copy drafts, several tokens per pass (default)
``logits_processor`` ``model.generate`` with a constraint (any model; free answers)
``copy_drafts``      one sentence at a time, verifying copied tokens in one pass
``generation``       the one entry point: :func:`generate_answers` and the registry

Modules here import from ``hf_bioner.schema``, ``hf_bioner.tagging`` and ``hf_bioner.device``
and from each other (in the order listed), never from the pipeline, training or the CLI.
"""

from hf_bioner.decoding.answers import Answer, answer_budget
from hf_bioner.decoding.generation import (
    DECODERS,
    DEFAULT_DECODER,
    REFILL_BATCHES,
    check_decoder,
    end_token_ids,
    generate,
    generate_answers,
    step_dtype,
)

__all__ = [
    "DECODERS",
    "DEFAULT_DECODER",
    "REFILL_BATCHES",
    "Answer",
    "answer_budget",
    "check_decoder",
    "end_token_ids",
    "generate",
    "generate_answers",
    "step_dtype",
]
