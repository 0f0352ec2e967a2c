"""The hf-bioner command line, run as users run it (a subprocess), and the corpus exports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hf_bioner.cli import build_parser
from hf_bioner.schema import record_features
from tests.conftest import FIXTURE_CORPORA


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "hf_bioner.cli", *args], capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def _subcommands(parser, prefix=()):
    """Every (sub)command path of the parser, e.g. ('corpora', 'stats')."""
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            yield (*prefix, name)
            yield from _subcommands(sub, (*prefix, name))


def test_every_command_has_help():
    paths = list(_subcommands(build_parser()))
    assert ("corpora", "stats") in paths and ("evaluate",) in paths and ("prepare",) in paths
    for path in paths:
        result = run(*path, "--help")
        assert result.stdout.startswith("usage: hf-bioner " + " ".join(path))


def test_corpora_stats_json_on_fixtures():
    result = run("corpora", "stats", "cmeee", "--data-dir", str(FIXTURE_CORPORA), "--json")
    stats = json.loads(result.stdout)["cmeee"]
    assert stats["train"]["units"] == 7 and stats["train"]["dropped"] == 1
    assert stats["test"]["mentions"] == 0


@pytest.mark.corpora
def test_corpora_stats_table_on_the_full_corpora(corpora_dir):
    out = run("corpora", "stats", "ncbi_disease", "--data-dir", str(corpora_dir)).stdout
    assert "| test | 100 | " in out and out.rstrip().endswith("| 960 | 0 |")


def test_prepare_writes_a_mixed_bilingual_dataset(tmp_path):
    out = tmp_path / "prep"
    result = run(
        "prepare", "--corpora", "ncbi_disease,cmeee", "--split", "dev", "--scheme", "inline",
        "--out", str(out), "--data-dir", str(FIXTURE_CORPORA), "--mix", "uniform",
    )  # fmt: skip
    assert "ncbi_disease: " in result.stdout and "cmeee: " in result.stdout
    from datasets import load_from_disk

    dataset = load_from_disk(str(out / "dataset"))
    assert set(dataset["language"]) == {"en", "zh"}
    assert {"prompt", "completion", "corpus", "id"} <= set(dataset.column_names)
    mix = json.loads((out / "mix.json").read_text())
    assert mix["taken"]["ncbi_disease"] == mix["taken"]["cmeee"] == len(dataset) // 2
    again = run("prepare", "--corpora", "cmeee", "--out", str(out), check=False)
    assert again.returncode == 2 and "exists and is not empty" in again.stderr


def test_evaluate_gold_against_perturbed_predictions(tmp_path):
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    from hf_bioner.corpora import load_records
    from hf_bioner.formats import write_jsonl

    records = load_records("bc5cdr", "test", FIXTURE_CORPORA)
    write_jsonl(records, gold)
    # Drop the first entity of every unit: recall falls, precision stays 1.
    write_jsonl(({"id": r["id"], "entities": r["entities"][1:]} for r in records), pred)
    result = json.loads(run("evaluate", "--gold", str(gold), "--pred", str(pred), "--json").stdout)
    n_gold = sum(len(r["entities"]) for r in records)
    dropped = sum(1 for r in records if r["entities"])
    assert result["precision"] == 1.0
    assert result["recall"] == pytest.approx((n_gold - dropped) / n_gold)
    table = run("evaluate", "--gold", str(gold), "--pred", str(pred)).stdout
    assert "Chemical" in table and "Disease" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("corpora", "stats", "ncbi"), "unknown corpus 'ncbi'; valid: ncbi_disease, bc5cdr"),
        (
            ("prepare", "--corpora", "cmeee", "--split", "validation", "--out", "x"),
            "no split 'validation'",
        ),
        (
            ("evaluate", "--gold", "missing.jsonl", "--pred", "missing.jsonl"),
            "missing.jsonl: file not found",
        ),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    result = run(*args, "--data-dir", str(FIXTURE_CORPORA), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"hf-bioner: error: {result.stderr.split('error: ', 1)[1].strip()}"
    ]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_prediction_file_names_the_line(tmp_path):
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "a", "entities": []}\n{"id": "b", "entities": [\n')
    result = run(
        "evaluate",
        "--gold",
        "bc5cdr:test",
        "--pred",
        str(pred),
        "--data-dir",
        str(FIXTURE_CORPORA),
        check=False,
    )
    assert result.returncode == 2 and f"{pred}:2: invalid JSON" in result.stderr


def test_export_writes_parquet_and_a_loadable_dataset_card(tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    out = tmp_path / "export"
    run("corpora", "export", "cmeee", "--out", str(out), "--data-dir", str(FIXTURE_CORPORA))
    card = DatasetCard.load(out / "README.md")
    assert card.data.language == ["zh"] and card.data.configs[0]["config_name"] == "default"
    dataset = load_dataset(str(out))
    assert set(dataset) == {"train", "dev", "test"}
    assert dataset["dev"].features == record_features()
    assert len(dataset["train"]) == 7


def test_dataset_builder_builds_every_split(tmp_path):
    from dataset_scripts.bioner_corpora import BioNerCorpora

    builder = BioNerCorpora(
        config_name="jnlpba", data_dir=str(FIXTURE_CORPORA), cache_dir=str(tmp_path)
    )
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    assert set(dataset) == {"train", "dev", "test"}
    row = dataset["test"][0]
    for ent in row["entities"]:
        assert row["text"][ent["start"] : ent["end"]] == ent["text"]
