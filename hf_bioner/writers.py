"""Writers for tagged documents, one document at a time, so output streams as it is made.

Each row is ``{"id", "text", "entities": [{"entity_group", "start", "end", "word", "score"}]}``
(``entities`` is ``None`` and ``error`` says why for a document that could not be tagged).

=============  =======================================================  =========
format         what                                                     resumable
=============  =======================================================  =========
``jsonl``      one JSON object per document                             yes
``pubtator``   ``id|t|text`` + one tab-separated line per entity        yes
``bioc``       BioC XML collection (``bioc`` library), one passage      no
``bioc-json``  BioC JSON collection                                     no
``brat``       a folder with ``ID.txt`` + ``ID.ann`` per document       yes
=============  =======================================================  =========

Resumable formats can be appended to: :func:`written_ids` says which documents an existing
output already holds, and the tagger skips them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from hf_bioner.schema import BioNerInputError, readable_type_name

FORMATS = ("jsonl", "pubtator", "bioc", "bioc-json", "brat")
RESUMABLE = ("jsonl", "pubtator", "brat")


class Writer:
    """Base: ``write(row)`` for each document, then ``close()``; usable as a context manager."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.append = append
        self.count = 0

    def write(self, row: dict) -> None:
        self._write(row)
        self.count += 1

    @staticmethod
    def key(doc_id: str) -> str:
        """How a document id appears in this output (what :func:`written_ids` returns)."""
        return str(doc_id)

    def _write(self, row: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LineWriter(Writer):
    record_end = "\n"  # what ends one document's text in the file

    def __init__(self, path, append=False):
        super().__init__(path, append)
        if str(path) == "-":
            self.file = sys.stdout
            return
        if append:
            trim_partial(self.path, self.record_end)
        self.file = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        if self.file is not sys.stdout:
            self.file.close()


class JsonlWriter(_LineWriter):
    def _write(self, row: dict) -> None:
        self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.file.flush()


class TableWriter(_LineWriter):
    """Standard output, one line per entity: id, start, end, type, text (and its score).

    The type is its readable name ("Cell line", "Drug (药物)"); machine-readable formats keep
    the stable code (``cell_line``, ``dru``). A document that could not be tagged writes
    nothing here (the tagger warns about it on standard error).
    """

    def __init__(self):
        super().__init__("-")

    def _write(self, row: dict) -> None:
        for e in row["entities"] or []:
            score = "" if e["score"] is None else f"\t{e['score']:.3f}"
            kind = readable_type_name(e["entity_group"])
            self.file.write(f"{row['id']}\t{e['start']}\t{e['end']}\t{kind}\t{e['word']}{score}\n")
        self.file.flush()


class PubTatorWriter(_LineWriter):
    """The text as a title line with an empty abstract, so offsets are those of the text."""

    record_end = "\n\n"

    def _write(self, row: dict) -> None:
        doc_id = row["id"]
        text = (row["text"] or "").replace("\n", " ")
        lines = [f"{doc_id}|t|{text}", f"{doc_id}|a|"]
        for e in row["entities"] or []:
            lines.append(f"{doc_id}\t{e['start']}\t{e['end']}\t{e['word']}\t{e['entity_group']}\t-")
        self.file.write("\n".join(lines) + "\n\n")
        self.file.flush()


def trim_partial(path: Path, record_end: str) -> None:
    """Cut a document left half-written by an interrupted run, so appending starts clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    end = record_end.encode()
    if data and not data.endswith(end):
        cut = data.rfind(end)
        path.write_bytes(data[: cut + len(end)] if cut >= 0 else b"")


def _bioc_document(row: dict):
    import bioc

    document = bioc.BioCDocument()
    document.id = str(row["id"])
    passage = bioc.BioCPassage()
    passage.offset = 0
    passage.text = row["text"] or ""
    if row.get("error"):
        document.infons["error"] = row["error"]
    for n, e in enumerate(row["entities"] or [], 1):
        annotation = bioc.BioCAnnotation()
        annotation.id = f"T{n}"
        annotation.infons["type"] = e["entity_group"]
        if e.get("score") is not None:
            annotation.infons["score"] = str(e["score"])
        annotation.add_location(bioc.BioCLocation(e["start"], e["end"] - e["start"]))
        annotation.text = e["word"]
        passage.add_annotation(annotation)
    document.add_passage(passage)
    return document


class BioCXmlWriter(Writer):
    def __init__(self, path, append=False):
        from bioc import biocxml

        super().__init__(path, append)
        self.file = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        self.writer = biocxml.BioCXMLDocumentWriter(self.file)

    def _write(self, row: dict) -> None:
        self.writer.write_document(_bioc_document(row))

    def close(self) -> None:
        self.writer.close()
        self.file.close()


class BioCJsonWriter(Writer):
    """A BioC JSON collection; documents are kept until ``close`` (JSON has no streaming)."""

    def __init__(self, path, append=False):
        import bioc

        super().__init__(path, append)
        self.collection = bioc.BioCCollection()
        self.collection.source = "hf-bioner"

    def _write(self, row: dict) -> None:
        self.collection.add_document(_bioc_document(row))

    def close(self) -> None:
        from bioc import biocjson

        with open(self.path, "w", encoding="utf-8") as f:
            biocjson.dump(self.collection, f, indent=1)


SAFE_NAME = re.compile(r"[^\w.-]+")


class BratWriter(Writer):
    """``ID.txt`` + ``ID.ann`` per document in a folder (text-bound annotations, nested ok)."""

    def __init__(self, path, append=False):
        super().__init__(path, append)
        self.path.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(doc_id: str) -> str:
        return brat_name(doc_id)

    def _write(self, row: dict) -> None:
        name = self.key(row["id"])
        lines = []
        for n, e in enumerate(row["entities"] or [], 1):
            word = e["word"].replace("\n", " ")
            lines.append(f"T{n}\t{e['entity_group']} {e['start']} {e['end']}\t{word}")
        (self.path / f"{name}.txt").write_text(row["text"] or "", encoding="utf-8")
        (self.path / f"{name}.ann").write_text("".join(f"{x}\n" for x in lines), "utf-8")


def brat_name(doc_id: str) -> str:
    return SAFE_NAME.sub("_", str(doc_id)) or "_"


WRITERS = {
    "jsonl": JsonlWriter,
    "pubtator": PubTatorWriter,
    "bioc": BioCXmlWriter,
    "bioc-json": BioCJsonWriter,
    "brat": BratWriter,
}


def open_writer(path: str | Path, fmt: str, append: bool = False) -> Writer:
    if fmt not in WRITERS:
        raise BioNerInputError(f"unknown output format {fmt!r}; valid: {', '.join(FORMATS)}")
    if append and fmt not in RESUMABLE:
        raise BioNerInputError(f"--resume works with {', '.join(RESUMABLE)} output, not {fmt}")
    return WRITERS[fmt](path, append)


def written_ids(path: str | Path, fmt: str) -> set[str]:
    """Ids of the documents an existing output holds whole (for resuming).

    A document an interrupted run left half written is not counted (its writer trims it
    when appending), so it is tagged again.
    """
    path = Path(path)
    if not path.exists():
        return set()
    if fmt == "brat":
        return {p.stem for p in path.glob("*.ann")}
    ids, title = set(), None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # the cut-off end of the file
            if fmt == "jsonl":
                try:
                    ids.add(str(json.loads(line)["id"]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # not a row of ours: its document is tagged again
            elif "|t|" in line:
                title = line.split("|t|", 1)[0]
            elif line == "\n" and title is not None:
                ids.add(title)  # the blank line closes the document
                title = None
    return ids
