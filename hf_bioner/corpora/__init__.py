"""Biomedical NER corpora, read from their original files into one record schema.

>>> from hf_bioner.corpora import load_corpus
>>> ds = load_corpus("ncbi_disease", "test", data_dir="../shared/corpora")
>>> ds[0]["text"], ds[0]["entities"][0]

Files are looked up in ``data_dir``, else ``$HF_BIONER_DATA``, else the hf-bioner cache, where
missing corpora are downloaded from their public sources (checksums verified).

Modules: one reader per original format (``pubtator``, ``brat``, ``cmeee``, ``genia``, with
``files`` for reading lines), ``document`` (documents cut into sentence units), ``catalog``
(every corpus and its splits), ``download`` (URLs, checksums), ``loading`` (what this
``__init__`` re-exports) and ``export`` (Parquet + dataset card). They import each other
directly, never this ``__init__``, and of the rest of hf_bioner only ``schema``,
``sentences`` and ``paths``.
"""

from hf_bioner.corpora.catalog import CORPORA
from hf_bioner.corpora.document import Document
from hf_bioner.corpora.loading import (
    corpus_spec,
    corpus_stats,
    evaluation_split,
    held_out_records,
    load_corpus,
    load_records,
    read_documents,
    tuning_split,
)

__all__ = [
    "CORPORA",
    "Document",
    "corpus_spec",
    "evaluation_split",
    "tuning_split",
    "held_out_records",
    "load_corpus",
    "load_records",
    "read_documents",
    "corpus_stats",
]
