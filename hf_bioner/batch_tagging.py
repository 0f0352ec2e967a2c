"""Tagging many documents: streamed input, chunked tagging, streamed and resumable output.

A million abstracts never sit in memory: :func:`iter_documents` reads files lazily (JSON
Lines and plain text line by line; a PubTator file one file at a time), :func:`tag_stream`
tags them a chunk at a time and writes each document as soon as it is tagged. With
``resume``, documents already in the output are skipped. With ``shard=(k, n)``, a process
tags only documents ``k, k+n, k+2n, ...``; ``--num-proc`` runs ``n`` such processes and
merges their outputs back into input order (:mod:`hf_bioner.shards`).

An unreadable file, a line that is not JSON or a row without text becomes an error row
(``entities: None`` and ``error``), and everything else is still tagged. A document with a
sentence whose answer ran out of tokens keeps its entities and gets ``incomplete`` (the
character spans not fully tagged). A reading error says
where it is (file, line, column); a text that cannot be tagged is named by its row's id.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from hf_bioner.corpora.pubtator import read_pubtator
from hf_bioner.pipeline import CUT_WARNING, text_problem
from hf_bioner.schema import BioNerInputError
from hf_bioner.writers import Writer

TEXT_SUFFIXES = (".txt", ".jsonl", ".pubtator", ".tsv")


def files_of(inputs: Sequence[str | Path]) -> list[Path]:
    """The files named, and the supported files inside folders named (sorted, recursive)."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
            if not found:
                raise BioNerInputError(f"{path}: no {', '.join(TEXT_SUFFIXES)} files in it")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise BioNerInputError(f"{path}: no such file or folder")
    return files


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            yield number, line.rstrip("\r\n")


def _documents_of_file(path: Path) -> Iterator[dict]:
    """``{"id", "text"}`` rows of one file (``text`` None and an ``error`` for a bad row)."""
    if path.suffix == ".jsonl":
        for number, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                # The parser's own message, with the line of the file instead of "line 1".
                error = f"{path}: {err.msg}: line {number} column {err.colno}"
                yield {"id": str(number), "text": None, "error": error}
                continue
            if not isinstance(row, dict):
                error = f"{path}: line {number}: not a JSON object"
                yield {"id": str(number), "text": None, "error": error}
                continue
            yield {"id": str(row.get("id", number)), "text": row.get("text")}
        return
    with open(path, encoding="utf-8") as f:
        head = f.read(4096)
    if "|t|" in head or "|a|" in head:
        for doc in read_pubtator(path):
            yield {"id": doc.doc_id, "text": doc.text}
        return
    for number, line in _lines(path):
        if line.strip():
            yield {"id": str(number), "text": line}


def iter_documents(inputs: Sequence[str | Path]) -> Iterator[dict]:
    """Documents of every input file, in order; ids get the file name when there are several.

    A file that cannot be read (missing permission, invalid UTF-8, bad PubTator) yields one
    error row named after the file, after the documents read from it before the problem.
    """
    files = files_of(inputs)  # now, so that a wrong path fails before any model loads
    return _documents_of_files(files, prefix=len(files) > 1)


def _documents_of_files(files: list[Path], prefix: bool) -> Iterator[dict]:
    for path in files:
        try:
            for row in _documents_of_file(path):
                if prefix:
                    row["id"] = f"{path.name}:{row['id']}"
                yield row
        except (OSError, UnicodeDecodeError, BioNerInputError) as err:
            yield {"id": str(path), "text": None, "error": _read_error(path, err)}


def _read_error(path: Path, err: Exception) -> str:
    """Why a file could not be read, naming the file once."""
    if isinstance(err, UnicodeDecodeError):
        return f"{path}: not UTF-8 text"
    if isinstance(err, OSError) and err.strerror:
        return f"{path}: {err.strerror}"
    message = str(err)  # a PubTator error already starts with "path:line"
    return message if message.startswith(str(path)) else f"{path}: {message}"


def chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def tag_stream(
    tagger,
    documents: Iterable[dict],
    writer: Writer,
    options: dict,
    chunk_size: int = 64,
    skip_ids: set[str] | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = False,
    warn: Callable[[str], None] | None = None,
) -> dict:
    """Tag documents a chunk at a time and write each one; returns counts.

    ``skip_ids`` (resume) are ids already written, compared as the writer names them;
    ``shard=(k, n)`` keeps documents ``k, k+n, ...`` of the stream (skipped ones included,
    so every process of a sharded run sees the same numbering). ``warn`` gets one line per
    document that could not be tagged (the row's ``error`` says the same in the output).
    """
    from tqdm.auto import tqdm

    skip_ids = skip_ids or set()
    counts = {"tagged": 0, "errors": 0, "skipped": 0, "incomplete": 0}
    rank, world = shard

    def mine() -> Iterator[dict]:
        for index, row in enumerate(documents):
            if index % world != rank:
                continue
            if writer.key(row["id"]) in skip_ids:
                counts["skipped"] += 1
                continue
            yield row

    bar = tqdm(desc="documents", unit="doc", disable=not progress)
    for chunk in chunks(mine(), chunk_size):
        problems = [row.get("error") or text_problem(row["text"]) for row in chunk]
        good = [row["text"] for row, problem in zip(chunk, problems, strict=True) if not problem]
        with warnings.catch_warnings():
            # The pipeline names a cut sentence by its index in this chunk; the row says it.
            warnings.filterwarnings("ignore", message=CUT_WARNING)
            results = iter(tagger(good, return_incomplete=True, **options) if good else [])
        for row, problem in zip(chunk, problems, strict=True):
            out = {"id": row["id"], "text": row["text"], "entities": None}
            if problem:
                out["error"] = problem
                counts["errors"] += 1
                if warn is not None:
                    # A reading error names its file and line; a text problem needs its id.
                    warn(problem if row.get("error") else f"document {row['id']}: {problem}")
            else:
                result = next(results)
                out["entities"] = result["entities"]
                counts["tagged"] += 1
                if result["incomplete"]:
                    out["incomplete"] = result["incomplete"]
                    counts["incomplete"] += 1
                    if warn is not None:
                        spans = ", ".join(f"{u['start']}-{u['end']}" for u in out["incomplete"])
                        warn(f"document {row['id']}: characters {spans} not fully tagged")
            writer.write(out)
        bar.update(len(chunk))
    bar.close()
    return counts
