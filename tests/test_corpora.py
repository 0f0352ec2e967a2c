"""Corpus readers: counts equal the corpus README, offsets are exact, bad files fail clearly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from hf_bioner.corpora import corpus_stats, load_corpus, load_records, read_documents
from hf_bioner.corpora.download import RemoteFile, fetch, sha256_of
from hf_bioner.schema import BioNerInputError
from tests.conftest import FIXTURE_CORPORA

# Mentions per type per split, as printed by ../shared/corpora/stats.py in the corpus README.
# Corrections we make, both documented there: JNLPBA train is split into train + dev here (the
# sums are the README's train row), and CMeEE train drops 2 empty spans (pro 6332 -> 6331,
# mic 1908 -> 1907: 61,796 -> 61,794).
README_COUNTS = {
    "ncbi_disease": {"train": {"Disease": 5145}, "dev": {"Disease": 787}, "test": {"Disease": 960}},
    "bc5cdr": {
        "train": {"Chemical": 5203, "Disease": 4182},
        "dev": {"Chemical": 5347, "Disease": 4244},
        "test": {"Chemical": 5385, "Disease": 4424},
    },
    "jnlpba": {
        "train+dev": {"protein": 30269, "DNA": 9533, "RNA": 951, "cell_type": 6718, "cell_line": 3830},
        "test": {"protein": 5067, "DNA": 1056, "RNA": 118, "cell_type": 1921, "cell_line": 500},
    },
    "cmeee": {
        "train": {"dis": 15843, "sym": 12269, "pro": 6331, "equ": 888, "dru": 3930,
                  "ite": 2581, "bod": 17697, "dep": 348, "mic": 1907},
        "dev": {"dis": 4935, "sym": 4130, "pro": 2057, "equ": 238, "dru": 1440,
                "ite": 923, "bod": 5883, "dep": 110, "mic": 584},
        "test": {},
    },
    "cmeee_v2": {
        "dev": {"dis": 6328, "sym": 5297, "pro": 3319, "equ": 164, "dru": 1566,
                "ite": 1339, "bod": 7361, "dep": 86, "mic": 621},
        "test": {},
    },
    "genia": {
        "train": {"protein": 29106, "DNA": 7950, "RNA": 735, "cell_type": 6046, "cell_line": 3169},
        "dev": {"protein": 2348, "DNA": 1066, "RNA": 140, "cell_type": 564, "cell_line": 343},
        "test": {"protein": 3108, "DNA": 1290, "RNA": 117, "cell_type": 619, "cell_line": 462},
    },
}  # fmt: skip
README_DOCS = {
    "ncbi_disease": {"train": 593, "dev": 100, "test": 100},
    "bc5cdr": {"train": 500, "dev": 500, "test": 500},
    "jnlpba": {"train": 1800, "dev": 200, "test": 404},
    "cmeee": {"train": 15000, "dev": 5000, "test": 3000},
    "cmeee_v2": {"dev": 5000, "test": 3000},
}
GENIA_SENTENCES = {"train": 15022, "dev": 1669, "test": 1855}


def _per_type(stats: dict, split: str) -> dict:
    if split == "train+dev":
        merged = dict(stats["train"]["per_type"])
        for t, n in stats["dev"]["per_type"].items():
            merged[t] = merged.get(t, 0) + n
        return merged
    return stats[split]["per_type"]


@pytest.mark.corpora
@pytest.mark.parametrize("name", list(README_COUNTS))
def test_statistics_equal_the_corpus_readme(name, corpora_dir):
    for unit in ("sentence", "document"):
        stats = corpus_stats(name, corpora_dir, unit)
        for split, expected in README_COUNTS[name].items():
            assert _per_type(stats, split) == expected, (name, split, unit)
        for split, docs in README_DOCS.get(name, {}).items():
            assert stats[split]["documents"] == docs
    if name == "genia":
        assert {
            s: v["units"] for s, v in corpus_stats(name, corpora_dir).items()
        } == GENIA_SENTENCES
    if name == "cmeee":
        assert stats["train"]["dropped"] == 2


@pytest.mark.corpora
@pytest.mark.parametrize("name", list(README_COUNTS))
def test_sentence_offsets_map_back_to_the_document(name, corpus_records):
    for split in README_COUNTS[name]:
        split = "train" if split == "train+dev" else split
        docs = {r["doc_id"]: r for r in corpus_records(name, split, "document")}
        for record in corpus_records(name, split):
            doc = docs[record["doc_id"]]
            base = record["offset"] - doc["offset"]
            assert doc["text"][base : base + len(record["text"])] == record["text"]
            assert record["text"] == record["text"].strip()
            for ent in record["entities"]:
                assert 0 <= ent["start"] < ent["end"] <= len(record["text"])
                assert record["text"][ent["start"] : ent["end"]] == ent["text"]
                assert doc["text"][base + ent["start"] : base + ent["end"]] == ent["text"]


@pytest.mark.corpora
def test_load_corpus_returns_a_dataset_with_the_record_schema(corpora_dir):
    ds = load_corpus("cmeee", "dev", data_dir=corpora_dir)
    assert len(ds) == 5000
    assert set(ds.column_names) == {
        "id",
        "doc_id",
        "text",
        "entities",
        "language",
        "corpus",
        "offset",
    }
    row = ds[0]
    assert row["language"] == "zh" and row["corpus"] == "cmeee"
    assert row["text"].startswith("对儿童SARST细胞亚群的研究表明")
    assert {"start": 3, "end": 10, "type": "bod", "text": "SARST细胞"} in row["entities"]
    assert len(set(ds["id"])) == len(ds)


# ----------------------------------------------------------------- fixtures (always run)


def test_ncbi_types_are_merged_by_default_and_kept_on_request():
    merged = read_documents("ncbi_disease", "train", FIXTURE_CORPORA)
    original = read_documents("ncbi_disease", "train", FIXTURE_CORPORA, original_types=True)
    assert {e["type"] for d in merged for e in d.entities} == {"Disease"}
    assert {e["type"] for d in original for e in d.entities} >= {"SpecificDisease", "Modifier"}
    # PMID 10923035 has a mention string with two trailing spaces not in the text span.
    doc = next(d for d in merged if d.doc_id == "10923035")
    span = next(e for e in doc.entities if e["start"] == 711)
    assert (
        span["end"] == 761 and span["text"] == doc.text[711:761] and not span["text"].endswith(" ")
    )


def test_pubtator_offsets_cover_title_and_abstract():
    doc = read_documents("bc5cdr", "train", FIXTURE_CORPORA)[0]
    title_length = doc.extra["title_length"]
    assert doc.text[title_length] == " "
    assert any(e["start"] > title_length for e in doc.entities)
    assert all(doc.text[e["start"] : e["end"]] == e["text"] for e in doc.entities)


def test_bc5cdr_relation_lines_are_skipped_and_composites_kept(tmp_path):
    source = (FIXTURE_CORPORA / "bc5cdr/CDR_TrainingSet.PubTator.txt").read_text()
    assert "\tCID\t" in source and re.search(r"\t[^\t]+\|[^\t]+\t[^\t]+\|", source)
    mention_lines = [ln for ln in source.splitlines() if len(ln.split("\t")) in (6, 7)]
    docs = read_documents("bc5cdr", "train", FIXTURE_CORPORA)
    assert sum(len(d.entities) for d in docs) == len(mention_lines)


def test_cmeee_inclusive_ends_and_empty_spans(caplog):
    docs = read_documents("cmeee", "train", FIXTURE_CORPORA)
    dropped = [d for d in docs if d.extra["dropped"]]
    assert len(dropped) == 1 and "dropped an empty span 16-15" in caplog.text
    first = docs[0]
    assert first.text.startswith("（5）房室结消融")
    assert first.entities[0] == {"start": 3, "end": 8, "type": "pro", "text": "房室结消融"}
    dev = read_documents("cmeee", "dev", FIXTURE_CORPORA)
    raw = json.loads((FIXTURE_CORPORA / "cmeee/cblue_v1/CMeEE_dev.json").read_text())
    for doc, item in zip(dev, raw, strict=True):
        assert [e["text"] for e in doc.entities] == [e["entity"] for e in item["entities"]]


def test_cmeee_nested_entities_survive_as_records():
    records = load_records("cmeee", "dev", FIXTURE_CORPORA)
    nested = [
        (a, b)
        for r in records
        for a in r["entities"]
        for b in r["entities"]
        if a != b and b["start"] <= a["start"] and a["end"] <= b["end"]
    ]
    assert nested


def test_genia_terms_nested_and_coordinated():
    doc = read_documents("genia", "train", FIXTURE_CORPORA)[0]
    assert doc.doc_id == "95369245"
    assert doc.text.startswith("IL-2 gene expression and NF-kappa B activation through CD28")
    spans = {(e["text"], e["type"]) for e in doc.entities}
    assert ("IL-2 gene", "DNA") in spans and ("CD28", "protein") in spans
    assert ("IL-2 gene expression", "DNA") not in spans  # G#other_name is dropped
    records = load_records("genia", "train", FIXTURE_CORPORA)
    assert len(records) == len(doc.sentences) + len(
        read_documents("genia", "train", FIXTURE_CORPORA)[1].sentences
    )


def test_jnlpba_dev_is_every_tenth_training_abstract():
    train = read_documents("jnlpba", "train", FIXTURE_CORPORA)
    dev = read_documents("jnlpba", "dev", FIXTURE_CORPORA)
    assert len(dev) == 1 and len(train) == 9
    assert not {d.doc_id for d in train} & {d.doc_id for d in dev}


# The GENIA fixture is two articles' worth of sentences: all of them fall in "train".
@pytest.mark.parametrize(
    ("name", "split"),
    [(n, s) for n in ("ncbi_disease", "bc5cdr", "jnlpba") for s in ("train", "test")]
    + [("genia", "train")],
)
def test_sentence_and_document_units_hold_the_same_mentions(name, split):
    def in_document(records):
        return sorted(
            (r["doc_id"], e["start"] + r["offset"], e["end"] + r["offset"], e["type"])
            for r in records
            for e in r["entities"]
        )

    sentences = load_records(name, split, FIXTURE_CORPORA)
    documents = load_records(name, split, FIXTURE_CORPORA, unit="document")
    assert in_document(sentences) == in_document(documents)
    assert in_document(sentences)
    assert len(sentences) > len(documents)


# ----------------------------------------------------------------- bad input


def _copy_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "corpora"
    shutil.copytree(FIXTURE_CORPORA, root)
    return root


def test_unknown_corpus_split_and_unit_name_the_choices():
    with pytest.raises(BioNerInputError, match=r"unknown corpus 'ncbi'.*ncbi_disease"):
        load_records("ncbi", "train", FIXTURE_CORPORA)
    with pytest.raises(BioNerInputError, match=r"no split 'train'.*dev, test"):
        load_records("cmeee_v2", "train", FIXTURE_CORPORA)
    with pytest.raises(BioNerInputError, match=r"unknown unit 'word'"):
        load_records("cmeee", "dev", FIXTURE_CORPORA, unit="word")


def test_evaluation_and_tuning_splits_never_coincide():
    from hf_bioner.corpora import CORPORA, evaluation_split, tuning_split

    # CMeEE's test labels are not public: it is scored on dev, so tuning takes training text.
    assert (evaluation_split("ncbi_disease"), tuning_split("ncbi_disease")) == ("test", "dev")
    assert (evaluation_split("cmeee"), tuning_split("cmeee")) == ("dev", "train")
    for name, spec in CORPORA.items():
        assert evaluation_split(name) in spec.labelled
        assert evaluation_split(name) != tuning_split(name)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            lambda t: re.sub(r"\n(\d+)\t\d+\t", r"\n\1\tzero\t", t, count=1),
            r"NCBItestset_corpus.txt:\d+: offset 'zero'",
        ),
        (
            lambda t: re.sub(r"(\n\d+\t\d+\t\d+\t[^\t\n]+\t)", r"\1\t\t", t, count=1),
            r":\d+: expected a mention line",
        ),
        (
            lambda t: re.sub(r"\t(\d+)\t(\d+)\t", "\t99990\t99999\t", t, count=1),
            r":\d+: entity offsets 99990-99999",
        ),
        (lambda t: t.replace("|a|", "|a|X", 1), r":\d+: mention .* does not match the text"),
    ],
)
def test_corrupt_pubtator_lines_name_file_and_line(tmp_path, replace, message):
    root = _copy_fixture(tmp_path)
    path = root / "ncbi_disease/NCBItestset_corpus.txt"
    path.write_text(replace(path.read_text()))
    with pytest.raises(BioNerInputError, match=message):
        load_records("ncbi_disease", "test", root)


def test_invalid_utf8_names_file_and_line(tmp_path):
    root = _copy_fixture(tmp_path)
    path = root / "cmeee/chip2020/train_data_all.txt"
    path.write_bytes(
        path.read_bytes().replace("患者".encode(), b"\xff\xfe", 1) + "\n患者".encode("gbk")
    )
    with pytest.raises(BioNerInputError, match=r"train_data_all.txt:\d+: not valid UTF-8"):
        load_records("cmeee", "train", root)


def test_bad_cblue_json_and_chip_fields(tmp_path):
    root = _copy_fixture(tmp_path)
    (root / "cmeee/cblue_v1/CMeEE_dev.json").write_text('[{"text": "abc",\n "entities": [}]')
    with pytest.raises(BioNerInputError, match=r"CMeEE_dev.json:2: invalid JSON"):
        load_records("cmeee", "dev", root)
    (root / "cmeee/chip2020/train_data_all.txt").write_text("发热|||0    x    sym|||\n")
    with pytest.raises(BioNerInputError, match=r"train_data_all.txt:1: cannot read"):
        load_records("cmeee", "train", root)


def test_brat_mismatch_and_missing_files(tmp_path):
    root = _copy_fixture(tmp_path)
    ann = root / "jnlpba/standoff/test"
    first = sorted(ann.glob("*.ann"))[0]
    first.write_text("T1\tprotein 0 3\tXYZ\n")
    with pytest.raises(BioNerInputError, match=rf"{first.name}:1: mention 'XYZ' does not match"):
        load_records("jnlpba", "test", root)
    with pytest.raises(BioNerInputError, match=r"not found"):
        load_records("genia", "test", tmp_path / "nowhere")


def test_fetch_verifies_checksums(tmp_path):
    source = FIXTURE_CORPORA / "ncbi_disease/NCBItestset_corpus.txt"
    good = RemoteFile("ncbi_disease/test.txt", source.as_uri(), sha256_of(source))
    assert fetch(good, tmp_path).read_bytes() == source.read_bytes()
    bad = RemoteFile("ncbi_disease/other.txt", source.as_uri(), "0" * 64)
    with pytest.raises(BioNerInputError, match="checksum .* does not match"):
        fetch(bad, tmp_path)
    missing = RemoteFile("x.txt", (tmp_path / "absent.txt").as_uri(), "0" * 64)
    with pytest.raises(BioNerInputError, match="cannot download"):
        fetch(missing, tmp_path)
