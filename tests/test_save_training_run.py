"""A training run's record: a run trained over several sessions keeps each one's figures."""

from __future__ import annotations

import json
import sys

from hf_bioner.training.records import join_sessions
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import common  # noqa: E402
import save_training_run  # noqa: E402


def session(first: int, last: int, tokens: int, seconds: float) -> dict:
    return {"steps": [first, last], "tokens": tokens, "train_seconds": seconds,
            "tokens_per_second": round(tokens / seconds, 1), "train_loss": 0.1,
            "machine": {"cpu": "test"}}  # fmt: skip


def summary(sessions: list[dict]) -> dict:
    """The parts of a ``training_summary.json`` the record reads."""
    last = sessions[-1]
    return {"config": {"base": "tiny", "scheme": "inline", "lora": False}, "data_mix": {},
            "train_rows": 10, "train_tokens": sum(s.get("tokens", 0) for s in sessions),
            "dev_sample": 4, "steps": last["steps"][1], "epochs": 1.0, "train_loss": 0.1,
            "train_seconds": last["train_seconds"], "tokens_per_second": last["tokens_per_second"],
            "sessions": sessions, "device": {}, "machine": {"cpu": "test"},
            "dev_f1_curve": [{"step": 100, "f1": 0.5, "precision": 0.5, "recall": 0.5}]}  # fmt: skip


def record_of(monkeypatch, tmp_path, run_summary: dict) -> dict:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    (tmp_path / "training_summary.json").write_text(json.dumps(run_summary))
    argv = ["save_training_run.py", str(tmp_path), "--name", "r", "--training-command", "train"]
    monkeypatch.setattr(sys, "argv", argv)
    save_training_run.main()
    return json.loads((tmp_path / "results" / "train_r.json").read_text())


def test_a_run_over_two_sessions_sums_their_time(monkeypatch, tmp_path):
    sessions = [session(0, 80, 8000, 40.0), session(80, 100, 1000, 20.0)]
    record = record_of(monkeypatch, tmp_path, summary(sessions))
    assert record["sessions"] == sessions
    assert record["train_seconds"] == 60.0 and record["tokens_per_second"] == 150.0


def test_a_session_killed_before_its_summary_is_a_gap_without_figures(monkeypatch, tmp_path):
    # The run's first session wrote its summary at step 80; the next was killed after saving
    # checkpoint-90; the one after resumed from there and finished at step 100.
    first = {**summary([session(0, 80, 8000, 40.0)]), "sessions": None}  # an older summary
    sessions = join_sessions(first, session(90, 100, 1000, 20.0))
    assert [s["steps"] for s in sessions] == [[0, 80], [80, 90], [90, 100]]
    assert sessions[1]["train_seconds"] is None
    record = record_of(monkeypatch, tmp_path, summary(sessions))
    # Time and speed cover the sessions that saved them: 9,000 tokens in 60 s.
    assert record["train_seconds"] == 60.0 and record["tokens_per_second"] == 150.0
