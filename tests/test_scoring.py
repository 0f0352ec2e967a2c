"""Strict nested F1: hand-checked cases, the evaluate module, and agreement with seqeval."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from hf_bioner.schema import BioNerInputError
from hf_bioner.scoring import format_table, score
from tests.conftest import REPO


def ent(start, end, type_="Disease"):
    return {"start": start, "end": end, "type": type_}


def test_nested_entities_and_duplicates():
    gold = [[ent(0, 13), ent(7, 13), ent(7, 13)], [ent(0, 4, "Chemical")]]
    pred = [[ent(0, 13), ent(0, 13)], [ent(0, 4, "Chemical"), ent(5, 9, "Chemical")]]
    result = score(pred, gold)
    assert (result["tp"], result["n_pred"], result["n_gold"]) == (2, 3, 3)
    assert result["precision"] == result["recall"] == result["f1"] == 2 / 3
    assert result["per_type"]["Disease"] == {
        "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "predicted": 1, "tp": 1,
    }  # fmt: skip
    assert result["per_type"]["Chemical"]["precision"] == 0.5
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_every_error_kind_is_counted_once():
    gold = [[ent(0, 5, "A"), ent(10, 15, "A"), ent(20, 25, "B"), ent(40, 45, "A")]]
    pred = [[ent(0, 5, "B"), ent(10, 14, "A"), ent(21, 24, "A"), ent(30, 35, "A")]]
    errors = score(pred, gold)["errors"]
    assert errors == {"type": 1, "boundary": 1, "overlap": 1, "spurious": 1, "missed": 1}


def test_empty_inputs_score_zero_not_nan():
    result = score([[], []], [[], []])
    assert (result["precision"], result["recall"], result["f1"], result["macro_f1"]) == (0, 0, 0, 0)
    assert score([[ent(0, 1)]], [[]])["precision"] == 0.0
    assert "micro" in format_table(score([[ent(0, 1)]], [[ent(0, 1)]]))


@pytest.mark.parametrize(
    ("pred", "gold", "message"),
    [
        ([[]], [[], []], r"predictions has 1 units but references has 2"),
        (
            [[{"start": 0, "type": "A"}]],
            [[]],
            r"predictions\[0\]\[0\]: an entity needs start, end and type",
        ),
        ([[], [ent(3, 3)]], [[], []], r"predictions\[1\]\[0\]: needs integers 0 <= start < end"),
        ([[]], [[ent(0, 2, "")]], r"references\[0\]\[0\]: type must be a non-empty string"),
        ([None], [[]], r"predictions\[0\]: expected a list of entities"),
    ],
)
def test_bad_input_names_the_unit_and_entity(pred, gold, message):
    with pytest.raises(BioNerInputError, match=message):
        score(pred, gold)


def test_evaluate_module_loads_offline_and_equals_score(tmp_path, monkeypatch):
    import evaluate

    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    metric = evaluate.load(str(REPO / "metrics" / "nested_ner_f1"), cache_dir=str(tmp_path))
    gold = [[ent(0, 13), ent(7, 13)], [], [ent(2, 6, "Chemical")]]
    pred = [[ent(0, 13)], [ent(1, 3, "X")], [ent(2, 6, "Chemical")]]
    assert metric.compute(predictions=pred, references=gold) == score(pred, gold)


# ----------------------------------------------------------------- agreement with seqeval

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, entities: list[dict]) -> list[tuple[int, int]]:
    """Token spans such that every entity boundary is a token boundary."""
    cuts = {e["start"] for e in entities} | {e["end"] for e in entities}
    spans = []
    for match in _TOKEN.finditer(text):
        start = match.start()
        for cut in sorted(c for c in cuts if match.start() < c < match.end()):
            spans.append((start, cut))
            start = cut
        spans.append((start, match.end()))
    return spans


def to_iob2(tokens, entities) -> list[str]:
    tags = ["O"] * len(tokens)
    for e in entities:
        inside = [i for i, (s, t) in enumerate(tokens) if e["start"] <= s and t <= e["end"]]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + e["type"]
    return tags


def from_iob2(tokens, tags) -> list[dict]:
    """Entities of a valid IOB2 sequence (every I- follows a B-/I- of its type)."""
    entities, current = [], None
    for (start, end), tag in zip(tokens, tags, strict=True):
        if tag.startswith("I-") and current:
            current["end"] = end
            continue
        if current:
            entities.append(current)
        current = {"start": start, "end": end, "type": tag[2:]} if tag.startswith("B-") else None
    if current:
        entities.append(current)
    return entities


def perturb(tags: list[str], types: list[str], rng: random.Random) -> list[str]:
    """Drop, retype, shorten, lengthen or invent entities, keeping valid IOB2."""
    tags = list(tags)
    starts = [i for i, t in enumerate(tags) if t.startswith("B-")]
    for i in starts:
        end = i + 1
        while end < len(tags) and tags[end].startswith("I-"):
            end += 1
        roll = rng.random()
        if roll < 0.1:  # drop
            tags[i:end] = ["O"] * (end - i)
        elif roll < 0.2:  # other type
            new = rng.choice(types)
            tags[i:end] = ["B-" + new] + ["I-" + new] * (end - i - 1)
        elif roll < 0.3 and end - i > 1:  # shorter on the right
            tags[end - 1] = "O"
        elif roll < 0.4 and end < len(tags) and tags[end] == "O":  # longer on the right
            tags[end] = "I-" + tags[i][2:]
    for i in range(len(tags)):
        if tags[i] == "O" and rng.random() < 0.02:  # spurious one-token entity
            tags[i] = "B-" + rng.choice(types)
            if i + 1 < len(tags) and tags[i + 1].startswith("I-"):
                tags[i + 1] = "B-" + tags[i + 1][2:]
    return tags


def assert_same_as_seqeval(gold_tags, pred_tags, ours):
    args = {"mode": "strict", "scheme": IOB2}
    assert math.isclose(
        ours["precision"], precision_score(gold_tags, pred_tags, **args), abs_tol=1e-12
    )
    assert math.isclose(ours["recall"], recall_score(gold_tags, pred_tags, **args), abs_tol=1e-12)
    assert math.isclose(ours["f1"], f1_score(gold_tags, pred_tags, **args), abs_tol=1e-12)
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0, **args)
    for type_, s in ours["per_type"].items():
        if s["support"]:
            assert math.isclose(s["f1"], report[type_]["f1-score"], abs_tol=1e-12), type_
            assert s["support"] == report[type_]["support"]


@pytest.mark.corpora
@pytest.mark.parametrize("name", ["ncbi_disease", "jnlpba"])
def test_equals_seqeval_on_perturbed_test_sets(name, corpus_records):
    rng = random.Random(13)
    records = corpus_records(name, "test")
    types = sorted({e["type"] for r in records for e in r["entities"]})
    gold_tags, pred_tags, preds, golds = [], [], [], []
    for record in records:
        tokens = tokenize(record["text"], record["entities"])
        gold = to_iob2(tokens, record["entities"])
        pred = perturb(gold, types, rng)
        gold_tags.append(gold)
        pred_tags.append(pred)
        golds.append(from_iob2(tokens, gold))
        preds.append(from_iob2(tokens, pred))
    # The token view loses nothing: gold entities read back from IOB2 are the corpus's.
    assert [sorted(map(tuple, map(dict.values, g))) for g in golds] == [
        sorted((e["start"], e["end"], e["type"]) for e in r["entities"]) for r in records
    ]
    ours = score(preds, golds)
    assert 0.5 < ours["f1"] < 0.95  # the perturbation really changed things
    assert_same_as_seqeval(gold_tags, pred_tags, ours)


_tags = st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), min_size=1, max_size=30)


def _valid(tags):
    """Repair a random tag list into valid IOB2 (an I- after a different type becomes B-)."""
    out = []
    for tag in tags:
        if tag.startswith("I-") and (not out or out[-1] == "O" or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_tags, _tags), min_size=1, max_size=5))
def test_equals_seqeval_on_random_flat_sequences(pairs):
    gold_tags, pred_tags, golds, preds = [], [], [], []
    for gold, pred in pairs:
        length = min(len(gold), len(pred))
        gold, pred = _valid(gold[:length]), _valid(pred[:length])
        tokens = [(i, i + 1) for i in range(length)]  # one character per token
        gold_tags.append(gold)
        pred_tags.append(pred)
        golds.append(from_iob2(tokens, gold))
        preds.append(from_iob2(tokens, pred))
    ours = score(preds, golds)
    if ours["n_gold"] and ours["n_pred"]:
        assert_same_as_seqeval(gold_tags, pred_tags, ours)
