"""Instruction rows and corpus mixing."""

from __future__ import annotations

import pytest

from hf_bioner.corpora import load_records
from hf_bioner.prompts import instruction, mix_rows, mix_sizes, prompt_completion
from hf_bioner.schema import BioNerInputError, type_set
from hf_bioner.tagging import EMPTY_TARGET, decode
from tests.conftest import FIXTURE_CORPORA


def test_english_prompt_names_types_with_definitions_and_ends_with_the_sentence():
    record = load_records("bc5cdr", "train", FIXTURE_CORPORA)[0]
    row = prompt_completion(record, "paper")
    assert "- Chemical: chemical or drug" in row["prompt"]
    assert "- Disease: disease, disorder or syndrome" in row["prompt"]
    assert row["prompt"].endswith(f"Sentence: {record['text']}\nAnswer:\n")
    entities, problems = decode(row["completion"], record["text"], "paper")
    # "Ocular and auditory toxicity in hemodialyzed patients receiving desferrioxamine."
    assert (
        [(e["start"], e["end"], e["type"]) for e in entities]
        == [(e["start"], e["end"], e["type"]) for e in record["entities"]]
        == [(0, 28, "Disease"), (64, 79, "Chemical")]
    )
    assert problems == []


def test_chinese_prompt_uses_chinese_type_names_in_prompt_and_completion():
    record = next(r for r in load_records("cmeee", "dev", FIXTURE_CORPORA) if r["entities"])
    row = prompt_completion(record, "inline")
    assert row["prompt"].startswith("标注医学实体")
    assert "- 疾病: " in row["prompt"] and "句子：" + record["text"] in row["prompt"]
    # 肺 (bod, 身体) nested in 肺内病变 and in 肺内炎性病变 (sym, 临床表现), at 10 and 17.
    assert record["text"] == "研究证实，细胞减少与肺内病变程度及肺内炎性病变吸收程度密切相关。"
    assert row["completion"] == (
        "研究证实，细胞减少与<临床表现><身体>肺</身体>内病变</临床表现>程度及"
        "<临床表现><身体>肺</身体>内炎性病变</临床表现>吸收程度密切相关。"
    )
    names = type_set("cmeee").display_names()
    entities, problems = decode(row["completion"], record["text"], "inline", type_names=names)
    assert sorted((e["start"], e["end"], e["type"]) for e in entities) == [
        (10, 11, "bod"), (10, 14, "sym"), (17, 18, "bod"), (17, 23, "sym")
    ]  # fmt: skip
    assert problems == []


def test_sentence_without_entities_targets():
    record = {
        "id": "x", "doc_id": "x", "text": "No entities here.", "entities": [],
        "language": "en", "corpus": "ncbi_disease", "offset": 0,
    }  # fmt: skip
    assert prompt_completion(record)["completion"] == EMPTY_TARGET
    assert prompt_completion(record, "inline")["completion"] == "No entities here."
    with pytest.raises(BioNerInputError, match="unknown scheme"):
        instruction("x", type_set("ncbi_disease"), "bio")


def test_mix_sizes_strategies():
    sizes = {"big": 10000, "small": 100}
    assert mix_sizes(sizes, "proportional") == sizes
    assert mix_sizes(sizes, "uniform") == {"big": 100, "small": 100}
    temp = mix_sizes(sizes, "temperature", temperature=2.0)
    assert temp["big"] == 10000 and temp["small"] == 1000  # 100 * sqrt(10000/100)
    assert mix_sizes(sizes, "temperature", temperature=1.0) == sizes
    assert mix_sizes(sizes, "proportional", cap=500) == {"big": 500, "small": 100}
    with pytest.raises(BioNerInputError, match="nothing to mix"):
        mix_sizes({"a": 0})
    with pytest.raises(BioNerInputError, match="unknown mix"):
        mix_sizes(sizes, "random")


def test_mix_rows_repeats_small_corpora_evenly_and_is_seeded():
    parts = {
        "a": [{"i": i, "c": "a"} for i in range(3)],
        "b": [{"i": i, "c": "b"} for i in range(30)],
    }
    rows, counts = mix_rows(parts, "uniform", seed=1)
    assert counts == {"a": 3, "b": 3} and len(rows) == 6
    rows, counts = mix_rows(parts, "temperature", temperature=1e9, seed=1)
    a_rows = [r["i"] for r in rows if r["c"] == "a"]
    assert counts["a"] == 30 and all(a_rows.count(i) == 10 for i in range(3))
    assert mix_rows(parts, "temperature", seed=1) == mix_rows(parts, "temperature", seed=1)
    assert mix_rows(parts, "temperature", seed=1) != mix_rows(parts, "temperature", seed=2)
