"""Reading and writing documents and their entities: JSON Lines, plain text and PubTator."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from hf_bioner.corpora.files import numbered_lines
from hf_bioner.schema import BioNerInputError, validate_entities


def read_jsonl(path: str | Path) -> list[dict]:
    """Objects of a JSON Lines file; a bad line is an error naming the file and line."""
    rows = []
    for line_no, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BioNerInputError(f"{path}:{line_no}: invalid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise BioNerInputError(f"{path}:{line_no}: expected a JSON object")
        rows.append(row)
    return rows


def write_jsonl(rows: Iterable[dict], path: str | Path) -> int:
    """Write one JSON object per line (UTF-8, Chinese unescaped); returns the row count."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_tagged(path: str | Path) -> dict[str, dict]:
    """``{id: row}`` of a JSON Lines file of ``{"id", "entities", ["text"]}`` rows, validated."""
    rows: dict[str, dict] = {}
    for index, row in enumerate(read_jsonl(path)):
        where = f"{path}: row {index + 1}"
        if "id" not in row or not isinstance(row.get("entities"), list):
            raise BioNerInputError(f"{where}: needs an 'id' and an 'entities' list")
        if row["id"] in rows:
            raise BioNerInputError(f"{where}: id {row['id']!r} occurs twice")
        if "text" in row:
            validate_entities(row["text"], row["entities"], where=f"{where} entities")
        rows[str(row["id"])] = row
    return rows


def align_by_id(gold: dict[str, dict], predicted: dict[str, dict]) -> tuple[list, list, list[str]]:
    """Entity lists of predictions and gold in the same unit order.

    A gold unit with no prediction row counts as predicting nothing (its id is returned so
    the caller can warn); a predicted id that is not in gold is an error.
    """
    unknown = [key for key in predicted if key not in gold]
    if unknown:
        raise BioNerInputError(
            f"{len(unknown)} predicted id(s) are not in the gold file, e.g. {unknown[0]!r}"
        )
    missing = [key for key in gold if key not in predicted]
    preds = [predicted[key]["entities"] if key in predicted else [] for key in gold]
    refs = [gold[key]["entities"] for key in gold]
    return preds, refs, missing


def read_texts(path: str | Path) -> list[dict]:
    """Documents to tag, as ``{"id", "text"}`` rows, from a file of any supported format.

    ``.jsonl``: objects with a ``text`` (and optionally an ``id``); PubTator (title and
    abstract lines, detected by content): title + " " + abstract, as the corpora read them;
    anything else: plain text, one document per non-empty line.
    """
    from hf_bioner.corpora.pubtator import read_pubtator

    path = Path(path)
    if not path.is_file():
        raise BioNerInputError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        rows = []
        for index, row in enumerate(read_jsonl(path)):
            # A row without a text is kept: the tagger reports it and tags the others.
            rows.append({"id": str(row.get("id", index + 1)), "text": row.get("text")})
        return rows
    first = next((line for _, line in numbered_lines(path) if line.strip()), "")
    if "|t|" in first or "|a|" in first:
        return [{"id": doc.doc_id, "text": doc.text} for doc in read_pubtator(path)]
    return [
        {"id": str(line_no), "text": line} for line_no, line in numbered_lines(path) if line.strip()
    ]


def write_pubtator(rows: Iterable[dict], path: str | Path) -> int:
    """Tagged documents as PubTator: one text line and one line per entity each.

    The text is written as a title line (``id|t|text``) with an empty abstract, so offsets
    stay those of the text (PubTator offsets count title + " " + abstract).
    """
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            text = row["text"].replace("\n", " ")
            out.write(f"{row['id']}|t|{text}\n{row['id']}|a|\n")
            for e in row.get("entities") or []:
                out.write(
                    f"{row['id']}\t{e['start']}\t{e['end']}\t{e['word']}\t{e['entity_group']}\t-\n"
                )
            out.write("\n")
            count += 1
    return count
