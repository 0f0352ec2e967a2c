"""The evaluation benchmark: a full-set evaluation cut short continues where it stopped."""

from __future__ import annotations

import json
import sys

from hf_bioner.device import bf16_is_fast
from hf_bioner.formats import read_jsonl
from hf_bioner.scoring import score
from tests.conftest import FIXTURE_CORPORA, REPO

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


def test_a_cut_short_evaluation_reuses_what_it_tagged(tiny_model, tmp_path, monkeypatch):
    predictions = tmp_path / "predictions.jsonl"
    first = run_evaluation(monkeypatch, tmp_path, tiny_model, predictions)
    rows = read_jsonl(predictions)
    assert len(rows) == 3 and first["data"]["ncbi_disease"]["units"] == 3
    # --step-dtype auto: the pipeline's choice on this machine, recorded per row and overall.
    steps = "bfloat16" if bf16_is_fast(False) else "float32"  # the tiny model is fp32
    assert {r["step_dtype"] for r in rows} == {steps} and first["step_dtype"] == [steps]

    # A run killed while writing its second row: one whole row, then half a line.
    lines = predictions.read_text(encoding="utf-8").splitlines(keepends=True)
    predictions.write_text(lines[0] + lines[1][:20], encoding="utf-8")
    second = run_evaluation(monkeypatch, tmp_path, tiny_model, predictions)
    again = read_jsonl(predictions)
    assert [r["id"] for r in again] == [r["id"] for r in rows]  # the same units, in order
    reused = next(r for r in again if r["id"] == json.loads(lines[0])["id"])
    assert reused == json.loads(lines[0])  # not tagged again: its measured seconds are kept
    # The scores are those of the saved rows.
    scores = score([r["predicted"] for r in again], [r["entities"] for r in again])
    corpus = second["decodings"]["constrained"]["corpora"]["ncbi_disease"]
    assert (corpus["precision"], corpus["recall"], corpus["f1"]) == (
        scores["precision"], scores["recall"], scores["f1"]
    )  # fmt: skip
