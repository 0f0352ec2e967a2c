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
    text = "Sequential involvement of NFAT and Egr transcription factors in FasL regulation."
    assert row["text"] == text
    # Offsets counted by hand in the text: "NFAT" at 26, "Egr" at 35, "transcription ..." at 39.
    assert [(e["start"], e["end"], e["type"], e["text"]) for e in row["entities"]] == [
        (26, 30, "protein", "NFAT"),
        (35, 38, "protein", "Egr"),
        (39, 60, "protein", "transcription factors"),
    ]


# ----------------------------------------------------------------------------- hf-bioner tag


@pytest.fixture(scope="module")
def known_model(tiny_base, tmp_path_factory):
    """A tiny model that tags every sentence whole (tests/known_answers.py)."""
    from tests.known_answers import whole_sentence_tagger

    return whole_sentence_tagger(tmp_path_factory.mktemp("known"), tiny_base)


def tag(model: str, *args: str) -> subprocess.CompletedProcess:
    return run("tag", "--model", model, "--no-selector", *args, check=False)


DEVICE_LINE = "hf-bioner: tagging on "


def messages(result: subprocess.CompletedProcess) -> list[str]:
    """hf-bioner's own lines on standard error (not transformers' loading bars), but for the
    line naming the device (test_tag_says_which_device_it_uses)."""
    return [line for line in result.stderr.splitlines()
            if line.startswith("hf-bioner:") and not line.startswith(DEVICE_LINE)]  # fmt: skip


def test_tag_says_which_device_it_uses(known_model):
    """One line, on standard error (standard output carries the results)."""
    result = tag(known_model, "Ataxia is rare.")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith(DEVICE_LINE)] == [
        "hf-bioner: tagging on cpu"
    ]
    assert DEVICE_LINE not in result.stdout


def test_tag_table_shows_readable_type_names_and_jsonl_keeps_codes(known_model):
    from hf_bioner.schema import readable_type_name

    texts = ("Ataxia is rare.", "患者有糖尿病。")
    table = tag(known_model, *texts)
    assert table.returncode == 0, table.stderr
    rows = [line.split("\t") for line in table.stdout.splitlines()]
    codes = [e["entity_group"] for line in tag(known_model, "--format", "jsonl", *texts)
             .stdout.splitlines() for e in json.loads(line)["entities"]]  # fmt: skip
    # Each sentence is one entity (the known model tags sentences whole).
    assert [row[:3] for row in rows] == [["1", "0", "15"], ["2", "0", "7"]]
    # Disease, NCBI-disease's one type; 临床表现 (sym) for every CMeEE sentence (each token
    # of a tag depends on the token before alone).
    assert codes == ["Disease", "sym"]
    assert [row[3] for row in rows] == [readable_type_name(code) for code in codes]
    assert rows[1][3] != codes[1] and rows[1][3].endswith(")")  # e.g. "Disease (疾病)"


def test_tag_exit_status_says_how_many_documents_failed(known_model, tmp_path):
    empty = tag(known_model, "")
    assert empty.returncode == 1 and empty.stdout == ""
    assert messages(empty) == [
        "hf-bioner: warning: document 1: the text is empty",
        "hf-bioner: error: no document could be tagged (1 failed)",
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "Ataxia is rare."}\n{"id": "b"}\n{"text": "   "}\n')
    some = tag(known_model, "--input", str(mixed), "--format", "jsonl")
    assert some.returncode == 0, some.stderr
    assert messages(some) == ["hf-bioner: warning: 2 of 3 documents failed"]
    rows = [json.loads(line) for line in some.stdout.splitlines()]
    assert [row["entities"] is None for row in rows] == [False, True, True]
    empty_file = tmp_path / "empty.txt"
    empty_file.write_text("\n\n")
    nothing = tag(known_model, "--input", str(empty_file))
    no_documents = "hf-bioner: error: nothing to tag: the input holds no documents"
    assert nothing.returncode == 2 and messages(nothing) == [no_documents]


def test_tag_binary_file_fails_and_is_named_once(known_model, tmp_path):
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    result = tag(known_model, "--input", str(binary))
    assert result.returncode == 1
    assert messages(result) == [
        f"hf-bioner: warning: {binary}: not UTF-8 text",
        "hf-bioner: error: no document could be tagged (1 failed)",
    ]
    assert result.stderr.count(str(binary)) == 1


def test_tag_bad_json_line_gives_file_line_column_and_the_parser_message(known_model, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "Ataxia is rare."}\n\n{"text": "Lupus\n')
    # The unterminated string of line 3 starts at its 10th character (the quote before Lupus).
    expected = f"{data}: Unterminated string starting at: line 3 column 10"
    result = tag(known_model, "--input", str(data), "--format", "jsonl")
    assert result.returncode == 0 and "1 of 2 documents failed" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[1] == {"id": "3", "text": None, "entities": None, "error": expected}
    table = tag(known_model, "--input", str(data))
    assert f"hf-bioner: warning: {expected}\n" in table.stderr


def test_threads_option(known_model):
    import torch

    from hf_bioner.cli import build_parser, main

    for command in ("tag", "train"):
        text = " ".join(run(command, "--help").stdout.split())
        assert "--threads THREADS CPU threads for torch" in text
    zero = tag(known_model, "--threads", "0", "Ataxia.")
    assert zero.returncode == 2
    assert messages(zero) == ["hf-bioner: error: --threads must be at least 1, not 0"]
    assert build_parser().parse_args(["tag", "x"]).threads is None  # default: torch's own
    before = torch.get_num_threads()
    try:
        wanted = before + 1
        assert main(["tag", "--model", known_model, "--threads", str(wanted), "Ataxia."]) == 0
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)
