"""Choosing a run's adapter among its checkpoints, on text none of them learnt."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file

from hf_bioner.corpora import load_records
from hf_bioner.training import train
from tests.conftest import FIXTURE_CORPORA, REPO, tiny_config

sys.path.insert(0, str(REPO / "benchmarks"))
import choose_checkpoint  # noqa: E402
import common  # noqa: E402


def choose(monkeypatch, tmp_path, run, *options) -> dict:
    argv = ["choose_checkpoint.py", str(run), "--name", "tiny", "--per-corpus", "2",
            "--batch-size", "2", "--data-dir", str(FIXTURE_CORPORA), *options]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    choose_checkpoint.main()
    return json.loads((tmp_path / "results" / "checkpoint_choice_tiny.json").read_text())


def test_checkpoints_and_their_average_are_scored_on_held_out_text(
    tiny_base, tmp_path, monkeypatch
):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    train(tiny_config(tmp_path, tiny_base, cap=3, max_steps=2, save_steps=1, eval_size=0))
    first, last = (tmp_path / "checkpoints" / f"checkpoint-{n}" / "adapter_model.safetensors"
                   for n in (1, 2))  # fmt: skip
    result = choose(monkeypatch, tmp_path, tmp_path / "run", "--adapters", f"{first},{last}",
                    "--average", f"{first},{last}")  # fmt: skip

    candidates = result["candidates"]
    assert len(candidates) == 3
    # NCBI-disease is scored on dev, CMeEE on the training sentences the capped run left out.
    cmeee_train = load_records("cmeee", "train", FIXTURE_CORPORA)
    assert result["data"]["ncbi_disease"]["split"] == "dev"
    assert result["data"]["cmeee"] == {
        "split": "train",
        "held_out_units": len(cmeee_train) - 3,
        "units": 2,
    }
    best = max(candidates, key=lambda name: candidates[name]["mean_corpus_f1"])
    assert result["chosen"] == best and result["f1"] == candidates[best]["f1"]
    assert set(candidates[best]["corpus_f1"]) == {"ncbi_disease", "cmeee"}

    # The average is the mean of the two adapters, tensor by tensor.
    averaged = choose_checkpoint.average_adapters([first, last], tmp_path / "mean.safetensors")
    a, b, mean = load_file(first), load_file(last), load_file(averaged)
    assert set(mean) == set(a)
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2) for k in mean)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # two steps apart: not the same

    # Resumed with one more candidate: the scored ones are kept as they were.
    again = choose(monkeypatch, tmp_path, tmp_path / "run", "--adapters", f"{first}", "--resume")
    assert again["candidates"] == candidates

    # Choosing on corpora the run was not trained on is refused, naming them.
    with pytest.raises(SystemExit, match="not trained on jnlpba"):
        choose(monkeypatch, tmp_path, tmp_path / "run", "--adapters", f"{first}",
               "--corpora", "ncbi_disease,jnlpba")  # fmt: skip
