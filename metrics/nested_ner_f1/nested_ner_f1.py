"""Strict nested NER F1 as an `evaluate` metric (computation in ``hf_bioner.scoring``)."""

import datasets
import evaluate

try:
    from hf_bioner.scoring import score
except ImportError as err:  # the metric's card says so too
    raise ImportError("the nested_ner_f1 metric needs hf-bioner: pip install hf-bioner") from err

_CITATION = """\
@article{lv2024unified,
  title  = {A Unified Biomedical Named Entity Recognition Framework with Large Language Models},
  author = {Lv, Tengxiao and Luo, Ling and others},
  year   = {2024}
}
"""

_DESCRIPTION = """\
Strict micro precision, recall and F1 for named entities given as character spans, nested and
overlapping entities included: a prediction counts when a gold entity of the same unit has
exactly its start, end and type (duplicates count once). Also per-type scores, macro F1 and an
error breakdown (type, boundary, overlap, spurious, missed). Equals seqeval (strict IOB2) on
flat data.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list per unit (sentence) of entities ``{"start", "end", "type"}``
        (character offsets, end exclusive).
    references: the gold entities, in the same shape and unit order.
Returns:
    precision, recall, f1: strict micro scores (floats in [0, 1]);
    macro_f1: mean F1 over the gold entity types;
    tp, n_pred, n_gold: counts;
    per_type: {type: {precision, recall, f1, support, predicted, tp}};
    errors: {type, boundary, overlap, spurious, missed}: counts of each error kind.
Examples:
    >>> metric = evaluate.load("metrics/nested_ner_f1")
    >>> gold = [[{"start": 0, "end": 13, "type": "Disease"}, {"start": 7, "end": 13, "type": "Disease"}]]
    >>> pred = [[{"start": 0, "end": 13, "type": "Disease"}]]
    >>> round(metric.compute(predictions=pred, references=gold)["f1"], 4)
    0.6667
"""

_ENTITY = {
    "start": datasets.Value("int32"),
    "end": datasets.Value("int32"),
    "type": datasets.Value("string"),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class NestedNerF1(evaluate.Metric):
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
        return score(_as_lists(predictions), _as_lists(references))


def _as_lists(units):
    """Plain ``{start, end, type}`` dicts with Python ints, as `hf_bioner.scoring` expects."""
    return [
        [{"start": int(e["start"]), "end": int(e["end"]), "type": e["type"]} for e in u]
        for u in units
    ]
