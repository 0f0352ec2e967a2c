"""The corpora hf-bioner knows: their files, splits, language and entity types.

Each split is read by one reader from its original file(s). Splits that the corpus itself
does not ship are made here, deterministically, and documented:

* JNLPBA has no dev set: ``dev`` is every 10th training abstract in file-name order (200
  abstracts) and ``train`` is the other 1,800. ``train`` + ``dev`` = the official training set.
* GENIA has no official split: the conventional one by sentence order, first 15,022
  sentences ``train``, next 1,669 ``dev``, last 1,855 ``test``. A document cut by a split
  boundary keeps only its sentences in that split.
* CMeEE ``test`` (and CMeEE-V2 ``test``) are unlabelled: records with no entities, for tagging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hf_bioner.corpora.brat import read_brat_dir
from hf_bioner.corpora.cmeee import read_cblue, read_chip
from hf_bioner.corpora.document import Document
from hf_bioner.corpora.genia import read_genia
from hf_bioner.corpora.pubtator import read_pubtator

Reader = Callable[[Path], list[Document]]

JNLPBA_DEV_EVERY = 10
GENIA_SPLIT = {"train": (0, 15022), "dev": (15022, 16691), "test": (16691, None)}
# NCBI-disease's four classes are one type, Disease, in most NER work (and by default here).
NCBI_MERGED = {"SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"}


@dataclass(frozen=True)
class CorpusSpec:
    """How to read one corpus: a reader per split, its language, one line about it."""

    name: str
    language: str
    description: str
    splits: dict[str, Reader]
    labelled: tuple[str, ...]  # splits that carry gold entities


def _every_nth(docs: list[Document], keep_dev: bool) -> list[Document]:
    return [
        d for i, d in enumerate(docs) if (i % JNLPBA_DEV_EVERY == JNLPBA_DEV_EVERY - 1) == keep_dev
    ]


def _sentence_range(docs: list[Document], lo: int, hi: int | None) -> list[Document]:
    """Documents cut down to the sentences whose corpus-wide index is in ``[lo, hi)``."""
    kept, index = [], 0
    for doc in docs:
        count = len(doc.sentences or [])
        first, last = max(lo - index, 0), count if hi is None else min(hi - index, count)
        index += count
        if first >= last:
            continue
        sentences = doc.sentences[first:last]
        begin, end = sentences[0][0], sentences[-1][1]
        entities = [e for e in doc.entities if begin <= e["start"] and e["end"] <= end]
        kept.append(replace(doc, sentences=sentences, entities=entities))
    return kept


def _genia(split: str) -> Reader:
    lo, hi = GENIA_SPLIT[split]
    return lambda root: _sentence_range(read_genia(root / "genia/GENIAcorpus3.02.xml"), lo, hi)


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec(
            "ncbi_disease",
            "en",
            "NCBI-disease: 793 PubMed abstracts, disease mentions (PubTator)",
            {
                "train": lambda r: read_pubtator(r / "ncbi_disease/NCBItrainset_corpus.txt"),
                "dev": lambda r: read_pubtator(r / "ncbi_disease/NCBIdevelopset_corpus.txt"),
                "test": lambda r: read_pubtator(r / "ncbi_disease/NCBItestset_corpus.txt"),
            },
            ("train", "dev", "test"),
        ),
        CorpusSpec(
            "bc5cdr",
            "en",
            "BC5CDR: 1,500 PubMed abstracts, Chemical and Disease mentions (PubTator)",
            {
                "train": lambda r: read_pubtator(r / "bc5cdr/CDR_TrainingSet.PubTator.txt"),
                "dev": lambda r: read_pubtator(r / "bc5cdr/CDR_DevelopmentSet.PubTator.txt"),
                "test": lambda r: read_pubtator(r / "bc5cdr/CDR_TestSet.PubTator.txt"),
            },
            ("train", "dev", "test"),
        ),
        CorpusSpec(
            "jnlpba",
            "en",
            "JNLPBA: 2,404 MEDLINE abstracts, protein/DNA/RNA/cell_type/cell_line (brat)",
            {
                "train": lambda r: _every_nth(read_brat_dir(r / "jnlpba/standoff/train"), False),
                "dev": lambda r: _every_nth(read_brat_dir(r / "jnlpba/standoff/train"), True),
                "test": lambda r: read_brat_dir(r / "jnlpba/standoff/test"),
            },
            ("train", "dev", "test"),
        ),
        CorpusSpec(
            "cmeee",
            "zh",
            "CMeEE (CBLUE/CHIP-2020): Chinese medical text, 9 nested types",
            {
                "train": lambda r: read_chip(r / "cmeee/chip2020/train_data_all.txt"),
                "dev": lambda r: read_cblue(r / "cmeee/cblue_v1/CMeEE_dev.json"),
                "test": lambda r: read_cblue(r / "cmeee/cblue_v1/CMeEE_test.json"),
            },
            ("train", "dev"),
        ),
        CorpusSpec(
            "cmeee_v2",
            "zh",
            "CMeEE-V2: the CMeEE dev texts re-annotated (dev only; no public training set)",
            {
                "dev": lambda r: read_cblue(r / "cmeee/cblue_v2/CMeEE-V2_dev.json"),
                "test": lambda r: read_cblue(r / "cmeee/cblue_v2/CMeEE-V2_test.json"),
            },
            ("dev",),
        ),
        CorpusSpec(
            "genia",
            "en",
            "GENIA term corpus 3.02: 2,000 abstracts, nested terms in 5 types (XML)",
            {split: _genia(split) for split in GENIA_SPLIT},
            ("train", "dev", "test"),
        ),
    )
}


def map_ncbi_types(docs: list[Document]) -> list[Document]:
    """NCBI-disease's four disease classes as the single type ``Disease``."""
    return [
        replace(
            doc,
            entities=[
                {**e, "type": "Disease"} if e["type"] in NCBI_MERGED else e for e in doc.entities
            ],
        )
        for doc in docs
    ]
