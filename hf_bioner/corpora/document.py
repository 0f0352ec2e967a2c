"""A document as read from a corpus file, and its cutting into records (sentences or whole).

Every reader returns :class:`Document` objects: the full text, its entities with document
offsets, and, where the corpus itself defines sentences (GENIA, CMeEE), those sentence spans.
:func:`to_records` then produces the records of :mod:`hf_bioner.schema`, one per unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hf_bioner.schema import Entity, Record, sort_entities
from hf_bioner.sentences import Span, merge_across_entities, unit_spans

UNITS = ("sentence", "document")


@dataclass
class Document:
    """One document of a corpus with entities over its whole text."""

    doc_id: str
    text: str
    entities: list[Entity]
    # Sentence spans given by the corpus; None means "split with hf_bioner.sentences".
    sentences: list[Span] | None = None
    extra: dict = field(default_factory=dict)


def _entities_in(entities: Iterable[Entity], start: int, end: int) -> list[Entity]:
    """Entities inside ``[start, end)``, re-based to offsets relative to ``start``."""
    return sort_entities(
        {**e, "start": e["start"] - start, "end": e["end"] - start}
        for e in entities
        if start <= e["start"] and e["end"] <= end
    )


def document_units(doc: Document, unit: str, language: str) -> list[Span]:
    """The unit spans of a document: its whole text, or sentences no entity crosses.

    With corpus-given sentences, "the whole document" runs from the first to the last of
    them (a GENIA document cut by a split boundary is only its part in that split).
    """
    if unit == "document":
        whole = (
            [(doc.sentences[0][0], doc.sentences[-1][1])] if doc.sentences else [(0, len(doc.text))]
        )
        return [(s, e) for s, e in whole if s < e]
    spans = [(e["start"], e["end"]) for e in doc.entities]
    if doc.sentences is not None:
        return [(s, e) for s, e in merge_across_entities(doc.sentences, spans) if s < e]
    return unit_spans(doc.text, spans, language)


def to_records(
    docs: Iterable[Document], corpus: str, split: str, unit: str, language: str
) -> Iterator[Record]:
    """Cut documents into records; every entity lands in exactly one unit."""
    for doc in docs:
        spans = document_units(doc, unit, language)
        placed = 0
        for index, (start, end) in enumerate(spans):
            entities = _entities_in(doc.entities, start, end)
            placed += len(entities)
            suffix = "" if unit == "document" else f":{index}"
            yield {
                "id": f"{corpus}:{split}:{doc.doc_id}{suffix}",
                "doc_id": doc.doc_id,
                "text": doc.text[start:end],
                "entities": entities,
                "language": language,
                "corpus": corpus,
                "offset": start,
            }
        if placed != len(doc.entities):  # a bug in unit cutting, never bad input
            raise AssertionError(
                f"{corpus} {doc.doc_id}: {len(doc.entities) - placed} entities fell between units"
            )
