"""Strict nested NER F1 as an `evaluate` metric; the computation is ``hf_bioner.scoring``.

Load it from this folder, offline: ``evaluate.load("metrics/nested_ner_f1")`` (with
``HF_EVALUATE_OFFLINE=1`` nothing is fetched). It needs the hf-bioner package importable.
"""

import datasets
import evaluate

try:
    from hf_bioner.scoring import score
except ImportError as err:  # the metric card says so too
    raise ImportError(
        "the nested_ner_f1 metric needs the hf-bioner package: pip install hf-bioner"
    ) from err

_CITATION = """\
@article{lv2024unified,
  title  = {A Unified Biomedical Named Entity Recognition Framework with Large Language Models},
  author = {Lv, Tengxiao and Luo, Ling and others},
  year   = {2024}
}
"""

_DESCRIPTION = """\
Strict micro precision, recall and F1 for named entities given as character spans, nested and
overlapping entities included. A predicted entity is a true positive when a gold entity of the
same unit (sentence) has exactly its start, end and type; each unit's entities are a set, so
duplicates count once. Also per-type scores, macro F1 (over the gold types) and a breakdown of
the errors: each false positive is a `type`, `boundary`, `overlap` or `spurious` error, and
`missed` counts gold entities that no prediction overlaps. A zero denominator gives 0.0. On
flat data the scores equal seqeval's strict IOB2 mode exactly.
"""

_KWARGS_DESCRIPTION = """
Computes strict span-level P/R/F1 for (nested) named entities.
Args:
    predictions: list of units (sentences); each a list of predicted entities
        ``{"start": int, "end": int, "type": str}`` (character offsets, end exclusive).
    references: the gold entities, in the same shape and the same unit order.
Returns:
    precision, recall, f1: strict micro scores (floats in [0, 1]; 0.0 on a zero denominator);
    macro_f1: mean F1 over the types that occur in the references;
    tp, n_pred, n_gold: counts of true positives, (distinct) predicted and gold entities;
    per_type: {type: {precision, recall, f1, support, predicted, tp}} for every type seen;
    errors: {type, boundary, overlap, spurious, missed}: the first four split the false
        positives (type: same span, other type; boundary: overlaps a gold entity of the same
        type; overlap: overlaps only other types and spans; spurious: overlaps nothing),
        missed counts gold entities that no prediction overlaps.
Examples:
    >>> metric = evaluate.load("metrics/nested_ner_f1")
    >>> gold = [[{"start": 0, "end": 13, "type": "Disease"}, {"start": 7, "end": 13, "type": "Disease"}]]
    >>> pred = [[{"start": 0, "end": 13, "type": "Disease"}]]
    >>> results = metric.compute(predictions=pred, references=gold)
    >>> print(results["precision"], results["recall"], round(results["f1"], 4))
    1.0 0.5 0.6667
"""

_ENTITY = {
    "start": datasets.Value("int32"),
    "end": datasets.Value("int32"),
    "type": datasets.Value("string"),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class NestedNerF1(evaluate.Metric):
    """Strict span-level F1 for nested and flat NER (see ``hf_bioner.scoring``)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.List(_ENTITY),
                    "references": datasets.List(_ENTITY),
                }
            ),
            reference_urls=["https://github.com/hf-bioner/hf-bioner"],
        )

    def _compute(self, predictions, references):
        return score(_entity_lists(predictions), _entity_lists(references))


def _entity_lists(units):
    """Plain lists of ``{start, end, type}`` dicts (a field Arrow left empty stays None and
    is then reported by `hf_bioner.scoring.score` with its unit and entity index)."""
    return [[{k: e.get(k) for k in _ENTITY} for e in unit] for unit in units]
