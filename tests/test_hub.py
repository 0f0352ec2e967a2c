"""Publishing: the repository folder a Hub user downloads works on its own, card included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURE_CORPORA, REPO
from tests.known_answers import whole_sentence_tagger

RESULTS = REPO / "benchmarks" / "results"


def test_pushed_folder_loads_with_trust_remote_code_in_a_fresh_process(tiny_base, tmp_path):
    from hf_bioner.selector import EntitySelector, SelectorConfig

    # A LoRA adapter that tags every sentence whole (tests/known_answers.py), merged on push.
    model = Path(whole_sentence_tagger(tmp_path / "known", tiny_base))
    selector = EntitySelector(SelectorConfig(backbone=tiny_base, lora_r=2, embedding_dim=8))
    selector.config.threshold = 0.0  # keep every entity: this checks scores are attached
    selector.save(model / "selector")
    results = RESULTS / "eval_gemma-joint-inline.json"
    repo = tmp_path / "repo"
    push = subprocess.run(
        [sys.executable, "-m", "hf_bioner.cli", "push", str(model), "--repo-id", "org/tiny-bioner",
         "--local-dir", str(repo), "--results", str(results), "--dtype", "float32"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert push.returncode == 0, push.stderr[-2000:]
    files = {p.name for p in repo.iterdir()}
    assert {"README.md", "config.json", "bioner_pipeline.py", "hf_bioner_config.json",
            "model.safetensors", "tokenizer.json", "selector"} <= files  # fmt: skip
    assert "adapter_config.json" not in files  # merged: no base model needed
    config = json.loads((repo / "config.json").read_text())
    assert config["custom_pipelines"]["bio-ner"]["impl"] == "bioner_pipeline.BioNerPipeline"

    from huggingface_hub import ModelCard

    card = ModelCard.load(repo / "README.md")
    assert card.data.pipeline_tag == "token-classification" and "zh" in card.data.language
    # The results are on 40 sampled sentences of each split: the model-index names say so.
    ncbi = [r for r in card.data.eval_results if r.dataset_type == "ncbi/ncbi_disease"]
    sample = "NCBI-disease (40 of 878 test sentences, seeded sample)"
    assert {(r.dataset_name, r.dataset_split) for r in ncbi} == {(sample, "test")}
    saved = json.loads(results.read_text())
    f1 = saved["decodings"]["constrained"]["corpora"]["ncbi_disease"]["f1"]
    assert [r.metric_value for r in ncbi if r.metric_type == "f1"] == [round(f1, 4)]
    assert "trust_remote_code=True" in card.text
    assert "| NCBI-disease | test | 40 of 878 |" in card.text
    # The types the model knows, with readable names and meanings.
    for row in ("| `Disease` | Disease | disease, disorder or syndrome | NCBI-disease | en |",
                "| `dis` | Disease (疾病) | disease, syndrome or injury | CMeEE | zh |"):  # fmt: skip
        assert row in card.text

    # A fresh interpreter, hf_bioner not imported by us: transformers runs the repo's code.
    code = (
        "import json, sys\n"
        "from transformers import pipeline\n"
        "assert 'hf_bioner' not in sys.modules\n"
        f"p = pipeline('bio-ner', model={str(repo)!r}, trust_remote_code=True)\n"
        "print(type(p).__module__, json.dumps(p('BRCA1 mutations cause breast cancer. "
        "患者有糖尿病。', max_new_tokens=64)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    module, printed = run.stdout.strip().splitlines()[-1].split(" ", 1)
    assert "bioner_pipeline" in module
    entities = json.loads(printed)
    # Both sentences, whole, each scored by the selector (threshold 0 keeps them).
    assert [(e["start"], e["end"], e["word"]) for e in entities] == [
        (0, 36, "BRCA1 mutations cause breast cancer."), (37, 44, "患者有糖尿病。")
    ]  # fmt: skip
    # The known model's tags: Disease, NCBI-disease's one type; 临床表现 (sym) for every
    # CMeEE sentence (each token of a tag depends on the token before alone).
    assert [e["entity_group"] for e in entities] == ["Disease", "sym"]
    assert all(isinstance(e["score"], float) and 0 < e["score"] < 1 for e in entities)


def test_the_bundled_model_card_is_its_rendering_from_its_folder():
    """model_cards/bioner-gemma-270m.md cannot drift from the bundled model it describes, nor
    from its full-set results: the F1 of each corpus, without and with the selector, beside
    the paper's."""
    from hf_bioner.hub import (
        PAPER_F1,
        bundled_default_call_files,
        bundled_result_files,
        render_model_card,
    )
    from hf_bioner.pipeline import DEFAULT_MODEL

    evals, ablations = bundled_result_files(RESULTS)
    assert len(evals) == len(ablations) == 4  # one per corpus, each a full evaluation set
    default_calls = bundled_default_call_files(RESULTS)
    rendered = render_model_card(DEFAULT_MODEL, "hf-bioner/bioner-gemma-270m", evals, ablations,
                                 default_calls)  # fmt: skip
    card = (REPO / "model_cards" / "bioner-gemma-270m.md").read_text(encoding="utf-8")
    assert card == rendered, "model card out of date: run python -m hf_bioner.hub"
    assert "A contrastive entity selector scores each entity" in card
    for path, ablation_path in zip(evals, ablations, strict=True):
        result, ablation = json.loads(path.read_text()), json.loads(ablation_path.read_text())
        ((corpus, sizes),) = result["data"].items()
        assert sizes["units"] == sizes["units_in_split"]  # the whole split
        f1 = result["f1"]
        selected = ablation["corpora"][corpus]["with"]["f1"]
        assert f"| {sizes['units']} | {100 * result['precision']:.2f} |" in card
        assert f"| {100 * f1:.2f} | {100 * selected:.2f} | {PAPER_F1[corpus]} |" in card
    # The training read from training_summary.json: LoRA r64 over the four training sets, in
    # two passes (the second continued the first's adapter over every training sentence; one
    # of its sessions was stopped before it saved its time, so the time is a lower bound).
    assert "LoRA (r=64, alpha=64)" in card
    assert ("- first: data mix (training sentences taken per corpus) NCBI-disease 5154, "
            "BC5CDR 4514, JNLPBA 5200, CMeEE 5200, steps 2509,") in card  # fmt: skip
    assert ("- then, continuing that adapter: data mix (training sentences taken per corpus) "
            "NCBI-disease 5154, BC5CDR 4514, JNLPBA 16544, CMeEE 14927, steps 5143,") in card  # fmt: skip
    assert "learning rate 5e-05, at least 108 minutes of training" in card
    for code in ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"):
        assert f"| `{code}` |" in card
    # The default call on whole documents, a table of its own, every document of the four
    # evaluation sets (default_call_gemma-joint-r64-pass2-<corpus>.json), none cut, with names
    # propagated to their other sentences and without, beside the per-corpus F1 with the
    # selector (NCBI-disease: 0.70 below its 85.14, 2.33 below without propagation; BC5CDR
    # 1.49 above), in the usual corpus order.
    assert "### The default call on whole documents" in card
    table = card[card.index("### The default call on whole documents") :]
    assert [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")][1:] == [
        "| NCBI-disease", "| BC5CDR", "| JNLPBA", "| CMeEE"
    ]  # fmt: skip
    assert (
        "| NCBI-disease | test | 100 | 85.81 | 83.12 | 84.44 | 82.81 | 0 | 85.14 | -0.70 |" in card
    )
    assert "| BC5CDR | test | 500 | 86.20 | 84.47 | 85.33 | 84.03 | 0 | 83.84 | +1.49 |" in card
    assert "| CMeEE | dev | 5000 | 62.05 | 55.34 | 58.51 | 58.51 | 0 | 58.44 | +0.07 |" in card


def test_a_card_merges_results_evaluated_one_corpus_per_run():
    """Full-set evaluations run corpus by corpus; the card reads them together."""
    from huggingface_hub import ModelCard

    from hf_bioner.hub import render_model_card
    from hf_bioner.pipeline import DEFAULT_MODEL

    files = [
        RESULTS / "eval_gemma-ncbi-inline-200.json",
        RESULTS / "eval_gemma-cmeee-inline-200.json",
    ]
    card = ModelCard(render_model_card(DEFAULT_MODEL, "org/model", files))
    saved = [json.loads(f.read_text()) for f in files]
    for result, (corpus, name) in zip(
        saved, [("ncbi_disease", "NCBI-disease"), ("cmeee", "CMeEE")], strict=True
    ):
        f1 = result["decodings"][result["main_decoding"]]["corpora"][corpus]["f1"]
        row = f"| {name} | {result['data'][corpus]['split']} | 200 of "
        assert row in card.text and f"| {100 * f1:.2f} |" in card.text
        assert round(f1, 4) in [
            r.metric_value for r in card.data.eval_results if r.metric_type == "f1"
        ]
        assert result["command"] in card.text  # each run's command is named
    assert "eval_gemma-ncbi-inline-200.json, eval_gemma-cmeee-inline-200.json" in card.text


def test_the_readme_lists_every_type_with_its_meaning():
    from hf_bioner.hub import known_types_table
    from hf_bioner.schema import READABLE_TYPE_NAMES, TYPE_SETS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert known_types_table() in readme
    codes = {t.label for types in TYPE_SETS.values() for t in types.types}
    assert codes == set(READABLE_TYPE_NAMES)
    assert "| `dru` | Drug (药物) | drug or vaccine | CMeEE, CMeEE-V2 | zh |" in readme


def test_training_time_adds_the_runs_of_a_resumed_training():
    from hf_bioner.hub import training_seconds

    # Logged every 10 steps; the clock restarts when step 30 resumes from checkpoint-20.
    log = [{"step": 10, "loss": 1.0, "train_runtime": 50.0},
           {"step": 20, "loss": 0.9, "train_runtime": 100.0},
           {"step": 30, "loss": 0.8, "train_runtime": 40.0},
           {"step": 40, "loss": 0.7, "train_runtime": 90.0},
           {"step": 40, "train_loss": 0.85, "train_runtime": 95.0}]  # fmt: skip
    assert training_seconds({"log_history": log}) == (195.0, [100.0, 95.0])
    assert training_seconds({"log_history": log[:2]}) == (100.0, [100.0])
    assert training_seconds({"seconds": 12.5}) == (12.5, [12.5])
    # Recorded sessions win over the log; one killed before saving its time is left out.
    sessions = [{"train_seconds": 110.0}, {"train_seconds": None}, {"train_seconds": 20.0}]
    assert training_seconds({"sessions": sessions, "log_history": log}) == (130.0, [110.0, 20.0])


def test_corpus_push_local_dir_writes_parquet_and_card(tmp_path):
    out = tmp_path / "ds"
    result = subprocess.run(
        [sys.executable, "-m", "hf_bioner.cli", "corpora", "push", "ncbi_disease",
         "--local-dir", str(out), "--data-dir", str(FIXTURE_CORPORA)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    from datasets import load_dataset

    assert (out / "README.md").exists()
    train = load_dataset("parquet", data_files=str(next(out.rglob("train*.parquet"))))["train"]
    assert len(train) == 25  # the fixture's training sentences (--unit sentence)
    assert {"text", "entities"} <= set(train.column_names)
    missing = subprocess.run([sys.executable, "-m", "hf_bioner.cli", "corpora", "push",
                              "ncbi_disease"], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert missing.returncode == 2 and "--repo-id" in missing.stderr
