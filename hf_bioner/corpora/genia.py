"""The GENIA term corpus 3.02 (GPML XML, nested ``<cons>`` terms) with the 5-type mapping.

The XML has no character offsets: a sentence's text is the concatenation of its text nodes,
and a term's span is where its text nodes fall in that concatenation. The fine GENIA
ontology classes are mapped to the five JNLPBA types (Finkel & Manning 2009): ``G#protein_*``
-> protein, ``G#DNA_*`` -> DNA, ``G#RNA_*`` -> RNA, ``G#cell_line``, ``G#cell_type``;
everything else is dropped. A coordinated term (``sem="(AND G#x G#y)"``) is one mention over
the whole coordination when all its conjuncts map to the same type. ``<cons>`` without
``sem`` are fragments of coordinated terms, not mentions. A span annotated twice with the
same type is kept once.

A document is one ``<article>`` (title and abstract sentences joined by one space); its
sentences are the corpus's own ``<sentence>`` elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hf_bioner.corpora.document import Document
from hf_bioner.schema import BioNerInputError, dedupe_entities, make_entity

FIVE_TYPES = ("protein", "DNA", "RNA", "cell_type", "cell_line")
_SEM_CLASS = re.compile(r"G#([A-Za-z_/]+)")
_FIVE = re.compile(r"(DNA|RNA|protein|cell_line|cell_type)")


def five_type(sem: str | None) -> str | None:
    """The 5-type label of a GENIA ``sem`` value, or None when it has none (or is mixed)."""
    if not sem:
        return None
    mapped = set()
    for cls in _SEM_CLASS.findall(sem):
        match = _FIVE.match(cls)
        mapped.add(match.group(1) if match else None)
    return mapped.pop() if len(mapped) == 1 else None


def sentence_terms(sentence: ET.Element) -> tuple[str, list[tuple[int, int, str | None]]]:
    """The sentence text and its ``(start, end, sem)`` terms, nested ones included."""
    pieces: list[str] = []
    terms: list[tuple[int, int, str | None]] = []
    length = 0

    def walk(element: ET.Element) -> None:
        nonlocal length
        if element.text:
            pieces.append(element.text)
            length += len(element.text)
        for child in element:
            start = length
            walk(child)
            if child.tag == "cons":
                terms.append((start, length, child.get("sem")))
            if child.tail:
                pieces.append(child.tail)
                length += len(child.tail)

    walk(sentence)
    return "".join(pieces), terms


def _article_id(article: ET.Element, seen: dict[str, int]) -> str:
    """``MEDLINE:95369245`` -> ``95369245``; a repeated ID gets ``-2``, ``-3``..."""
    bibliomisc = article.findtext("articleinfo/bibliomisc") or "unknown"
    doc_id = bibliomisc.replace("MEDLINE:", "").strip()
    seen[doc_id] = seen.get(doc_id, 0) + 1
    return doc_id if seen[doc_id] == 1 else f"{doc_id}-{seen[doc_id]}"


def read_genia(path: str | Path) -> list[Document]:
    """Every article of the GENIA XML as a document with sentence spans and 5-type terms."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise BioNerInputError(f"{path}: file not found") from None
    except ET.ParseError as err:
        line, column = err.position
        raise BioNerInputError(f"{path}:{line}: invalid XML at column {column}") from None
    docs, seen = [], {}
    for article in root.iter("article"):
        doc_id = _article_id(article, seen)
        texts, sentences, entities, offset = [], [], [], 0
        for sentence in article.iter("sentence"):
            text, terms = sentence_terms(sentence)
            texts.append(text)
            sentences.append((offset, offset + len(text)))
            for start, end, sem in terms:
                label = five_type(sem)
                if label:
                    entities.append((offset + start, offset + end, label))
            offset += len(text) + 1
        full = " ".join(texts)
        where = f"{path}: article {doc_id}"
        docs.append(
            Document(
                doc_id,
                full,
                dedupe_entities(make_entity(full, s, e, t, where) for s, e, t in entities),
                sentences=sentences,
            )
        )
    return docs
