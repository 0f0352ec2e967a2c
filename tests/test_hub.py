"""Publishing: the repository folder a Hub user downloads works on its own, card included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import FIXTURE_CORPORA, REPO


def test_pushed_folder_loads_with_trust_remote_code_in_a_fresh_process(
    tiny_model, tiny_base, tmp_path
):
    from hf_bioner.selector import EntitySelector, SelectorConfig

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    selector = EntitySelector(SelectorConfig(backbone=tiny_base, lora_r=2, embedding_dim=8))
    selector.config.threshold = 0.0  # keep every entity: this checks scores are attached
    selector.save(model / "selector")
    results = REPO / "benchmarks" / "results" / "eval_gemma-joint-inline.json"
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
    ncbi = [r for r in card.data.eval_results if r.dataset_name == "NCBI-disease"]
    saved = json.loads(results.read_text())
    f1 = saved["decodings"]["constrained"]["corpora"]["ncbi_disease"]["f1"]
    assert [r.metric_value for r in ncbi if r.metric_type == "f1"] == [round(f1, 4)]
    assert "trust_remote_code=True" in card.text and "| NCBI-disease | test |" in card.text

    # A fresh interpreter, hf_bioner not imported by us: transformers runs the repo's code.
    code = (
        "import json, sys\n"
        "from transformers import pipeline\n"
        "assert 'hf_bioner' not in sys.modules\n"
        f"p = pipeline('bio-ner', model={str(repo)!r}, trust_remote_code=True)\n"
        "print(type(p).__module__, json.dumps(p('BRCA1 mutations cause breast cancer. "
        "患者有糖尿病。', max_new_tokens=24)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    module, entities = run.stdout.strip().splitlines()[-1].split(" ", 1)
    assert "bioner_pipeline" in module
    for e in json.loads(entities):
        assert isinstance(e["score"], float)


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
    assert len(train) > 0 and {"text", "entities"} <= set(train.column_names)
    missing = subprocess.run([sys.executable, "-m", "hf_bioner.cli", "corpora", "push",
                              "ncbi_disease"], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert missing.returncode == 2 and "--repo-id" in missing.stderr
