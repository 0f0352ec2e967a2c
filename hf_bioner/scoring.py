"""Strict (nested) NER scores: micro and per-type P/R/F1, macro F1, and what went wrong.

Entities are character spans ``{"start", "end", "type"}`` (``end`` exclusive; other keys are
ignored), one list per *unit* (sentence or document). A prediction is a **true positive**
when a gold entity of the *same unit* has exactly the same ``start``, ``end`` and ``type``.
Each unit's entities are a *set* of such triples, so duplicates count once on both sides,
and nested or overlapping entities are scored like any other: a mention nested in another
is just one more triple, no BIO conversion is involved.

Micro ``precision = tp / n_pred``, ``recall = tp / n_gold`` and
``f1 = 2 * precision * recall / (precision + recall)``, counted over all units and types.
Whenever a denominator is 0 the ratio is defined as 0.0 (no NaN, no warning): no
predictions give precision 0.0, no gold entities give recall 0.0, and P = R = 0 gives F1 0.0.
On flat data these are the same floats, to the last bit, as ``seqeval`` in strict IOB2 mode
(``mode="strict", scheme=IOB2``, ``zero_division=0``); the tests check this on real corpora.

``per_type`` has an entry for every type seen in the predictions *or* the references.
``macro_f1`` is the mean per-type F1 over the types that occur in the *references* only, so
a type that is only ever predicted lowers micro precision but not macro F1 (seqeval's
"macro avg" would also average in that type's F1 of 0.0).

Every false positive (a predicted triple that is not in gold) gets exactly one error
category, the first of these that applies:

``type``      the same span (start, end) is in gold with another type;
``boundary``  it overlaps a gold entity of the same type, but not with the same span;
``overlap``   it overlaps only gold entities of other types and other spans;
``spurious``  it overlaps no gold entity at all.

So ``type + boundary + overlap + spurious == n_pred - tp``. A prediction that is both a type
error (same span, other type) and a boundary error (overlaps a same-type gold entity) counts
as ``type``: the span was found, the label was wrong. Two spans overlap when they share at
least one character (``a.start < b.end and b.start < a.end``), so nested spans overlap.

``missed`` counts gold entities that no prediction overlaps at all. The other false negatives
(``n_gold - tp - missed``) are the gold side of a type, boundary or overlap error.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Sequence

from hf_bioner.schema import BioNerInputError

Triple = tuple[int, int, str]
FALSE_POSITIVE_KINDS = ("type", "boundary", "overlap", "spurious")
ERROR_KINDS = (*FALSE_POSITIVE_KINDS, "missed")
_FIELDS = ("start", "end", "type")


def _is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _triples(unit, where: str) -> set[Triple]:
    """The (start, end, type) set of one unit, validated."""
    if not isinstance(unit, (list, tuple)):
        raise BioNerInputError(f"{where}: expected a list of entities, got {type(unit).__name__}")
    triples = set()
    for j, ent in enumerate(unit):
        here = f"{where}[{j}]"
        if not isinstance(ent, dict):
            raise BioNerInputError(f"{here}: an entity must be a dict, got {type(ent).__name__}")
        missing = [k for k in _FIELDS if k not in ent]
        if missing:
            raise BioNerInputError(
                f"{here}: an entity needs start, end and type; missing {', '.join(missing)}"
            )
        start, end, type_ = ent["start"], ent["end"], ent["type"]
        if not (_is_int(start) and _is_int(end) and 0 <= start < end):
            raise BioNerInputError(
                f"{here}: needs integers 0 <= start < end, got start={start!r}, end={end!r}"
            )
        if not isinstance(type_, str) or not type_:
            raise BioNerInputError(f"{here}: type must be a non-empty string, got {type_!r}")
        triples.add((int(start), int(end), type_))
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
    """Precision, recall and F1 from counts (each 0.0 where its denominator is 0)."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(predictions: Sequence[Sequence[dict]], references: Sequence[Sequence[dict]]) -> dict:
    """Strict P/R/F1 of ``predictions`` against ``references`` (one entity list per unit).

    Returns ``{"precision", "recall", "f1", "macro_f1", "tp", "n_pred", "n_gold",
    "per_type": {type: {"precision", "recall", "f1", "support", "predicted", "tp"}},
    "errors": {"type", "boundary", "overlap", "spurious", "missed"}}`` with plain floats and
    ints; ``per_type`` is sorted by type. Raises `BioNerInputError` naming the unit and entity
    index for malformed input.
    """
    if len(predictions) != len(references):
        raise BioNerInputError(
            f"predictions has {len(predictions)} units but references has {len(references)}"
        )
    tp, n_pred, n_gold = Counter(), Counter(), Counter()
    errors = dict.fromkeys(ERROR_KINDS, 0)
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
    macro_f1 = sum(per_type[t]["f1"] for t in gold_types) / len(gold_types) if gold_types else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "macro_f1": macro_f1,
        "tp": total_tp,
        "n_pred": total_pred,
        "n_gold": total_gold,
        "per_type": per_type,
        "errors": errors,
    }


def format_table(result: dict) -> str:
    """A plain-text table of a :func:`score` result: per type, micro, macro, then errors."""
    head = ("type", "precision", "recall", "f1", "support", "predicted", "tp")
    width = max([16, *(len(t) + 2 for t in result["per_type"])])
    lines = [f"{head[0]:<{width}}" + "".join(f"{h:>10}" for h in head[1:])]

    def row(name, p, r, f, support, predicted, tp):
        return f"{name:<{width}}{p:>10.4f}{r:>10.4f}{f:>10.4f}{support:>10}{predicted:>10}{tp:>10}"

    for type_, s in result["per_type"].items():
        lines.append(
            row(type_, s["precision"], s["recall"], s["f1"], s["support"], s["predicted"], s["tp"])
        )
    lines.append("-" * len(lines[0]))
    lines.append(
        row(
            "micro",
            result["precision"],
            result["recall"],
            result["f1"],
            result["n_gold"],
            result["n_pred"],
            result["tp"],
        )
    )
    lines.append(f"{'macro F1':<{width}}{'':>20}{result['macro_f1']:>10.4f}")
    errors = result["errors"]
    false_pos = ", ".join(f"{k} {errors[k]}" for k in FALSE_POSITIVE_KINDS if k in errors)
    lines.append(f"false positives: {false_pos}")
    lines.append(f"missed (no overlapping prediction): {errors.get('missed', 0)}")
    return "\n".join(lines)
