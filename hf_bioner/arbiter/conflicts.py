"""One type per span: when two type sets of a model tag the same span with different types,
which one to keep (:func:`one_type_per_span`, by one of :data:`CONFLICT_RULES`).

The pipeline's default is the ``arbiter`` rule when the model has a type arbiter
(:class:`~hf_bioner.arbiter.model.TypeArbiter`), ``max-margin`` otherwise. The other rules
are kept for ``benchmarks/type_conflicts.py``, which measures them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from hf_bioner.arbiter.model import TypeArbiter
from hf_bioner.schema import BioNerInputError

CONFLICT_RULES = ("arbiter", "max-margin", "max-probability", "sentence-vote", "first-type-set")


def one_type_per_span(
    found: list[tuple[dict, dict]],
    rule: str = "max-margin",
    thresholds: Mapping[str, float] | None = None,
    arbiter: TypeArbiter | None = None,
    limits: Mapping[tuple[int, int, str], float] | None = None,
) -> list[tuple[dict, dict]]:
    """Keep one type for each ``(start, end)`` that several type sets tagged differently.

    ``rule`` picks the winner: ``arbiter`` (the pipeline's when the model has one), the type
    the :class:`~hf_bioner.arbiter.model.TypeArbiter` finds likeliest for the mention among
    the span's types; ``max-margin`` (the pipeline's otherwise), the highest selector
    probability above the threshold it was held to: ``limits[start, end, type]`` where given
    (the pipeline's: a type that two prompts asked for has each prompt's own), else its
    type's calibrated one (``thresholds``);
    ``max-probability``, the highest probability (``score``); ``sentence-vote``, the type set
    that found more of the sentence's other (unconflicted, kept) entities; ``first-type-set``,
    the type set prompted first (``unit["rank"]``: the model config's corpus order). Ties,
    and spans with a type the arbiter does not know, are settled by margin, then by the type
    set prompted first. Measured on the same candidates
    (``benchmarks/results/type_conflicts_gemma-joint-inline.json``), only ``arbiter`` stayed
    within 1 F1 point of the per-corpus view on both BC5CDR and JNLPBA: the bundled model's
    JNLPBA prompt tags most chemicals as ``protein``, and selector scores alone cannot tell
    which is meant.
    """
    if rule not in CONFLICT_RULES:
        raise BioNerInputError(
            f"unknown conflict rule {rule!r}; valid: {', '.join(CONFLICT_RULES)}"
        )
    if rule == "arbiter" and arbiter is None:
        raise BioNerInputError("the arbiter rule needs a type arbiter (hf-bioner train-arbiter)")
    thresholds, limits = thresholds or {}, limits or {}

    def limit_of(entity: dict) -> float:
        key = entity["start"], entity["end"], entity["entity_group"]
        return limits.get(key, thresholds.get(entity["entity_group"], 0.0))

    def margin_of(entity: dict) -> float:
        return selector_margin(entity, limit_of(entity))

    spans = Counter((e["start"], e["end"]) for e, _unit in found)
    votes = Counter(
        (unit["offset"], unit["rank"])
        for e, unit in found
        if spans[e["start"], e["end"]] == 1 and margin_of(e) >= 0
    )
    likelihood = _arbiter_probabilities(found, spans, arbiter) if rule == "arbiter" else {}

    def preference(entity: dict, unit: dict) -> tuple[float, ...]:
        margin, rank = margin_of(entity), -unit["rank"]
        if rule == "arbiter":
            key = entity["start"], entity["end"], entity["entity_group"]
            return (likelihood.get(key, 0.0), margin, rank)
        if rule == "sentence-vote":
            return (votes[unit["offset"], unit["rank"]], margin, rank)
        if rule == "first-type-set":
            return (rank, margin)
        if rule == "max-probability":
            return (margin + limit_of(entity), rank)
        return (margin, rank)

    best: dict[tuple[int, int], tuple[dict, dict]] = {}
    for entity, unit in found:
        key = entity["start"], entity["end"]
        if key not in best or preference(entity, unit) > preference(*best[key]):
            best[key] = (entity, unit)
    winners = {id(pair[0]) for pair in best.values()}
    return [pair for pair in found if id(pair[0]) in winners]


def _arbiter_probabilities(
    found: list[tuple[dict, dict]], spans: Counter, arbiter: TypeArbiter
) -> dict[tuple[int, int, str], float]:
    """The arbiter's probability of each type of each span tagged more than once, keyed
    ``(start, end, type)``; spans with a type it was not trained on are left out."""
    types: dict[tuple[int, int], list[str]] = {}
    units: dict[tuple[int, int], dict] = {}
    for entity, unit in found:
        span = entity["start"], entity["end"]
        if spans[span] > 1:
            types.setdefault(span, []).append(entity["entity_group"])
            units[span] = unit
    likelihood = {}
    for (start, end), labels in types.items():
        if all(arbiter.knows(label) for label in labels):
            sentence, offset = units[start, end]["sentence"], units[start, end]["offset"]
            scores = arbiter.probabilities(sentence, start - offset, end - offset, labels)
            likelihood |= {(start, end, label): p for label, p in scores.items()}
    return likelihood


def selector_margin(entity: dict, limit: float) -> float:
    """How far the selector's probability is above ``limit`` (0 unscored)."""
    return 0.0 if entity["score"] is None else entity["score"] - limit
