"""Strict nested F1: hand-checked cases, the evaluate module, and agreement with seqeval."""

from __future__ import annotations

import importlib.util
import math
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from hf_bioner.schema import BioNerInputError
from hf_bioner.scoring import format_table, score

REPO = Path(__file__).resolve().parent.parent
METRIC_DIR = REPO / "metrics" / "nested_ner_f1"


def ent(start, end, type_="Disease"):
    return {"start": start, "end": end, "type": type_}


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0)


# ----------------------------------------------------------------------- hand-computed cases


def test_nested_duplicates_empty_units_per_type_and_macro():
    # unit 0: "familial breast cancer": three nested diseases, one listed twice
    gold = [
        [ent(0, 22), ent(9, 22), ent(16, 22), ent(9, 22)],
        [],
        [ent(0, 7, "Chemical")],
        [ent(0, 4)],
    ]
    pred = [
        [ent(0, 22), ent(0, 22), ent(16, 22), ent(9, 15, "Chemical")],
        [],
        [ent(0, 7, "Chemical"), ent(8, 12)],
        [],
    ]
    result = score(pred, gold)
    # Disease: gold 3 + 1, predicted 2 + 1, tp 2; Chemical: gold 1, predicted 2, tp 1
    assert (result["tp"], result["n_pred"], result["n_gold"]) == (3, 5, 5)
    assert result["precision"] == result["recall"] == result["f1"] == 0.6
    disease, chemical = result["per_type"]["Disease"], result["per_type"]["Chemical"]
    assert (disease["support"], disease["predicted"], disease["tp"]) == (4, 3, 2)
    assert (disease["precision"], disease["recall"]) == (2 / 3, 0.5)
    assert close(disease["f1"], 4 / 7)
    assert (chemical["support"], chemical["predicted"], chemical["tp"]) == (1, 2, 1)
    assert (chemical["precision"], chemical["recall"]) == (0.5, 1.0)
    assert close(chemical["f1"], 2 / 3)
    assert close(result["macro_f1"], (4 / 7 + 2 / 3) / 2)
    assert list(result["per_type"]) == ["Chemical", "Disease"]
    # "breast" as Chemical overlaps two diseases of other spans; (8, 12) in unit 2 touches
    # nothing; unit 3's disease has no prediction; (9, 22) in unit 0 is overlapped, not missed.
    assert result["errors"] == {"type": 0, "boundary": 0, "overlap": 1, "spurious": 1, "missed": 1}
    assert all(type(result[k]) is float for k in ("precision", "recall", "f1", "macro_f1"))


def test_units_are_matched_by_position():
    result = score([[ent(0, 4)], []], [[], [ent(0, 4)]])
    assert (result["tp"], result["f1"]) == (0, 0.0)
    assert result["errors"] == {"type": 0, "boundary": 0, "overlap": 0, "spurious": 1, "missed": 1}


@pytest.mark.parametrize(
    ("gold", "predicted", "kind"),
    [
        ([ent(0, 5, "A")], ent(0, 5, "B"), "type"),
        # same span as a B and overlapping an A: the span was found, the label is wrong
        ([ent(0, 5, "B"), ent(0, 8, "A")], ent(0, 5, "A"), "type"),
        ([ent(0, 5, "A")], ent(0, 4, "A"), "boundary"),
        ([ent(0, 5, "A")], ent(1, 3, "A"), "boundary"),  # nested inside the gold entity
        ([ent(2, 5, "A")], ent(0, 9, "A"), "boundary"),  # containing it
        ([ent(0, 5, "A"), ent(3, 9, "B")], ent(2, 8, "A"), "boundary"),  # beats overlap
        ([ent(0, 5, "B")], ent(2, 8, "A"), "overlap"),
        ([ent(0, 9, "B")], ent(2, 4, "A"), "overlap"),  # nested in another type
        ([ent(0, 5, "A")], ent(5, 9, "A"), "spurious"),  # end is exclusive: adjacent only
        ([], ent(0, 1, "A"), "spurious"),
    ],
)
def test_each_false_positive_gets_the_first_kind_that_applies(gold, predicted, kind):
    errors = score([[predicted, predicted]], [gold])["errors"]
    expected = dict.fromkeys(["type", "boundary", "overlap", "spurious"], 0)
    expected[kind] = 1  # a duplicate false positive counts once
    assert {k: v for k, v in errors.items() if k != "missed"} == expected


def test_missed_means_no_overlapping_prediction():
    gold = [[ent(0, 5, "A"), ent(10, 15, "A"), ent(20, 25, "A")]]
    pred = [[ent(4, 7, "B"), ent(15, 18, "A")]]  # touches the first, only abuts the second
    result = score(pred, gold)
    assert result["errors"]["missed"] == 2
    assert result["errors"]["overlap"] == 1
    assert result["errors"]["spurious"] == 1


def test_every_kind_at_once_and_the_table():
    gold = [[ent(0, 5, "A"), ent(10, 15, "A"), ent(20, 25, "B"), ent(40, 45, "A")]]
    pred = [[ent(0, 5, "B"), ent(10, 14, "A"), ent(21, 24, "A"), ent(30, 35, "A")]]
    result = score(pred, gold)
    assert result["errors"] == {"type": 1, "boundary": 1, "overlap": 1, "spurious": 1, "missed": 1}
    table = format_table(result)
    lines = table.splitlines()
    assert lines[0].split() == ["type", "precision", "recall", "f1", "support", "predicted", "tp"]
    assert lines[1].split() == ["A", "0.0000", "0.0000", "0.0000", "3", "3", "0"]
    assert lines[2].split() == ["B", "0.0000", "0.0000", "0.0000", "1", "1", "0"]
    assert "micro" in table and "macro F1" in table
    assert "false positives: type 1, boundary 1, overlap 1, spurious 1" in table
    assert lines[-1].endswith(": 1")


def test_zero_denominators_give_zero_not_nan():
    empty = score([[], []], [[], []])
    assert [empty[k] for k in ("precision", "recall", "f1", "macro_f1")] == [0.0] * 4
    assert empty["per_type"] == {}
    only_pred = score([[ent(0, 1)]], [[]])
    assert (only_pred["precision"], only_pred["recall"], only_pred["macro_f1"]) == (0, 0, 0)
    assert only_pred["per_type"]["Disease"]["support"] == 0
    only_gold = score([[]], [[ent(0, 1)]])
    assert (only_gold["precision"], only_gold["recall"], only_gold["f1"]) == (0, 0, 0)
    perfect = score([[ent(0, 1)]], [[ent(0, 1)]])
    assert (perfect["precision"], perfect["recall"], perfect["f1"], perfect["macro_f1"]) == (
        1.0, 1.0, 1.0, 1.0,
    )  # fmt: skip


def test_other_keys_are_ignored_and_numpy_ints_accepted():
    np = pytest.importorskip("numpy")
    pred = [[{"start": np.int64(3), "end": np.int32(9), "type": "A", "text": "x", "score": 0.3}]]
    assert score(pred, [[ent(3, 9, "A")]])["f1"] == 1.0


@pytest.mark.parametrize(
    ("pred", "gold", "message"),
    [
        ([[]], [[], []], r"predictions has 1 units but references has 2"),
        ([[], [], []], [[]], r"predictions has 3 units but references has 1"),
        ([[{"start": 0, "type": "A"}]], [[]], r"predictions\[0\]\[0\]: .*missing end"),
        ([[]], [[ent(0, 1), {"end": 2}]], r"references\[0\]\[1\]: .*missing start, type"),
        ([[], [ent(0, 1), ent(3, 3)]], [[], []], r"predictions\[1\]\[1\]: .*0 <= start < end"),
        ([[ent(5, 2)]], [[]], r"predictions\[0\]\[0\]: .*start=5, end=2"),
        ([[ent(-1, 2)]], [[]], r"predictions\[0\]\[0\]: .*start=-1"),
        ([[ent(0.0, 2)]], [[]], r"predictions\[0\]\[0\]: needs integers"),
        ([[ent(True, 2)]], [[]], r"predictions\[0\]\[0\]: needs integers"),
        ([[]], [[], ent(0, 2)], r"units but"),
        ([[], []], [[], [ent(0, 2, "")]], r"references\[1\]\[0\]: type must be a non-empty"),
        ([[ent(0, 2, None)]], [[]], r"predictions\[0\]\[0\]: type must be"),
        ([None], [[]], r"predictions\[0\]: expected a list of entities"),
        ([["A"]], [[]], r"predictions\[0\]\[0\]: an entity must be a dict"),
    ],
)
def test_bad_input_names_the_unit_and_entity(pred, gold, message):
    with pytest.raises(BioNerInputError, match=message):
        score(pred, gold)


# ----------------------------------------------------------------------- the evaluate module


def test_evaluate_module_loads_offline_and_equals_score(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import evaluate

    # evaluate reads the variable when first imported, which may have been before this test
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.chdir(REPO)
    metric = evaluate.load("metrics/nested_ner_f1", cache_dir=str(tmp_path / "cache"))
    assert metric.name == "nested_ner_f1"
    assert "pip install" not in metric.description and metric.citation.startswith("@article")
    gold = [[ent(0, 22), ent(9, 22), ent(16, 22)], [], [ent(2, 6, "Chemical")], [ent(0, 4)]]
    pred = [[ent(0, 22), ent(9, 15, "Chemical")], [ent(1, 3, "X")], [ent(2, 6, "Chemical")], []]
    expected = score(pred, gold)
    assert expected["f1"] not in (0.0, 1.0)
    assert metric.compute(predictions=pred, references=gold) == expected
    # batches add up to the same result as one call
    metric.add_batch(predictions=pred[:2], references=gold[:2])
    metric.add_batch(predictions=pred[2:], references=gold[2:])
    assert metric.compute() == expected


def test_evaluate_module_without_hf_bioner_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "hf_bioner.scoring", None)  # makes the import fail
    spec = importlib.util.spec_from_file_location("nested_ner_f1", METRIC_DIR / "nested_ner_f1.py")
    with pytest.raises(ImportError, match="pip install hf-bioner"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_metric_card_has_the_evaluate_sections():
    card = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    header = card.split("---")[1]
    for key in ("title:", "tags:", "description:"):
        assert key in header
    for section in (
        "## Metric Description",
        "## How to Use",
        "### Inputs",
        "### Output Values",
        "## Limitations",
        "## Citation",
    ):
        assert section in card


# ------------------------------------------------------------------ agreement with seqeval

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, entities: list[dict]) -> list[tuple[int, int]]:
    """Token (start, end) spans such that every entity boundary is a token boundary."""
    cuts = {e["start"] for e in entities} | {e["end"] for e in entities}
    spans = []
    for match in _TOKEN.finditer(text):
        start = match.start()
        for cut in sorted(c for c in cuts if match.start() < c < match.end()):
            spans.append((start, cut))
            start = cut
        spans.append((start, match.end()))
    return spans


def to_iob2(n_tokens: int, mentions: list[tuple[int, int, str]]) -> list[str]:
    """IOB2 tags of non-overlapping token-index mentions (first, last + 1, type)."""
    tags = ["O"] * n_tokens
    for first, stop, type_ in mentions:
        assert all(t == "O" for t in tags[first:stop]), "mentions overlap"
        tags[first:stop] = ["B-" + type_] + ["I-" + type_] * (stop - first - 1)
    return tags


def from_iob2(tokens: list[tuple[int, int]], tags: list[str]) -> list[dict]:
    """Character-span entities of an IOB2 sequence, read as seqeval's strict mode does for
    valid IOB2: an entity is a B- and the I- of the same type that follow it."""
    entities, current = [], None
    for (start, end), tag in zip(tokens, tags, strict=True):
        if tag.startswith("I-") and current and current["type"] == tag[2:]:
            current["end"] = end
            continue
        assert not tag.startswith("I-"), "invalid IOB2"
        if current:
            entities.append(current)
        current = {"start": start, "end": end, "type": tag[2:]} if tag.startswith("B-") else None
    if current:
        entities.append(current)
    return entities


def token_mentions(tokens, entities) -> list[tuple[int, int, str]]:
    first = {s: i for i, (s, _) in enumerate(tokens)}
    stop = {e: i + 1 for i, (_, e) in enumerate(tokens)}
    return sorted((first[e["start"]], stop[e["end"]], e["type"]) for e in entities)


def perturb(mentions, n_tokens, types, rng):
    """Predictions from gold: drop, retype, move either boundary by one token, add spurious
    mentions. The result never overlaps itself, so its IOB2 tags are valid."""
    taken = [False] * n_tokens
    for first, stop, _ in mentions:
        taken[first:stop] = [True] * (stop - first)
    out = []
    for first, stop, type_ in mentions:
        roll = rng.random()
        if roll < 0.1:  # drop
            taken[first:stop] = [False] * (stop - first)
            continue
        if roll < 0.2:  # another type
            type_ = rng.choice([t for t in types if t != type_])
        elif roll < 0.25 and first > 0 and not taken[first - 1]:  # start one token earlier
            first -= 1
            taken[first] = True
        elif roll < 0.3 and stop - first > 1:  # start one token later
            taken[first] = False
            first += 1
        elif roll < 0.35 and stop < n_tokens and not taken[stop]:  # end one token later
            taken[stop] = True
            stop += 1
        elif roll < 0.4 and stop - first > 1:  # end one token earlier
            stop -= 1
            taken[stop] = False
        out.append((first, stop, type_))
    for i in range(n_tokens):
        if not taken[i] and rng.random() < 0.02:  # spurious, one to three tokens
            stop = i + 1
            while stop < n_tokens and stop - i < rng.randint(1, 3) and not taken[stop]:
                stop += 1
            taken[i:stop] = [True] * (stop - i)
            out.append((i, stop, rng.choice(types)))
    return sorted(out)


def assert_same_as_seqeval(gold_tags, pred_tags, ours):
    """Micro and per-type P/R/F1 and supports equal seqeval strict IOB2, bit for bit."""
    args = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    report = classification_report(gold_tags, pred_tags, output_dict=True, **args)
    micro = report["micro avg"]
    assert (ours["precision"], ours["recall"], ours["f1"]) == (
        micro["precision"], micro["recall"], micro["f1-score"],
    )  # fmt: skip
    assert ours["n_gold"] == micro["support"]
    assert ours["precision"] == precision_score(gold_tags, pred_tags, **args)
    assert ours["recall"] == recall_score(gold_tags, pred_tags, **args)
    assert ours["f1"] == f1_score(gold_tags, pred_tags, **args)
    types = set(report) - {"micro avg", "macro avg", "weighted avg"}
    assert set(ours["per_type"]) == types
    for type_, s in ours["per_type"].items():
        theirs = report[type_]
        assert (s["precision"], s["recall"], s["f1"], s["support"]) == (
            theirs["precision"], theirs["recall"], theirs["f1-score"], theirs["support"],
        ), type_  # fmt: skip
    gold_types = sorted(t for t in types if report[t]["support"])
    if gold_types:
        expected_macro = sum(report[t]["f1-score"] for t in gold_types) / len(gold_types)
        assert ours["macro_f1"] == expected_macro
    else:
        assert ours["macro_f1"] == 0.0


@pytest.mark.corpora
@pytest.mark.parametrize(("name", "seed"), [("ncbi_disease", 13), ("jnlpba", 7)])
def test_equals_seqeval_on_perturbed_test_sets(name, seed, corpora_dir):
    from hf_bioner.corpora import load_corpus

    rng = random.Random(seed)
    records = load_corpus(name, "test", data_dir=corpora_dir).to_list()
    assert len(records) > 500
    types = sorted({e["type"] for r in records for e in r["entities"]}) + ["Decoy"]
    gold_tags, pred_tags, golds, preds = [], [], [], []
    for record in records:
        tokens = tokenize(record["text"], record["entities"])
        gold_mentions = token_mentions(tokens, record["entities"])
        gold = to_iob2(len(tokens), gold_mentions)
        pred = to_iob2(len(tokens), perturb(gold_mentions, len(tokens), types, rng))
        gold_tags.append(gold)
        pred_tags.append(pred)
        golds.append(from_iob2(tokens, gold))
        preds.append(from_iob2(tokens, pred))
        # the token view loses nothing: gold read back from IOB2 is the corpus's own
        assert sorted((e["start"], e["end"], e["type"]) for e in golds[-1]) == sorted(
            (e["start"], e["end"], e["type"]) for e in record["entities"]
        )
    ours = score(preds, golds)
    assert 0.5 < ours["f1"] < 0.9  # the perturbations really changed things
    assert ours["per_type"]["Decoy"]["predicted"] > 0
    errors = ours["errors"]
    assert min(errors["type"], errors["boundary"], errors["spurious"], errors["missed"]) > 0
    assert_same_as_seqeval(gold_tags, pred_tags, ours)


_TAGS = st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), min_size=1, max_size=30)


def _valid(tags):
    """Repair a random tag list into valid IOB2 (an I- not after its own type becomes B-)."""
    out = []
    for tag in tags:
        if tag.startswith("I-") and (not out or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


# seqeval's own "macro avg" over no types at all warns (mean of an empty array)
@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TAGS, _TAGS), min_size=1, max_size=5))
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
    assert_same_as_seqeval(gold_tags, pred_tags, score(preds, golds))


_SPAN = st.tuples(st.integers(0, 12), st.integers(1, 6), st.sampled_from("AB")).map(
    lambda t: ent(t[0], t[0] + t[1], t[2])
)
_UNITS = st.lists(st.lists(_SPAN, max_size=6), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(_UNITS, _UNITS, st.randoms(use_true_random=False))
def test_nested_spans_invariants(pred, gold, rnd):
    pred, gold = pred[: len(gold)], gold[: len(pred)]
    result = score(pred, gold)
    n_pred = sum(len({tuple(e.values()) for e in u}) for u in pred)
    n_gold = sum(len({tuple(e.values()) for e in u}) for u in gold)
    assert (result["n_pred"], result["n_gold"]) == (n_pred, n_gold)
    errors = result["errors"]
    assert errors["type"] + errors["boundary"] + errors["overlap"] + errors["spurious"] == (
        n_pred - result["tp"]
    )
    assert errors["missed"] <= n_gold - result["tp"]
    assert sum(s["tp"] for s in result["per_type"].values()) == result["tp"]
    # order and repetition inside a unit do not matter
    shuffled = [rnd.sample(u + u[:1], len(u) + min(1, len(u))) for u in pred]
    assert score(shuffled, gold) == result
    # gold against itself is perfect whenever there is anything to find
    if n_gold:
        assert score(gold, gold)["f1"] == score(gold, gold)["macro_f1"] == 1.0
        assert score(gold, gold)["errors"] == dict.fromkeys(errors, 0)
