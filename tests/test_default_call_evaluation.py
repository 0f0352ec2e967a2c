"""The default call's evaluation: whole documents, scored on the corpus's types, resumable."""

from __future__ import annotations

import json
import sys

import pytest

from hf_bioner.formats import read_jsonl
from hf_bioner.sentences import sentence_spans
from tests.conftest import FIXTURE_CORPORA, REPO
from tests.known_answers import whole_sentence_tagger

sys.path.insert(0, str(REPO / "benchmarks"))
import common  # noqa: E402
import default_call_evaluation  # noqa: E402


@pytest.fixture(scope="module")
def known_model(tiny_base, tmp_path_factory):
    """A model that tags every sentence whole (tests/known_answers.py): known entities."""
    return whole_sentence_tagger(tmp_path_factory.mktemp("known"), tiny_base)


def run(monkeypatch, tmp_path, model: str, *options: str) -> dict:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setenv("HF_BIONER_CACHE", str(tmp_path / "cache"))
    argv = ["default_call_evaluation.py", "--model", model, "--name", "known", "--corpora",
            "ncbi_disease", "--data-dir", str(FIXTURE_CORPORA), *options]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    default_call_evaluation.main()
    return json.loads((tmp_path / "results/default_call_known-ncbi_disease.json").read_text())


def test_whole_documents_are_tagged_and_a_cut_short_run_continues(known_model, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    first = run(monkeypatch, tmp_path, known_model)
    predictions = tmp_path / "cache/predictions/default-call_known-ncbi_disease.jsonl"
    rows = read_jsonl(predictions)
    docs = {
        d["id"]: d
        for d in default_call_evaluation.documents("ncbi_disease", str(FIXTURE_CORPORA), None)[0]
    }
    assert [r["id"] for r in rows] == list(docs) and len(rows) == 2  # the fixture's test split
    data = first["data"]["ncbi_disease"]
    assert data["documents"] == data["documents_in_split"] == 2 and "sample" not in data
    # The pipeline split each document into sentences and the model tagged each one whole.
    for row in rows:
        text = docs[row["id"]]["text"]
        sentences = [text[s:e] for s, e in sentence_spans(text, "en")]
        assert len(sentences) > 1  # a document, not a sentence
        assert [e["word"] for e in row["entities"]] == sentences
    assert (first["precision"], first["recall"], first["documents_cut"]) == (0.0, 0.0, 0)

    # A run killed while writing its second document: the first row holds the first mention
    # of each gold name (no tagging by this model gives them), then half a line. Each of
    # those names recurs, as whole words, only where the gold tags it, and never twice in
    # one sentence (checked by hand: 9 names, 17 mentions, CT 5 times, WD 3, three names
    # twice), so propagating the names gives back every gold mention.
    first_id, second_id = list(docs)
    firsts = {}
    for e in docs[first_id]["entities"]:
        firsts.setdefault(e["text"], e)
    gold = [{"entity_group": e["type"], "start": e["start"], "end": e["end"], "word": e["text"],
             "score": None} for e in firsts.values()]  # fmt: skip
    assert (len(gold), len(docs[first_id]["entities"])) == (9, 17)
    saved = {"id": first_id, "entities": gold, "incomplete": []}
    half = predictions.read_text(encoding="utf-8").splitlines()[1][:20]
    predictions.write_text(json.dumps(saved) + "\n" + half, encoding="utf-8")
    second = run(monkeypatch, tmp_path, known_model, "--resume")
    again = read_jsonl(predictions)
    assert again[0] == saved  # kept, not tagged again
    assert [r["id"] for r in again] == [first_id, second_id]
    assert again[1]["entities"] == rows[1]["entities"]  # tagged again, whole sentences
    # tp: the first document's gold (all 17 with the names propagated, as the call does;
    # the 9 saved without); fp: the second's sentences; fn: the second's gold, and without
    # propagation the first's 8 other mentions.
    fp, fn = len(rows[1]["entities"]), len(docs[second_id]["entities"])
    assert second["precision"] == pytest.approx(17 / (17 + fp))
    assert second["recall"] == pytest.approx(17 / (17 + fn))
    plain = second["without_propagation"]
    assert plain["precision"] == pytest.approx(9 / (9 + fp))
    assert plain["recall"] == pytest.approx(9 / (9 + 8 + fn))

    # Another call resumed into the same file stops, naming it; under its own name it runs
    # and says which call it was (CMeEE's set alone: English sentences get CMeEE's type).
    with pytest.raises(SystemExit, match="tagged with another call"):
        run(monkeypatch, tmp_path, known_model, "--resume", "--prompt-corpora", "cmeee")
    assert read_jsonl(predictions) == again  # nothing written
    monkeypatch.setattr(sys, "argv", [*sys.argv[:4], "cmeee-only", *sys.argv[5:]])
    default_call_evaluation.main()
    other = json.loads((tmp_path / "results/default_call_cmeee-only-ncbi_disease.json").read_text())
    assert "corpus=['cmeee']" in other["call"]
    rows = read_jsonl(tmp_path / "cache/predictions/default-call_cmeee-only-ncbi_disease.jsonl")
    assert {e["entity_group"] for r in rows for e in r["entities"]} == {"sym"}


def test_names_propagated_when_scored_are_those_the_pipeline_propagates(known_model):
    """The script tags with propagation off and propagates when it scores: the same entities
    as the call with it on. The known model tags each sentence whole; a sentence whose answer
    runs out of tokens finds nothing and gets the copies (the last text's second sentence)."""
    import warnings

    from transformers import pipeline

    from hf_bioner.pipeline import CUT_WARNING

    docs = default_call_evaluation.documents("ncbi_disease", str(FIXTURE_CORPORA), None)[0]
    texts = [d["text"] for d in docs] + [
        "Ataxia is rare. Many reviews written over the last thirty years, in journals of "
        "neurology, genetics and general medicine, have repeated that Ataxia is rare."
    ]
    tagger = pipeline("bio-ner", model=known_model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", CUT_WARNING)
        saved = tagger(texts, max_new_tokens=24, propagate_mentions=False)
        called = tagger(texts, max_new_tokens=24)
    scored = [
        default_call_evaluation.propagated({"text": text}, entities)
        for text, entities in zip(texts, saved, strict=True)
    ]
    assert scored == called
    assert len(called[-1]) == len(saved[-1]) + 1  # a copy was made
