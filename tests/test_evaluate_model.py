"""The evaluation benchmark: a full-set evaluation cut short continues where it stopped."""

from __future__ import annotations

import json
import sys

import pytest

from hf_bioner.device import bf16_is_fast, int8_is_fast
from hf_bioner.formats import read_jsonl
from tests.conftest import FIXTURE_CORPORA, REPO
from tests.known_answers import whole_sentence_tagger

sys.path.insert(0, str(REPO / "benchmarks"))
import common  # noqa: E402
import evaluate_model  # noqa: E402


def run_evaluation(monkeypatch, tmp_path, model: str, predictions) -> dict:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    argv = ["evaluate_model.py", model, "--name", "resumed", "--corpora", "ncbi_disease",
            "--limit", "3", "--decoding", "constrained", "--data-dir", str(FIXTURE_CORPORA),
            "--save-predictions", str(predictions), "--resume", "--batch-size", "2"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    evaluate_model.main()
    return json.loads((tmp_path / "results" / "eval_resumed.json").read_text())


@pytest.fixture(scope="module")
def known_model(tiny_base, tmp_path_factory):
    """A model that tags every sentence whole (tests/known_answers.py): known scores."""
    return whole_sentence_tagger(tmp_path_factory.mktemp("known"), tiny_base)


def test_a_cut_short_evaluation_reuses_what_it_tagged(known_model, tmp_path, monkeypatch):
    predictions = tmp_path / "predictions.jsonl"
    first = run_evaluation(monkeypatch, tmp_path, known_model, predictions)
    rows = read_jsonl(predictions)
    assert first["data"]["ncbi_disease"]["units"] == 3
    # The seeded sample of three test sentences, with 5, 3 and 2 gold entities. Each is
    # tagged whole, which no gold entity is: tp=0 of 3 predicted, 10 gold -> P=R=F1=0.
    assert [(r["id"], len(r["entities"])) for r in rows] == [
        ("ncbi_disease:test:9950360:1", 5),
        ("ncbi_disease:test:9950360:2", 3),
        ("ncbi_disease:test:9949209:1", 2),
    ]
    whole = [[{"start": 0, "end": len(r["text"]), "type": "Disease", "text": r["text"]}]
             for r in rows]  # fmt: skip
    assert [r["predicted"] for r in rows] == whole
    assert (first["precision"], first["recall"], first["f1"]) == (0.0, 0.0, 0.0)
    # --step-dtype auto: the pipeline's choice on this machine, recorded per row and overall.
    # The known model is fp32: bf16 steps with AMX, int8 projections with VNNI alone.
    steps = "bfloat16" if bf16_is_fast(False) else "qint8" if int8_is_fast(False) else "float32"
    assert {r["step_dtype"] for r in rows} == {steps} and first["step_dtype"] == [steps]

    # A run killed while writing its second row: one whole row, then half a line. The whole
    # row's predictions are its gold entities, as no tagging by this model would give.
    lines = predictions.read_text(encoding="utf-8").splitlines(keepends=True)
    saved = {**rows[0], "predicted": rows[0]["entities"]}
    predictions.write_text(json.dumps(saved, ensure_ascii=False) + "\n" + lines[1][:20],
                           encoding="utf-8")  # fmt: skip
    second = run_evaluation(monkeypatch, tmp_path, known_model, predictions)
    again = read_jsonl(predictions)
    assert [r["id"] for r in again] == [r["id"] for r in rows]  # the same units, in order
    assert again[0] == saved  # not tagged again: its measured seconds are kept
    assert [r["predicted"] for r in again[1:]] == whole[1:]  # the others tagged again
    # Scored as saved: tp=5 (the saved row), fp=2 (the two tagged whole), fn=3+2=5
    # -> P=5/7, R=5/10, F1=2*5/(7+10)=10/17.
    corpus = second["decodings"]["constrained"]["corpora"]["ncbi_disease"]
    expected = (pytest.approx(5 / 7), 0.5, pytest.approx(10 / 17))
    assert (corpus["precision"], corpus["recall"], corpus["f1"]) == expected
    assert (second["precision"], second["recall"], second["f1"]) == expected


def test_the_pipeline_and_predict_records_tag_alike(tiny_model):
    """Published figures come through the pipeline (common.tag_records); training's dev curve
    and the selector's negatives through predict_records: the same entities, unit for unit."""
    from hf_bioner.corpora import load_records
    from hf_bioner.inference import predict_records
    from hf_bioner.models import load_trained
    from hf_bioner.pipeline import BioNerPipeline

    records = (load_records("ncbi_disease", "test", FIXTURE_CORPORA)[:6]
               + load_records("cmeee", "dev", FIXTURE_CORPORA)[:6])  # fmt: skip
    model, tokenizer, config = load_trained(tiny_model, merge=True)
    direct = predict_records(model, tokenizer, records, "inline", batch_size=4, constrained=True,
                             prompt_style=config["prompt_style"])["predictions"]  # fmt: skip
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    results = common.tag_records(tagger, records, decode_batch_size=4, step_dtype="model")
    piped = [common.as_predictions(r["entities"]) for r in results]

    def spans(predictions):
        return [sorted((e["start"], e["end"], e["type"], e["text"]) for e in p)
                for p in predictions]  # fmt: skip

    assert spans(piped) == spans(direct)
    # The tiny model tags something in both languages, so the comparison is not of nothing.
    assert sum(map(len, piped[:6])) > 0 and sum(map(len, piped[6:])) > 0
