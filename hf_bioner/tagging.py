"""Symbolic tagging: entities <-> the tagged text a generative model writes, and back.

NER is treated as generation: the model rewrites the sentence with symbols around the
entities, and :func:`decode` maps the symbols back to character offsets in the *input*.

Two schemes:

``paper`` (the original method's format)
    one line per entity type that occurs, ``"{type}: {sentence with that type's mentions in
    [brackets]}"``, lines joined by ``"  \\n"``. Types never interact, so spans of different
    types may overlap freely; two *crossing* spans of one type cannot be written.
``inline``
    one copy of the sentence with typed tags, ``<Disease>breast cancer</Disease>``; nested
    mentions (of any types) give nested tags; crossing spans cannot be written.

A sentence without entities is :data:`EMPTY_TARGET` in the ``paper`` scheme and the plain copy
in the ``inline`` scheme (:func:`decode` reads ``None`` as empty in both).

Decoding never trusts the model: the copied text is aligned to the input character by
character (a fast exact path first, ``difflib`` when the text drifted), so returned entities
always satisfy ``text[start:end] == entity["text"]``; what could not be recovered, or was
repaired, is described in the returned ``problems``.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hf_bioner.schema import (
    BioNerInputError,
    Entity,
    dedupe_entities,
    sort_entities,
    validate_entities,
)

SCHEMES = ("paper", "inline")
EMPTY_TARGET = "None"
LINE_SEPARATOR = "  \n"

# A tag candidate in inline output: no space after "<", no "<", ">" or "/" in the name.
_TAG = re.compile(r"<(/?)([^\s<>/][^<>/\n]{0,40}?)\s*>")
_VALID_NAME = re.compile(r"[^\s<>/:：\[\]][^<>/:：\[\]\n]*")
_HEADER = re.compile(r"\s*([^:：\n\[\]<>/]{1,80}?)\s*[:：]")
_BRACKETS = "[]"


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise BioNerInputError(f"unknown tagging scheme {scheme!r}; valid: {', '.join(SCHEMES)}")


# --------------------------------------------------------------------------------- encode


def _crosses(a: Entity, b: Entity) -> bool:
    """Overlap where neither span contains the other: no bracketing can express both."""
    return a["start"] < b["start"] < a["end"] < b["end"] or (
        b["start"] < a["start"] < b["end"] < a["end"]
    )


def _split_expressible(entities: Iterable[Entity], scheme: str) -> tuple[list, list]:
    """(kept, lost): keep in canonical order every entity that crosses no kept one.

    Canonical order makes the choice deterministic, so training data and the
    :func:`inexpressible` count agree.
    """
    kept: list[Entity] = []
    lost: list[Entity] = []
    for ent in dedupe_entities(entities):
        rivals = (k for k in kept if scheme == "inline" or k["type"] == ent["type"])
        (lost if any(_crosses(ent, k) for k in rivals) else kept).append(ent)
    return kept, lost


def inexpressible(entities: Iterable[Entity], scheme: str = "paper") -> list[Entity]:
    """The entities :func:`encode` drops because the scheme cannot write them (crossing spans).

    Exact duplicates are not counted: they collapse to one mention without losing anything.
    """
    _check_scheme(scheme)
    return _split_expressible(entities, scheme)[1]


def _display_names(labels: Iterable[str], type_names: Mapping[str, str] | None) -> dict:
    """Label -> name written in the output, checked so that decoding can read it back."""
    names = {}
    for label in labels:
        if type_names is not None and label not in type_names:
            raise BioNerInputError(
                f"entity type {label!r} has no display name in type_names "
                f"(known: {', '.join(type_names)})"
            )
        name = label if type_names is None else type_names[label]
        if not isinstance(name, str) or not _VALID_NAME.fullmatch(name) or name != name.strip():
            raise BioNerInputError(
                f"type name {name!r} (for {label!r}) cannot be written in tagged text: it must "
                "be non-empty, without newlines, <, >, /, :, [ or ], and no edge spaces"
            )
        names[label] = name
    if type_names is not None:
        seen: dict[str, str] = {}
        for label, name in type_names.items():
            if name in seen and seen[name] != label:
                raise BioNerInputError(
                    f"type_names gives {seen[name]!r} and {label!r} the same name {name!r}"
                )
            seen[name] = label
    return names


def _type_rank(
    labels: Iterable[str], type_names: Mapping[str, str] | None, type_order: Sequence[str] | None
) -> dict[str, int]:
    """Label -> position: type_order, else type_names' order, else sorted; others sorted after."""
    base = list(type_order) if type_order is not None else list(type_names or ())
    order = list(dict.fromkeys(base))
    order += sorted(set(labels) - set(order))
    return {label: i for i, label in enumerate(order)}


def _render(text: str, spans: list[tuple[int, int, int, str, str]]) -> str:
    """Insert markers into ``text``; spans are (start, end, rank, open, close), laminar.

    At one position closes come first (inner before outer), then opens (outer before inner;
    for identical spans the lower rank is outer), then the text character: proper nesting.
    """
    opens: dict[int, list] = {}
    closes: dict[int, list] = {}
    for span in spans:
        opens.setdefault(span[0], []).append(span)
        closes.setdefault(span[1], []).append(span)
    out: list[str] = []
    last = 0
    for pos in sorted(set(opens) | set(closes)):
        out.append(text[last:pos])
        for *_, close in sorted(closes.get(pos, ()), key=lambda x: (-x[0], -x[2])):
            out.append(close)
        for _, _, _, open_, _ in sorted(opens.get(pos, ()), key=lambda x: (-x[1], x[2])):
            out.append(open_)
        last = pos
    out.append(text[last:])
    return "".join(out)


def encode(
    text: str,
    entities: Iterable[Entity],
    scheme: str = "paper",
    type_names: Mapping[str, str] | None = None,
    type_order: Sequence[str] | None = None,
) -> str:
    """The target string for ``text`` with ``entities`` in ``scheme``.

    Entities the scheme cannot express are left out (count them with :func:`inexpressible`).
    """
    _check_scheme(scheme)
    entities = list(entities)
    validate_entities(text, entities)
    kept, _ = _split_expressible(entities, scheme)
    if not kept:
        # inline: the untagged copy. "None" made the first token a yes/no guess that greedy
        # decoding lost on sentences with entities (44% of NCBI-disease rows are empty).
        return text if scheme == "inline" else EMPTY_TARGET
    labels = {e["type"] for e in kept}
    names = _display_names(labels, type_names)
    rank = _type_rank(labels, type_names, type_order)
    if scheme == "inline":
        spans = [
            (
                e["start"],
                e["end"],
                rank[e["type"]],
                f"<{names[e['type']]}>",
                f"</{names[e['type']]}>",
            )
            for e in kept
        ]
        return _render(text, spans)
    lines = []
    for label in sorted(labels, key=rank.__getitem__):
        spans = [(e["start"], e["end"], 0, "[", "]") for e in kept if e["type"] == label]
        lines.append(f"{names[label]}: {_render(text, spans)}")
    return LINE_SEPARATOR.join(lines)


# --------------------------------------------------------------------------------- decode


@dataclass(frozen=True)
class _Marker:
    """A candidate symbol in the output.

    ``key`` pairs opens with closes: the label when the name is known, else ``"?" + raw``;
    ``raw`` is the symbol as written; ``repaired`` marks a name read leniently (case).
    """

    start: int
    end: int
    close: bool
    key: str
    raw: str
    repaired: bool = False


@dataclass
class _Placed:
    """A marker and the range of input offsets it may stand at (usually a single one)."""

    marker: _Marker
    lo: int
    hi: int


@dataclass
class _Alignment:
    """Where the markers of one output segment fall in the input text."""

    placed: list[_Placed]
    tmap: list[int] | None  # output index -> input index of matched text chars (-1: none)
    edits: int


_FOLD = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "`": "'",
        "´": "'",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "−": "-",
    }
)


@functools.lru_cache(maxsize=65536)
def _fold_char(c: str) -> str:
    """One character -> one comparison key, so that harmless rewrites still align."""
    if c.isspace():
        return " "
    c = c.translate(_FOLD)
    n = unicodedata.normalize("NFKC", c)
    c = n if len(n) == 1 else c
    low = c.lower()
    return low if len(low) == 1 else c


def _fold(s: str) -> str:
    return "".join(map(_fold_char, s))


def _strip_markers(body: str, markers: list[_Marker]) -> tuple[str, list[int]]:
    """The body without markers, and for each marker the index in that string where it was."""
    parts, where, last, removed = [], [], 0, 0
    for m in markers:
        parts.append(body[last : m.start])
        where.append(m.start - removed)
        removed += m.end - m.start
        last = m.end
    parts.append(body[last:])
    return "".join(parts), where


def _exact_fast(body: str, markers: list[_Marker], text: str) -> _Alignment | None:
    """All markers are symbols and the rest is the input (up to edge spaces): O(n), no DP."""
    plain, where = _strip_markers(body, markers)
    core = text.strip()
    if plain.strip() != core:
        return None
    lo, hi = len(text) - len(text.lstrip()), len(text.rstrip())
    shift = lo - (len(plain) - len(plain.lstrip()))
    placed = []
    for m, w in zip(markers, where, strict=True):
        pos = min(max(w + shift, lo), hi)
        placed.append(_Placed(m, pos, pos))
    return _Alignment(placed, None, 0)


def _exact_greedy(body: str, markers: list[_Marker], text: str) -> _Alignment | None:
    """Exact copy where the input itself contains marker-like characters.

    Walk both strings; a candidate marker that matches the input here is read as text
    (text first: for single characters this finds an embedding whenever one exists).
    """
    start_of = {m.start: m for m in markers}
    tmap = [-1] * len(body)
    lead = len(text) - len(text.lstrip())
    core_end = len(text.rstrip())
    i, j = 0, lead
    n = len(body)
    while i < n and body[i].isspace() and i not in start_of:
        i += 1
    placed = []
    while i < n:
        m = start_of.get(i)
        width = m.end - m.start if m else 1
        if j < core_end and body[i : i + width] == text[j : j + width]:
            for k in range(width):
                tmap[i + k] = j + k
            i, j = i + width, j + width
        elif m:
            placed.append(_Placed(m, j, j))
            i = m.end
        elif j >= core_end and body[i].isspace():
            i += 1
        else:
            return None
    if j != core_end:
        return None
    return _Alignment(placed, tmap, 0)


_ANCHOR = 12  # length of the unique substrings that pin long alignments
_SMALL = 40_000  # len(a) * len(b) below which difflib is fast enough on its own


def _matching_blocks(a: str, b: str, lo_a: int = 0, lo_b: int = 0) -> list[tuple[int, int, int]]:
    """Matching stretches ``(i, j, size)`` of ``a`` and ``b``, in order.

    difflib without its junk heuristic (which would ignore common letters) is quadratic, too
    slow for drifted documents; so equal ends are matched directly and long middles are first
    cut at substrings that occur once in each string (as patience diff does).
    """
    n = min(len(a), len(b))
    p = 0
    while p < n and a[p] == b[p]:
        p += 1
    q = 0
    while q < n - p and a[-1 - q] == b[-1 - q]:
        q += 1
    blocks = [(lo_a, lo_b, p)] if p else []
    mid_a, mid_b = a[p : len(a) - q], b[p : len(b) - q]
    if mid_a and mid_b:
        blocks += _middle_blocks(mid_a, mid_b, lo_a + p, lo_b + p)
    if q:
        blocks.append((lo_a + len(a) - q, lo_b + len(b) - q, q))
    return blocks


def _middle_blocks(a: str, b: str, lo_a: int, lo_b: int) -> list[tuple[int, int, int]]:
    anchors = _anchors(a, b) if len(a) * len(b) > _SMALL else []
    if not anchors:
        junk = len(a) * len(b) > 100 * _SMALL  # huge and without anchors: garbage, be quick
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=junk)
        return [(lo_a + i, lo_b + j, k) for i, j, k in matcher.get_matching_blocks() if k]
    blocks: list[tuple[int, int, int]] = []
    end_a = end_b = 0
    for i, j in anchors:
        if i > end_a and j > end_b:
            blocks += _matching_blocks(a[end_a:i], b[end_b:j], lo_a + end_a, lo_b + end_b)
        blocks.append((lo_a + i, lo_b + j, _ANCHOR))
        end_a, end_b = i + _ANCHOR, j + _ANCHOR
    if end_a < len(a) and end_b < len(b):
        blocks += _matching_blocks(a[end_a:], b[end_b:], lo_a + end_a, lo_b + end_b)
    return blocks


def _anchors(a: str, b: str) -> list[tuple[int, int]]:
    """Non-overlapping pairs of equal substrings unique in both, increasing in both strings."""

    def unique(s: str) -> dict[str, int]:
        seen: dict[str, int] = {}
        for i in range(len(s) - _ANCHOR + 1):
            gram = s[i : i + _ANCHOR]
            seen[gram] = -1 if gram in seen else i
        return {g: i for g, i in seen.items() if i >= 0}

    in_b = unique(b)
    pairs = sorted((i, in_b[g]) for g, i in unique(a).items() if g in in_b)
    # Longest chain increasing in both (patience sorting over j).
    tails: list[int] = []
    tail_at: list[int] = []
    back = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        back[k] = tail_at[pos - 1] if pos else -1
        if pos == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[pos], tail_at[pos] = j, k
    chain = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        chain.append(pairs[k])
        k = back[k]
    chosen: list[tuple[int, int]] = []
    for i, j in reversed(chain):
        if not chosen or (i >= chosen[-1][0] + _ANCHOR and j >= chosen[-1][1] + _ANCHOR):
            chosen.append((i, j))
    return chosen


def _fuzzy(body: str, markers: list[_Marker], text: str) -> _Alignment:
    """Character alignment (difflib) of a drifted copy against the input.

    Candidates whose string does not occur in the input are certainly symbols and are left out
    of the alignment; the others are symbols only if the alignment does not match them as text.
    A symbol then stands between the input positions of its matched neighbours.
    """
    maybe_text = {m for m in markers if body[m.start : m.end] in text}
    symbol_chars = set()
    for m in markers:
        if m not in maybe_text:
            symbol_chars.update(range(m.start, m.end))
    kept = [i for i in range(len(body)) if i not in symbol_chars]
    a = "".join(_fold_char(body[i]) for i in kept)
    tmap = [-1] * len(body)
    for i, j, size in _matching_blocks(a, _fold(text)):
        for k in range(size):
            tmap[kept[i + k]] = j + k
    final = []
    for m in markers:
        span = tmap[m.start : m.end]
        as_text = m in maybe_text and all(span[k] == span[0] + k for k in range(len(span)))
        if not as_text or span[0] < 0:
            final.append(m)
            tmap[m.start : m.end] = [-1] * (m.end - m.start)
    placed = _place(body, final, tmap, len(text))
    return _Alignment(placed, tmap, _count_edits(body, final, tmap, text))


def _place(body: str, markers: list[_Marker], tmap: list[int], n_text: int) -> list[_Placed]:
    """Input range of each symbol: after the last matched char before it, up to the next one."""
    prev = [0] * (len(body) + 1)
    for i, t in enumerate(tmap):
        prev[i + 1] = t + 1 if t >= 0 else prev[i]
    nxt = [n_text] * (len(body) + 1)
    for i in range(len(body) - 1, -1, -1):
        nxt[i] = tmap[i] if tmap[i] >= 0 else nxt[i + 1]
    return [_Placed(m, prev[m.start], max(prev[m.start], nxt[m.end])) for m in markers]


def _count_edits(body: str, markers: list[_Marker], tmap: list[int], text: str) -> int:
    """Characters added, dropped or changed between the copy and the input.

    Spaces only count inside the copied stretch: edge spaces and line ends are not drift.
    """
    symbol = set()
    for m in markers:
        symbol.update(range(m.start, m.end))
    plain = [i for i in range(len(body)) if i not in symbol]
    matched = [i for i in plain if tmap[i] >= 0]
    if not matched:
        return sum(not body[i].isspace() for i in plain) + sum(not c.isspace() for c in text)
    first_i, last_i = matched[0], matched[-1]
    hit = {tmap[i] for i in matched}
    first_j, last_j = min(hit), max(hit)
    added = sum(1 for i in plain if tmap[i] < 0 and (first_i < i < last_i or not body[i].isspace()))
    dropped = sum(
        1 for j, c in enumerate(text) if j not in hit and (first_j < j < last_j or not c.isspace())
    )
    changed = sum(body[i] != text[tmap[i]] for i in matched)
    return added + dropped + changed


def _align(body: str, markers: list[_Marker], text: str, special: str) -> _Alignment:
    """Exact paths first (the usual case, fast), difflib alignment when the copy drifted."""
    if not any(c in text for c in special):
        found = _exact_fast(body, markers, text)
    else:
        found = _exact_greedy(body, markers, text)
    return found if found is not None else _fuzzy(body, markers, text)


def _widen_bracket_runs(body: str, al: _Alignment) -> None:
    """A ``[`` symbol next to a ``[`` of the input may stand on either side of it: widen its range.

    ``[[Na]]o`` may mean the entity ``Na`` or ``[Na]``; :func:`_choose_span` picks later.
    """
    if al.tmap is None:
        return
    for p in al.placed:
        char = body[p.marker.start]
        k = p.marker.start - 1
        while k >= 0 and body[k] == char:
            if al.tmap[k] >= 0:
                p.lo = min(p.lo, al.tmap[k])
            k -= 1
        k = p.marker.end
        while k < len(body) and body[k] == char:
            if al.tmap[k] >= 0:
                p.hi = max(p.hi, al.tmap[k] + 1)
            k += 1


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _choose_span(text: str, open_: _Placed, close: _Placed, brackets: bool) -> tuple[int, int]:
    """Pick offsets inside the two ranges: brackets of the input balanced, then narrowest.

    Narrowest is right for a deleted stretch beside a symbol (the entity does not include
    what the model dropped) and for ``[[Na]]o`` (the entity ``Na``); balance keeps
    ``[3H]-naloxone`` and ``PDGF[B]`` whole.
    """
    best = (open_.hi, close.lo)
    if not brackets or (open_.lo == open_.hi and close.lo == close.hi):
        return best
    if (open_.hi - open_.lo + 1) * (close.hi - close.lo + 1) > 64:
        return best
    options = [
        (not _balanced(text[s:e]), e - s, -s, s, e)
        for s in range(open_.lo, open_.hi + 1)
        for e in range(close.lo, close.hi + 1)
        if s < e
    ]
    return min(options)[3:] if options else best


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _poorly_mapped(
    body: str, text: str, al: _Alignment, open_: _Placed, close: _Placed, s: int, e: int
) -> bool:
    """After a drifted copy: does too little of the marked output text land inside [s, e)?"""
    if al.tmap is None or not al.edits:
        return False
    inside = [
        al.tmap[i]
        for i in range(open_.marker.end, close.marker.start)
        if not body[i].isspace() and (al.tmap[i] >= 0 or not _is_symbol(al, i))
    ]
    hits = sum(1 for t in inside if s <= t < e)
    wanted = sum(1 for c in text[s:e] if not c.isspace())
    return hits < 0.5 * len(inside) or hits < 0.5 * wanted


def _is_symbol(al: _Alignment, i: int) -> bool:
    return any(p.marker.start <= i < p.marker.end for p in al.placed)


class _Resolver:
    """Reads type names in the output back to labels (display name, label, or any case)."""

    def __init__(self, type_names: Mapping[str, str] | None):
        self.open = type_names is None
        self.exact: dict[str, str] = {}
        for label, name in (type_names or {}).items():
            self.exact.setdefault(str(name), label)
        for label in type_names or {}:
            self.exact.setdefault(label, label)
        self.loose: dict[str, str] = {}
        for key, label in self.exact.items():
            self.loose.setdefault(key.casefold(), label)
        self.prefixes = sorted(self.exact, key=len, reverse=True)

    def lookup(self, name: str) -> tuple[str | None, bool]:
        """(label or None if unknown, whether the name was read leniently)."""
        if name in self.exact:
            return self.exact[name], False
        if self.open:
            return name, False
        label = self.loose.get(name.strip().casefold())
        return label, label is not None


def _spans(
    body: str, markers: list[_Marker], text: str, scheme: str, problems: list[str], where: str
) -> list[Entity]:
    """Entities over ``text`` from one output segment and its candidate markers."""
    special = _BRACKETS if scheme == "paper" else "<"
    al = _align(body, markers, text, special)
    if al.edits:
        problems.append(
            f"{where}: the copied sentence differs from the input ({al.edits} characters "
            "added, dropped or changed); entities were aligned to the input"
        )
    if scheme == "paper":
        _widen_bracket_runs(body, al)
    entities = []
    for open_, close in _pair(al.placed, problems, where):
        shown = body[open_.marker.start : close.marker.end]
        key = open_.marker.key
        if key.startswith("?"):
            problems.append(f"{where}: unknown entity type {key[1:]!r}; dropped {shown!r}")
            continue
        if open_.marker.repaired or close.marker.repaired:
            problems.append(f"{where}: tag name in {shown!r} read as type {key!r}")
        s, e = _trim(text, *_choose_span(text, open_, close, scheme == "paper"))
        if s >= e:
            problems.append(f"{where}: empty {key} span {shown!r} dropped")
        elif _poorly_mapped(body, text, al, open_, close, s, e):
            problems.append(f"{where}: could not map {key} span {shown!r} to the input; dropped")
        else:
            entities.append({"start": s, "end": e, "type": key, "text": text[s:e]})
    return entities


def _pair(placed: list[_Placed], problems: list[str], where: str) -> list[tuple]:
    """Match opens with closes of the same type (a stack); report what stays unmatched.

    A close that skips over other open tags (crossing tags) still closes its own open tag:
    the model meant both spans, so both are kept, with a note.
    """
    stack: list[_Placed] = []
    pairs = []
    for p in placed:
        if not p.marker.close:
            stack.append(p)
            continue
        key = p.marker.key
        at = next((k for k in range(len(stack) - 1, -1, -1) if stack[k].marker.key == key), None)
        if at is None:
            problems.append(f"{where}: {p.marker.raw!r} closes nothing; ignored")
            continue
        if at != len(stack) - 1:
            problems.append(f"{where}: {p.marker.raw!r} closes across other open tags")
        pairs.append((stack.pop(at), p))
    for p in stack:
        problems.append(f"{where}: {p.marker.raw!r} is never closed; dropped")
    return pairs


# ----------------------------------------------------------------------------- paper lines


@dataclass
class _Section:
    """One ``type: sentence`` line of paper output (plus continuation lines)."""

    line_no: int
    name: str
    label: str | None
    lines: list[str]


def _header(line: str, resolver: _Resolver) -> tuple[str, str] | None:
    """(type name, rest of line) when the line starts like ``name:``."""
    stripped = line.lstrip()
    for name in resolver.prefixes:
        if stripped.startswith(name):
            after = re.match(r"\s*[:：]", stripped[len(name) :])
            if after:
                return name, stripped[len(name) + after.end() :]
    found = _HEADER.match(line)
    if found:
        return found.group(1), line[found.end() :]
    return None


def _without_brackets(s: str) -> str:
    return s.replace("[", "").replace("]", "")


def _continues(section: _Section, line: str, text: str) -> bool:
    """For multi-line inputs: does this line carry on the section's copy of the input?"""
    so_far = _without_brackets("\n".join(section.lines)).strip()
    core = _without_brackets(text.strip())
    grown = _without_brackets("\n".join([*section.lines, line])).strip()
    return len(so_far) < len(core) and core.startswith(grown)


def _sections(output: str, text: str, resolver: _Resolver, problems: list[str]) -> list[_Section]:
    """Split paper output into type lines; preambles and stray lines are reported."""
    sections: list[_Section] = []
    multiline = "\n" in text
    for no, line in enumerate(output.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            if sections and multiline:  # a blank line of a multi-line input
                sections[-1].lines.append(line)
            continue
        if sections and multiline and _continues(sections[-1], line, text):
            sections[-1].lines.append(line)
            continue
        head = _header(line, resolver)
        label, repaired = resolver.lookup(head[0]) if head else (None, False)
        if head and label is not None:
            if repaired:
                problems.append(f"line {no}: type name {head[0]!r} read as {label!r}")
            sections.append(_Section(no, head[0], label, [head[1]]))
        elif sections and multiline:
            sections[-1].lines.append(line)
        elif head:
            problems.append(f"line {no}: unknown entity type {head[0]!r}; line ignored")
        else:
            problems.append(f"line {no}: not a 'type: sentence' line; ignored: {line[:60]!r}")
    return sections


def _decode_paper(output: str, text: str, resolver: _Resolver, problems: list[str]) -> list:
    entities: list[Entity] = []
    seen: dict[str, int] = {}
    for sec in _sections(output, text, resolver, problems):
        where = f"line {sec.line_no} ({sec.name})"
        if sec.label in seen:
            problems.append(
                f"{where}: type {sec.label!r} already had line {seen[sec.label]}; merged"
            )
        seen.setdefault(sec.label, sec.line_no)
        body = "\n".join(sec.lines)
        if not body.strip():
            problems.append(f"{where}: no sentence after the type name; ignored")
            continue
        markers = [
            _Marker(i, i + 1, c == "]", sec.label, c) for i, c in enumerate(body) if c in _BRACKETS
        ]
        if not markers:
            problems.append(f"{where}: no entity in brackets")
            continue
        entities.extend(_spans(body, markers, text, "paper", problems, where))
    return entities


# ---------------------------------------------------------------------------- inline output


def _inline_markers(body: str, resolver: _Resolver) -> list[_Marker]:
    """Tag candidates, names resolved leniently so that ``<disease>…</Disease>`` still pairs."""
    markers = []
    for found in _TAG.finditer(body):
        label, repaired = resolver.lookup(found.group(2))
        key = label if label is not None else "?" + found.group(2)
        close = found.group(1) == "/"
        markers.append(_Marker(found.start(), found.end(), close, key, found.group(), repaired))
    return markers


def _decode_inline(output: str, text: str, resolver: _Resolver, problems: list[str]) -> list:
    body = output.strip()
    lines = [ln for ln in body.split("\n") if ln.strip()]
    if len(lines) > 1 and "\n" not in text.strip():
        # A preamble or trailing chatter on lines of their own: prefer an exact copy.
        for ln in lines:
            plain, _ = _strip_markers(ln, _inline_markers(ln, resolver))
            if plain.strip() == text.strip():
                problems.append(f"output: ignored {len(lines) - 1} line(s) besides the sentence")
                body = ln
                break
    markers = _inline_markers(body, resolver)
    if not markers:
        if body != text.strip():
            problems.append("output: no tags found, and the text differs from the input")
        return []
    return _spans(body, markers, text, "inline", problems, "output")


def decode(
    output: str,
    text: str,
    scheme: str = "paper",
    type_names: Mapping[str, str] | None = None,
) -> tuple[list[Entity], list[str]]:
    """Entities over ``text`` from a model ``output`` in ``scheme``, and what went wrong.

    Returns ``(entities, problems)``: entities deduplicated in canonical order, each with
    ``text[start:end] == entity["text"]``; problems as human-readable strings, one per thing
    that could not be recovered or was repaired. Raises only for an unknown scheme.
    """
    _check_scheme(scheme)
    if not isinstance(output, str) or not isinstance(text, str):
        return [], ["output and text must be strings"]
    if output.strip() == EMPTY_TARGET:
        return [], []
    if not output.strip():
        if not text.strip():  # the inline copy of a blank text
            return [], []
        return [], [f"empty output (a sentence without entities is {EMPTY_TARGET!r})"]
    problems: list[str] = []
    resolver = _Resolver(type_names)
    if scheme == "paper":
        entities = _decode_paper(output, text, resolver, problems)
    else:
        entities = _decode_inline(output, text, resolver, problems)
    return sort_entities(dedupe_entities(entities)), problems
