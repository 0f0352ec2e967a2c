"""Loading a corpus split: the spec of a corpus and its splits, where its files are (read
from ``data_dir``, ``$HF_BIONER_DATA`` or the cache, downloading what the cache lacks), its
documents, its records (sentence or document units), and counts of what is in it.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Collection
from pathlib import Path

from hf_bioner import paths
from hf_bioner.corpora.catalog import CORPORA, CorpusSpec, map_ncbi_types
from hf_bioner.corpora.document import UNITS, Document, to_records
from hf_bioner.corpora.download import REMOTE_FILES, download_corpus
from hf_bioner.schema import BioNerInputError, Record, record_features

logger = logging.getLogger(__name__)


def corpus_spec(name: str, split: str | None = None) -> CorpusSpec:
    """The spec of a corpus; a clear error for an unknown corpus or split name."""
    if name not in CORPORA:
        raise BioNerInputError(f"unknown corpus {name!r}; valid: {', '.join(CORPORA)}")
    spec = CORPORA[name]
    if split is not None and split not in spec.splits:
        raise BioNerInputError(
            f"corpus {name!r} has no split {split!r}; valid: {', '.join(spec.splits)}"
        )
    return spec


def evaluation_split(name: str) -> str:
    """The split a corpus is scored on: test, or dev when the test labels are not public
    (CMeEE, evaluated on dev like the paper)."""
    return "test" if "test" in corpus_spec(name).labelled else "dev"


def tuning_split(name: str) -> str:
    """Where held-out sentences for tuning (selector calibration) come from: dev, unless
    dev is the evaluation split; then training sentences, which a generator trained on
    all of them may have seen."""
    return "dev" if evaluation_split(name) != "dev" else "train"


def held_out_records(
    name: str, data_dir: str | Path | None = None, learnt: Collection[str] = ()
) -> list[Record]:
    """The sentences of a corpus's tuning split that a model has not learnt: dev, or the
    training sentences whose ids are not in ``learnt``
    (see :func:`hf_bioner.training.data.seen_training_ids`)."""
    records = load_records(name, tuning_split(name), data_dir)
    return [r for r in records if r["id"] not in learnt]


def _corpus_root(name: str, data_dir: str | Path | None) -> Path:
    """The data folder holding corpus ``name``.

    A folder the user chose (argument or ``$HF_BIONER_DATA``) is only read; the default cache
    folder is filled by downloading what is missing.
    """
    root = paths.data_dir(data_dir)
    missing = [r for r in REMOTE_FILES[name] if not (root / r.path).exists()]
    if not missing:
        return root
    if data_dir is None and not os.environ.get("HF_BIONER_DATA"):
        logger.info("%s is not in %s: downloading it", name, root)
        return download_corpus(name, root)
    raise BioNerInputError(
        f"{root / missing[0].path}: not found (is {root} the corpora folder? "
        f"leave data_dir and HF_BIONER_DATA unset to download {name})"
    )


def read_documents(
    name: str, split: str, data_dir: str | Path | None = None, original_types: bool = False
) -> list[Document]:
    """The documents of one split, entities over whole documents.

    ``original_types=True`` keeps NCBI-disease's four disease classes instead of ``Disease``.
    """
    spec = corpus_spec(name, split)
    if original_types and name != "ncbi_disease":
        raise BioNerInputError("original_types applies to ncbi_disease only")
    docs = spec.splits[split](_corpus_root(name, data_dir))
    return docs if original_types or name != "ncbi_disease" else map_ncbi_types(docs)


def load_records(
    name: str,
    split: str,
    data_dir: str | Path | None = None,
    unit: str = "sentence",
    original_types: bool = False,
) -> list[Record]:
    """Like :func:`load_corpus`, as a plain list of record dicts (no `datasets` needed)."""
    if unit not in UNITS:
        raise BioNerInputError(f"unknown unit {unit!r}; valid: {', '.join(UNITS)}")
    spec = corpus_spec(name, split)
    docs = read_documents(name, split, data_dir, original_types)
    return list(to_records(docs, name, split, unit, spec.language))


def load_corpus(
    name: str,
    split: str,
    data_dir: str | Path | None = None,
    unit: str = "sentence",
    original_types: bool = False,
):
    """One split of a corpus as a `datasets.Dataset` of records (see :mod:`hf_bioner.schema`).

    ``unit="sentence"`` cuts documents into sentences (merged where an entity would cross a
    cut, so no mention is lost); ``unit="document"`` keeps whole documents. Entity offsets are
    relative to the unit; ``offset`` is where the unit starts in its document.
    """
    from datasets import Dataset

    records = load_records(name, split, data_dir, unit, original_types)
    return Dataset.from_list(records, features=record_features())


def corpus_stats(name: str, data_dir: str | Path | None = None, unit: str = "sentence") -> dict:
    """Per split: documents, units, mentions per type, and mentions dropped while reading."""
    spec = corpus_spec(name)
    stats = {}
    for split in spec.splits:
        docs = read_documents(name, split, data_dir)
        records = list(to_records(docs, name, split, unit, spec.language))
        types = Counter(e["type"] for r in records for e in r["entities"])
        stats[split] = {
            "documents": len(docs),
            "units": len(records),
            "mentions": sum(types.values()),
            "per_type": dict(sorted(types.items())),
            "dropped": sum(d.extra.get("dropped", 0) for d in docs),
        }
    return stats
