"""Mention propagation (hf_bioner.propagation): a name tagged in one sentence is tagged where
it recurs in the text's other sentences, and nowhere else."""

from __future__ import annotations

import warnings

import pytest

from hf_bioner.pipeline import CUT_WARNING, sentence_pieces
from hf_bioner.propagation import propagate_mentions


def entity(text: str, name: str, kind: str = "Disease", score: float | None = 0.9,
           occurrence: int = 0) -> dict:  # fmt: skip
    """The pipeline entity of the ``occurrence``-th ``name`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(name, start + 1)
    return {"entity_group": kind, "start": start, "end": start + len(name), "word": name,
            "score": score}  # fmt: skip


def test_a_name_tagged_once_is_tagged_in_the_other_sentences_only():
    text = (
        "Wilson disease (WD) is rare. In WD, copper builds up. WD and WD-like cases, "
        "and Wilson disease, differ."
    )
    sentences = sentence_pieces(text)
    assert len(sentences) == 3
    found = [entity(text, "Wilson disease"), entity(text, "WD", score=0.7)]
    result = propagate_mentions(text, found, sentences)
    added = [e for e in result if e not in found]
    # "WD" in the second and third sentences (not "WD-like": a hyphen is no letter, so it
    # is a whole word too), and "Wilson disease" in the third.
    assert [(text[e["start"] : e["end"]], e["start"]) for e in added] == [
        ("WD", 32),
        ("WD", 54),
        ("WD", 61),
        ("Wilson disease", 80),
    ]
    assert all(e["entity_group"] == "Disease" for e in added)
    assert [e["score"] for e in added] == [0.7, 0.7, 0.7, 0.9]  # the name's best score
    assert result == sorted(result, key=lambda e: (e["start"], -e["end"], e["entity_group"]))


def test_nothing_is_added_within_a_sentence_that_tagged_the_name():
    text = "Ataxia and ataxia-like ataxia. Then ataxia again."
    found = [entity(text, "ataxia", occurrence=1)]  # "ataxia" after "-like": not its first
    result = propagate_mentions(text, found, sentence_pieces(text))
    # Its other occurrence in the first sentence stays untagged (the model saw it); the
    # second sentence's is tagged; "Ataxia" (another case) is another name.
    assert [(e["start"], e["end"]) for e in result] == [(23, 29), (36, 42)]


def test_names_with_two_types_short_names_words_inside_words_and_overlaps_are_left():
    text = "EGF binds EGFR. EGF rose. CD4 was low. The EGFR gene. T cells, cd4 T. A T."
    found = [
        entity(text, "EGF", "protein"),
        entity(text, "EGF", "DNA", occurrence=1),  # two types: not copied
        entity(text, "EGFR gene", "DNA"),  # "EGFR" inside it overlaps: nothing added
        entity(text, "EGFR", "protein"),
        entity(text, "T", "cell_type"),  # one character: too short
        entity(text, "CD4", "protein"),
    ]
    result = propagate_mentions(text, found, sentence_pieces(text))
    assert result == sorted(found, key=lambda e: (e["start"], -e["end"], e["entity_group"]))


def test_chinese_text_has_no_word_boundaries_to_copy_at():
    text = "患者有糖尿病。其母亦有糖尿病。糖尿病，"
    found = [entity(text, "糖尿病", "dis")]
    result = propagate_mentions(text, found, sentence_pieces(text))
    # Inside the second sentence the name touches Chinese letters; in the third it begins it
    # and a comma follows, so it is a whole word there.
    assert [(e["start"], e["end"]) for e in result] == [(3, 6), (15, 18)]


@pytest.fixture(scope="module")
def known_tagger(tiny_base, tmp_path_factory):
    from transformers import pipeline

    from tests.known_answers import whole_sentence_tagger

    return pipeline("bio-ner", model=whole_sentence_tagger(tmp_path_factory.mktemp("k"), tiny_base))


def test_the_pipeline_propagates_into_a_sentence_whose_answer_found_nothing(known_tagger):
    """The known model tags each sentence whole; the long second sentence runs out of tokens
    (so its tag never closes and it finds nothing), and gets the first sentence's name."""
    text = (
        "Ataxia is rare. Many reviews written over the last thirty years, in journals of "
        "neurology, genetics and general medicine, have repeated that Ataxia is rare."
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", CUT_WARNING)
        plain = known_tagger(text, max_new_tokens=24, propagate_mentions=False)
        propagated = known_tagger(text, max_new_tokens=24)
    assert [(e["start"], e["end"]) for e in plain] == [(0, 15)]
    assert [(e["start"], e["end"], e["word"]) for e in propagated] == [
        (0, 15, "Ataxia is rare."),
        (len(text) - 15, len(text), "Ataxia is rare."),
    ]
    assert propagated[1]["entity_group"] == plain[0]["entity_group"]


def test_the_longer_of_two_names_is_copied_whatever_their_order():
    text = "Breast cancer was seen. The cancer grew. Breast cancer and cancer recur."
    long, short = entity(text, "Breast cancer"), entity(text, "cancer", occurrence=1)
    for found in ([long, short], [short, long]):
        result = propagate_mentions(text, found, sentence_pieces(text))
        # In the third sentence "Breast cancer" (41-54), then the lone "cancer" (59-65).
        assert [(e["start"], e["end"]) for e in result] == [(0, 13), (28, 34), (41, 54), (59, 65)]


def test_the_space_propagates_what_its_filters_show():
    """The Space tags once, without propagation, and filters in the page: a name is copied
    over an entity the score slider hides, and not over one it shows."""
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("space_app", REPO / "spaces" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    text = "Wilson disease is rare. Wilson disease was seen again."
    tagged = [entity(text, "Wilson disease"), entity(text, "disease was", score=0.1)]
    shown = app.visible(text, tagged, 0.5, ["Disease"])
    assert [(e["start"], e["end"], e["score"]) for e in shown] == [(0, 14, 0.9), (24, 38, 0.9)]
    assert app.visible(text, tagged, 0.0, ["Disease"]) == tagged  # the low one blocks the copy
    assert app.visible(text, tagged, 0.5, ["Chemical"]) == []
