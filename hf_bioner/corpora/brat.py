"""brat standoff folders (JNLPBA): ``NAME.txt`` with the text, ``NAME.ann`` with its spans.

Only text-bound annotations are read: ``T<n><TAB><type> <start> <end><TAB><mention>``
(0-based, end exclusive). Other annotation kinds (relations ``R``, events ``E``, notes ``#``,
attributes ``A``/``M``) are skipped; discontinuous spans (``start end;start end``) are refused
with an error, because a contiguous mention is what NER predicts.
"""

from __future__ import annotations

from pathlib import Path

from hf_bioner.corpora.document import Document
from hf_bioner.corpora.files import numbered_lines, read_text
from hf_bioner.schema import BioNerInputError, make_entity


def read_ann(path: Path, text: str) -> list:
    """The text-bound annotations of one ``.ann`` file as entities over ``text``."""
    entities = []
    for line_no, line in numbered_lines(path):
        if not line.startswith("T"):
            continue
        here = f"{path}:{line_no}"
        fields = line.split("\t")
        if len(fields) != 3:
            raise BioNerInputError(f"{here}: expected 'T<n><TAB>type start end<TAB>text'")
        if ";" in fields[1]:
            raise BioNerInputError(f"{here}: discontinuous spans are not supported")
        try:
            type_, start, end = fields[1].split(" ")
            start, end = int(start), int(end)
        except ValueError:
            raise BioNerInputError(
                f"{here}: cannot read 'type start end' from {fields[1]!r}"
            ) from None
        entity = make_entity(text, start, end, type_, here)
        if entity["text"] != fields[2]:
            raise BioNerInputError(
                f"{here}: mention {fields[2]!r} does not match the text at {start}-{end} "
                f"({entity['text']!r})"
            )
        entities.append(entity)
    return entities


def read_brat_dir(folder: str | Path) -> list[Document]:
    """Every ``.txt``/``.ann`` pair in ``folder``, sorted by name (the document ID)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BioNerInputError(f"{folder}: brat folder not found")
    docs = []
    for txt in sorted(folder.glob("*.txt")):
        ann = txt.with_suffix(".ann")
        if not ann.exists():
            raise BioNerInputError(f"{txt}: no annotation file {ann.name} beside it")
        text = read_text(txt)
        docs.append(Document(txt.stem, text, read_ann(ann, text)))
    if not docs:
        raise BioNerInputError(f"{folder}: no .txt files")
    return docs
