"""Reading corpus files with errors that name the file and line, never a deep traceback."""

from __future__ import annotations

from pathlib import Path

from hf_bioner.schema import BioNerInputError


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text; a missing file or bad byte names the file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BioNerInputError(f"{path}: file not found") from None
    except OSError as err:
        raise BioNerInputError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BioNerInputError(
            f"{path}:{line}: not valid UTF-8 (byte {data[err.start]:#04x} at offset {err.start})"
        ) from None


def numbered_lines(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, line without its line end)`` pairs, numbered from 1."""
    return [(i, line.rstrip("\r")) for i, line in enumerate(read_text(path).split("\n"), 1)]
