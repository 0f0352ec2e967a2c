"""The spaCy peer baseline: what its training docs keep, count and leave out, and that it learns."""

from __future__ import annotations

import sys

from tests.conftest import FIXTURE_CORPORA, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import baseline_spacy  # noqa: E402


def entity(text: str, mention: str, type_: str, occurrence: int = 0) -> dict:
    """A gold entity over the ``occurrence``-th appearance of ``mention`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(mention, start + 1)
    return {"start": start, "end": start + len(mention), "type": type_}


def test_english_doc_counts_misaligned_overlapping_and_duplicates():
    nlp = baseline_spacy.blank_pipeline("ncbi_disease")
    text = "BRCA1-associated breast cancer and ovarian cancer."
    breast = entity(text, "breast cancer", "Disease")
    record = {
        "text": text,
        "entities": [
            entity(text, "BRCA", "Gene"),  # ends inside the token "BRCA1"
            breast,
            dict(breast),  # the same triple twice counts once
            entity(text, "cancer", "Disease"),  # nested in "breast cancer"
            entity(text, "ovarian cancer", "Disease"),
            entity(text, "ovarian cancer", "Other"),  # the same span with another type
        ],
    }
    doc, counts = baseline_spacy.reference_doc(nlp, record)
    assert counts == {"entities": 5, "kept": 2, "misaligned": 1, "overlapping": 2}
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("breast cancer", "Disease"),
        ("ovarian cancer", "Disease"),
    ]
    # the misaligned entity's token is missing (no loss), not taught as outside
    assert doc[0].text == "BRCA1" and doc[0].ent_iob_ == ""
    assert doc[1].ent_iob_ == "O"


def test_chinese_nested_entities_keep_the_longest():
    nlp = baseline_spacy.blank_pipeline("cmeee")
    text = "患者有慢性胃炎和胃溃疡。"
    record = {
        "text": text,
        "entities": [
            entity(text, "慢性胃炎", "dis"),
            entity(text, "胃", "bod"),  # inside 慢性胃炎
            entity(text, "胃溃疡", "dis"),
            entity(text, "胃", "bod", occurrence=1),  # inside 胃溃疡
        ],
    }
    docs, counts = baseline_spacy.reference_docs(nlp, [record, {"text": "无。", "entities": []}])
    assert counts == {"entities": 4, "kept": 2, "misaligned": 0, "overlapping": 2}
    assert [e.text for e in docs[0].ents] == ["慢性胃炎", "胃溃疡"]
    assert not docs[1].ents


def test_selection_comes_from_train_where_dev_is_the_evaluation_split():
    train = [{"text": f"s{i}", "entities": []} for i in range(30)]
    kept, held, where = baseline_spacy.selection_split("cmeee", train, None)
    assert [r["text"] for r in held] == ["s9", "s19", "s29"]
    assert len(kept) == 27 and not {r["text"] for r in kept} & {"s9", "s19", "s29"}
    assert where.startswith("train")
    kept, held, where = baseline_spacy.selection_split("ncbi_disease", train, str(FIXTURE_CORPORA))
    assert kept == train and where == "dev"
    # The fixture's 15 NCBI-disease dev sentences.
    assert len(held) == 15 and {r["id"].split(":")[1] for r in held} == {"dev"}


def test_training_learns_a_repeated_pattern_and_keeps_the_best_epoch():
    from spacy.training import Example

    nlp = baseline_spacy.blank_pipeline("ncbi_disease")
    names = ["asthma", "gout", "malaria", "rickets", "scurvy", "leprosy", "measles", "mumps"]
    records = []
    for name in names:
        text = f"The patient was treated for {name} last year ."
        records.append({"text": text, "entities": [entity(text, name, "Disease")]})
    docs, _ = baseline_spacy.reference_docs(nlp, records * 4)
    examples = [Example(nlp.make_doc(d.text), d) for d in docs]
    args = baseline_spacy.parse_args(["--max-epochs", "20", "--patience", "4"])
    training = baseline_spacy.train(nlp, examples, records, args)
    assert training["best_selection_f1"] == 1.0
    assert training["stopped"] == "patience"
    assert training["epochs"] == training["best_epoch"] + 4 == len(training["curve"])
    # the restored weights score what the best epoch scored
    assert baseline_spacy.strict_f1(nlp, records) == 1.0
