"""PubTator files (NCBI-disease, BC5CDR): titles, abstracts and mention lines.

Format, one block per document, blocks separated by blank lines::

    PMID|t|title
    PMID|a|abstract
    PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>concept-ID[<TAB>composite parts]
    PMID<TAB>CID<TAB>chemical-ID<TAB>disease-ID          (BC5CDR relation lines: skipped)

Offsets are over ``title + " " + abstract``. We parse by hand rather than with
``bioc.pubtator`` because that parser strips every line (moving offsets when a title starts
or ends with a space) and prints, instead of raising, on a line it cannot read; here every
problem is a :class:`BioNerInputError` naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from hf_bioner.corpora.document import Document
from hf_bioner.corpora.files import numbered_lines
from hf_bioner.schema import BioNerInputError, make_entity

_TEXT_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")


class _Block:
    """The lines of one document while it is being read."""

    def __init__(self, pmid: str):
        self.pmid = pmid
        self.title: str | None = None
        self.abstract = ""
        self.mentions: list[tuple[int, list[str]]] = []

    def to_document(self, where: str) -> Document:
        text = f"{self.title or ''} {self.abstract}"
        entities = []
        for line_no, fields in self.mentions:
            here = f"{where}:{line_no}"
            start, end = _offset(fields[1], here), _offset(fields[2], here)
            entity = make_entity(text, start, end, fields[4], here)
            # The files carry the mention string; a mismatch means wrong offsets, except for
            # stray whitespace around the string (one NCBI train line has two trailing spaces).
            if entity["text"] != fields[3] and entity["text"] != fields[3].strip():
                raise BioNerInputError(
                    f"{here}: mention {fields[3]!r} does not match the text at {start}-{end}, "
                    f"which reads {entity['text']!r}"
                )
            entities.append(entity)
        return Document(self.pmid, text, entities, extra={"title_length": len(self.title or "")})


def _offset(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BioNerInputError(f"{where}: offset {value!r} is not an integer") from None


def read_pubtator(path: str | Path) -> list[Document]:
    """All documents of a PubTator file, with their mentions (relations are skipped)."""
    docs: list[Document] = []
    block: _Block | None = None
    for line_no, line in numbered_lines(path):
        here = f"{path}:{line_no}"
        if not line.strip():
            if block is not None:
                docs.append(block.to_document(str(path)))
            block = None
            continue
        text_line = _TEXT_LINE.match(line)
        if text_line:
            pmid, kind, content = text_line.groups()
            if block is not None and block.pmid != pmid:
                docs.append(block.to_document(str(path)))
                block = None
            block = block or _Block(pmid)
            if kind == "t":
                block.title = content
            else:
                block.abstract = content
            continue
        fields = line.split("\t")
        if block is None or fields[0] != block.pmid:
            raise BioNerInputError(
                f"{here}: line does not belong to a document (expected 'PMID|t|title' first)"
            )
        if len(fields) in (6, 7):
            block.mentions.append((line_no, fields))
        elif len(fields) != 4:  # 4 fields: a relation line, not a mention
            raise BioNerInputError(
                f"{here}: expected a mention line with 6 or 7 tab-separated fields, got {len(fields)}"
            )
    if block is not None:
        docs.append(block.to_document(str(path)))
    return docs
