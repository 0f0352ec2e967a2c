"""Strict (nested) NER scores: micro and per-type P/R/F1, macro F1, and what went wrong.

A prediction is a true positive when a gold entity of the *same unit* has exactly the same
``start``, ``end`` and ``type``. Each unit's entities are a *set* of such triples, so
duplicates count once on both sides, and nested or overlapping entities are scored like any
other (a nested mention is just another triple). On flat data this is the same number as
``seqeval`` in strict IOB2 mode, which the tests check on real corpora.

Every false positive gets one error category, the first that applies:

``type``      the same span is in gold with another type;
``boundary``  it overlaps a gold span of the same type (but is not exact);
``overlap``   it overlaps a gold span of another type and another span;
``spurious``  it overlaps no gold entity at all.

``missed`` counts gold entities that no prediction overlaps at all (other false negatives
are the other side of a type or boundary error). Ratios with a zero denominator are 0.0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from hf_bioner.schema import BioNerInputError

Triple = tuple[int, int, str]
ERROR_KINDS = ("type", "boundary", "overlap", "spurious", "missed")


def _triples(unit: Iterable[dict], where: str) -> set[Triple]:
    """The (start, end, type) set of one unit, validated."""
    if not isinstance(unit, (list, tuple)):
        raise BioNerInputError(f"{where}: expected a list of entities, got {type(unit).__name__}")
    triples = set()
    for j, ent in enumerate(unit):
        here = f"{where}[{j}]"
        if not isinstance(ent, dict) or any(k not in ent for k in ("start", "end", "type")):
            raise BioNerInputError(f"{here}: an entity needs start, end and type")
        start, end, type_ = ent["start"], ent["end"], ent["type"]
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
            raise BioNerInputError(
                f"{here}: needs integers 0 <= start < end, got {start!r}, {end!r}"
            )
        if not isinstance(type_, str) or not type_:
            raise BioNerInputError(f"{here}: type must be a non-empty string, got {type_!r}")
        triples.add((start, end, type_))
    return triples


def _overlaps(a: Triple, b: Triple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _error_kind(pred: Triple, gold: set[Triple]) -> str:
    """The category of a false positive (see the module docstring for the order)."""
    if any(g[:2] == pred[:2] for g in gold):
        return "type"
    touching = [g for g in gold if _overlaps(g, pred)]
    if any(g[2] == pred[2] for g in touching):
        return "boundary"
    return "overlap" if touching else "spurious"


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0.0 where a denominator is 0)."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(predictions: Sequence[Sequence[dict]], references: Sequence[Sequence[dict]]) -> dict:
    """Strict P/R/F1 of ``predictions`` against ``references`` (one entity list per unit)."""
    if len(predictions) != len(references):
        raise BioNerInputError(
            f"predictions has {len(predictions)} units but references has {len(references)}"
        )
    tp, n_pred, n_gold = Counter(), Counter(), Counter()
    errors = Counter(dict.fromkeys(ERROR_KINDS, 0))
    for i, (pred_unit, gold_unit) in enumerate(zip(predictions, references, strict=True)):
        pred = _triples(pred_unit, f"predictions[{i}]")
        gold = _triples(gold_unit, f"references[{i}]")
        n_pred.update(t[2] for t in pred)
        n_gold.update(t[2] for t in gold)
        tp.update(t[2] for t in pred & gold)
        for p in pred - gold:
            errors[_error_kind(p, gold)] += 1
        errors["missed"] += sum(1 for g in gold if not any(_overlaps(g, p) for p in pred))
    per_type = {}
    for type_ in sorted(set(n_pred) | set(n_gold)):
        p, r, f = prf(tp[type_], n_pred[type_], n_gold[type_])
        per_type[type_] = {
            "precision": p,
            "recall": r,
            "f1": f,
            "support": n_gold[type_],
            "predicted": n_pred[type_],
            "tp": tp[type_],
        }
    total_tp, total_pred, total_gold = sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())
    precision, recall, f1 = prf(total_tp, total_pred, total_gold)
    gold_types = [t for t in per_type if n_gold[t]]
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "macro_f1": sum(per_type[t]["f1"] for t in gold_types) / len(gold_types)
        if gold_types
        else 0.0,
        "tp": total_tp,
        "n_pred": total_pred,
        "n_gold": total_gold,
        "per_type": per_type,
        "errors": dict(errors),
    }


def format_table(result: dict) -> str:
    """A plain-text table of a :func:`score` result: per type, micro, macro, errors."""
    lines = [
        f"{'type':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}{'predicted':>10}"
    ]
    for type_, s in result["per_type"].items():
        lines.append(
            f"{type_:<16}{s['precision']:>10.4f}{s['recall']:>10.4f}{s['f1']:>10.4f}"
            f"{s['support']:>10}{s['predicted']:>10}"
        )
    lines.append(
        f"{'micro':<16}{result['precision']:>10.4f}{result['recall']:>10.4f}{result['f1']:>10.4f}"
        f"{result['n_gold']:>10}{result['n_pred']:>10}"
    )
    lines.append(f"{'macro F1':<16}{'':>20}{result['macro_f1']:>10.4f}")
    lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in result["errors"].items()))
    return "\n".join(lines)
