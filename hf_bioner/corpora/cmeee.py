"""CMeEE (Chinese medical entities, nested): CHIP-2020 ``|||`` text and CBLUE JSON.

* CHIP-2020: one sentence per line, ``text|||start    end    type|||...|||`` with start, end
  and type separated by four spaces; test files hold bare text.
* CBLUE JSON: ``[{"text": ..., "entities": [{"start_idx", "end_idx", "type", "entity"}]}]``.

Both use an **inclusive** end; we convert to exclusive. Each sentence is its own document.
The CHIP-2020 training file has two empty spans (end = start - 1, lines 6052 and 6422); they
carry no characters to tag, so they are dropped, counted in ``Document.extra["dropped"]`` and
logged, never raised as errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hf_bioner.corpora.document import Document
from hf_bioner.corpora.files import numbered_lines, read_text
from hf_bioner.schema import BioNerInputError, make_entity

logger = logging.getLogger(__name__)


RawSpan = tuple[int, int, str, str | None]


def _sentence(doc_id: str, text: str, spans: list[RawSpan], where: str) -> Document:
    """A one-sentence document from inclusive ``(start, end, type, mention or None)`` spans."""
    entities, dropped = [], 0
    for start, end_inclusive, type_, mention in spans:
        if not isinstance(start, int) or not isinstance(end_inclusive, int):
            raise BioNerInputError(
                f"{where}: offsets must be integers, got {start!r}, {end_inclusive!r}"
            )
        if end_inclusive == start - 1:
            dropped += 1
            logger.warning(
                "%s: dropped an empty span %d-%d (%s)", where, start, end_inclusive, type_
            )
            continue
        entity = make_entity(text, start, end_inclusive + 1, type_, where)
        if mention is not None and mention != entity["text"]:
            raise BioNerInputError(
                f"{where}: entity {mention!r} does not match the text at "
                f"{start}-{end_inclusive} ({entity['text']!r})"
            )
        entities.append(entity)
    return Document(doc_id, text, entities, sentences=[(0, len(text))], extra={"dropped": dropped})


def read_chip(path: str | Path) -> list[Document]:
    """A CHIP-2020 file; document IDs are line numbers (``L12``)."""
    docs = []
    for line_no, line in numbered_lines(path):
        if not line.strip():
            continue
        here = f"{path}:{line_no}"
        text, *fields = line.split("|||")
        spans = []
        for field in fields:
            if not field.strip():
                continue
            parts = field.split("    ")
            try:
                start, end, type_ = int(parts[0]), int(parts[1]), parts[2].strip()
            except (ValueError, IndexError):
                raise BioNerInputError(
                    f"{here}: cannot read 'start    end    type' from {field!r}"
                ) from None
            spans.append((start, end, type_, None))
        docs.append(_sentence(f"L{line_no}", text, spans, here))
    return docs


def read_cblue(path: str | Path) -> list[Document]:
    """A CBLUE JSON file; document IDs are array positions (``S0``); ``text`` only for test."""
    raw = read_text(path)
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BioNerInputError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(items, list):
        raise BioNerInputError(f"{path}: expected a JSON array of sentences")
    docs = []
    for index, item in enumerate(items):
        here = f"{path}: item {index}"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise BioNerInputError(f"{here}: expected an object with a 'text' string")
        try:
            spans = [
                (e["start_idx"], e["end_idx"], e["type"], e.get("entity"))
                for e in item.get("entities", [])
            ]
        except (KeyError, TypeError, AttributeError):
            raise BioNerInputError(f"{here}: entities need start_idx, end_idx and type") from None
        docs.append(_sentence(f"S{index}", item["text"], spans, here))
    return docs
