"""JSON Lines of documents and their entities: reading, writing, aligning by id.

Documents to tag are read by :mod:`hf_bioner.batch_tagging`, tagged output is written by
:mod:`hf_bioner.writers`.
"""

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
