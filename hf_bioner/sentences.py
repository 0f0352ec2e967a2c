"""Sentence units with their character offsets, for English and Chinese text.

LLM taggers work best on sentences, while users and corpora come with whole documents. This
module cuts a document into sentence spans ``(start, end)`` into the original string, so every
prediction made on a sentence maps back to the document by adding ``start``.

The splitter is rule based on purpose: it is fast (a corpus in well under a second), has no
model to download, and its mistakes are harmless for NER because :func:`unit_spans` merges
two sentences whenever a known entity would cross the cut. English cuts after ``.``, ``!``
or ``?`` followed by whitespace and an upper-case letter, digit or opening bracket, unless the
word before the full stop is a common abbreviation (``e.g.``, ``et al.``, ``Fig.``...) or a
single letter (initials). Chinese cuts after ``。``, ``！`` or ``？`` (with any closing quote),
and after English sentence ends inside Chinese text, including an English sentence followed
directly by a Chinese one. A newline is always a cut. :func:`sentence_spans` without a
language uses the Chinese rules (a superset of the English ones) for any text that holds
Chinese characters, so mixed English / Chinese documents are cut between their sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Span = tuple[int, int]

# Words that end with a full stop without ending a sentence (compared lower-cased).
ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "al",
        "et_al",
        "fig",
        "figs",
        "vs",
        "cf",
        "ca",
        "approx",
        "no",
        "nos",
        "vol",
        "eq",
        "eqs",
        "ref",
        "refs",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "sp",
        "spp",
        "var",
        "ssp",
        "cv",
        "ed",
        "eds",
        "inc",
        "ltd",
        "co",
        "corp",
        "jr",
        "sr",
        "viz",
        "etc",
        "resp",
        "min",
        "max",
        "approx",
        "mol",
        "wt",
        "dept",
        "univ",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)

_EN_CANDIDATE = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]*[A-Z0-9])")
_ZH_CANDIDATE = re.compile(r"[。！？!?][”’」』）)]*")
_CJK = "\u4e00-\u9fff\u3400-\u4dbf"
# An English sentence end followed by a Chinese sentence ("... cancer. 患者有...").
_EN_BEFORE_ZH = re.compile(rf"[.!?][\"')\]]*(?=\s*[{_CJK}])")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_NEWLINES = re.compile(r"\n+")
# "2. 5" is a decimal in NCBI-disease's tokenised text, "1." or "IV." an enumerator.
_DECIMAL_GAP = re.compile(r"\d\.\s+\d")
_ENUMERATOR = re.compile(r"(\d{1,2}|[IVX]{1,4}|[a-z])\.")


def is_chinese(text: str) -> bool:
    """True when CJK ideographs make up a sizeable share of the letters in ``text``."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk > 0 and cjk >= latin / 4


def detect_language(text: str) -> str:
    """``"zh"`` for mostly Chinese text, else ``"en"``."""
    return "zh" if is_chinese(text) else "en"


def _no_cut_after(text: str, stop: int) -> bool:
    """Is the full stop at ``text[stop]`` part of an abbreviation, initial or number?"""
    if text[stop] != ".":
        return False
    if stop > 0 and _DECIMAL_GAP.match(text, stop - 1):
        return True
    match = _WORD_BEFORE.search(text, max(0, stop - 12), stop + 1)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    if len(word) == 1 and word.isalpha():
        return True  # an initial such as "J. Smith" or "E. coli"
    before = text[max(0, match.start() - 4) : match.start()].lower()
    if word == "al" and before.endswith("et "):
        return True
    return word in ABBREVIATIONS


def _cut_points(text: str, language: str) -> list[int]:
    """Positions just after each sentence end (before any following whitespace)."""
    cuts = [m.start() for m in _NEWLINES.finditer(text)]
    if language == "zh":
        cuts += [m.end() for m in _ZH_CANDIDATE.finditer(text)]
        # Chinese text often mixes in English sentences.
        english_ends = [*_EN_CANDIDATE.finditer(text), *_EN_BEFORE_ZH.finditer(text)]
        cuts += [m.end() for m in english_ends if not _no_cut_after(text, m.start())]
    else:
        cuts += [
            m.end() for m in _EN_CANDIDATE.finditer(text) if not _no_cut_after(text, m.start())
        ]
    return sorted(set(cuts))


def _trim(text: str, start: int, end: int) -> Span | None:
    """Shrink ``[start, end)`` to exclude surrounding whitespace; None if nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def sentence_spans(text: str, language: str | None = None) -> list[Span]:
    """Split ``text`` into sentence spans; whitespace between sentences belongs to none.

    Without a ``language``, text holding any Chinese character is cut with the Chinese rules
    (which also cut English sentences), so each sentence of a mixed document stands alone.
    """
    language = language or ("zh" if _HAS_CJK.search(text) else "en")
    spans: list[Span] = []
    start = 0
    for cut in [*_cut_points(text, language), len(text)]:
        span = _trim(text, start, cut)
        if span and spans and _ENUMERATOR.fullmatch(text, *spans[-1]):
            spans[-1] = (spans[-1][0], span[1])  # "1." starts the sentence after it
        elif span:
            spans.append(span)
        start = cut
    return spans


def merge_across_entities(spans: Sequence[Span], entities: Iterable[Span]) -> list[Span]:
    """Join neighbouring spans so no entity ``(start, end)`` crosses a span boundary.

    An entity that starts in one sentence and ends in a later one makes all sentences in
    between one unit; this keeps every mention, at the price of a longer unit.
    """
    merged = list(spans)
    for ent_start, ent_end in sorted(entities):
        first = next((i for i, (s, e) in enumerate(merged) if s <= ent_start < e), None)
        last = next((i for i, (s, e) in enumerate(merged) if s < ent_end <= e), None)
        if first is None or last is None:
            # The entity starts or ends in the whitespace between two sentences.
            first = max((i for i, (s, _) in enumerate(merged) if s <= ent_start), default=0)
            last = min(
                (i for i, (_, e) in enumerate(merged) if e >= ent_end), default=len(merged) - 1
            )
        if first != last:
            merged[first : last + 1] = [(merged[first][0], merged[last][1])]
    return merged


def unit_spans(text: str, entities: Iterable[Span] = (), language: str | None = None) -> list[Span]:
    """Sentence spans of ``text``, merged so no given entity crosses a boundary."""
    return merge_across_entities(sentence_spans(text, language), entities)
