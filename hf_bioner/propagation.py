"""Document-level consistency: a name tagged in one sentence of a text is tagged where it
recurs in the text's other sentences.

The model reads a text one sentence at a time, so a sentence that says only "WD" or
"cisplatin" cannot know that an earlier one tagged "Wilson disease (WD)" or "cisplatin";
the selector, scoring each mention in its sentence alone, drops some of them too. People who
annotate a corpus tag every mention of a name in an abstract (NCBI-disease, BC5CDR and
JNLPBA do). So after the model, the selector and the arbiter, :func:`propagate_mentions`
copies each tagged name, with its type, onto its other whole-word occurrences in sentences
where the model tagged none of them, wherever no entity already lies. Within one sentence
the model saw every occurrence and chose: nothing is added there, so a text of one sentence
(as the evaluation sets' units are read) comes back unchanged.

Names match exactly (case included). Not copied: names shorter than :data:`MIN_CHARS`; names
the text's entities give two types; occurrences inside a word (a letter or digit either side;
a hyphen is a boundary, so "cisplatin-induced" holds "cisplatin", as BC5CDR tags it), which
in Chinese text, written without spaces, is almost every occurrence. Where two names could be
copied onto one place, the longer is. Measured on the development sets
(``benchmarks/results/mention_propagation_*.json``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

Span = tuple[int, int]
MIN_CHARS = 2  # shorter names ("a", a single letter or digit) are too often something else


def _sentence_of(spans: Sequence[Span], starts: Sequence[int], offset: int) -> int:
    """The index of the sentence of ``spans`` (sorted; ``starts``: their starts) holding
    ``offset`` (-1: none)."""
    n = bisect_right(starts, offset) - 1
    return n if n >= 0 and offset < spans[n][1] else -1


def _whole_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` has no letter or digit right before or after it."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or after.isalnum())


def propagate_mentions(
    text: str, entities: Sequence[dict], sentences: Sequence[Span], min_chars: int = MIN_CHARS
) -> list[dict]:
    """``entities`` (pipeline entities of ``text``: ``entity_group``, ``start``, ``end``,
    ``word``, ``score``) and a copy of each tagged name on its whole-word occurrences in the
    ``sentences`` (spans of ``text``) where none of its occurrences is tagged and no entity
    overlaps it. A copy has its name's type and the highest score its tagged mentions had.
    Sorted as the pipeline sorts: by start, longer first, then by type."""
    sentences = sorted(sentences)
    starts = [start for start, _ in sentences]
    types: dict[str, set[str]] = {}
    scores: dict[str, float | None] = {}
    tagged_in: dict[str, set[int]] = {}
    covered = bytearray(len(text))  # 1 where an entity lies (a long text: no pairwise checks)
    for e in entities:
        name = text[e["start"] : e["end"]]
        types.setdefault(name, set()).add(e["entity_group"])
        tagged_in.setdefault(name, set()).add(_sentence_of(sentences, starts, e["start"]))
        covered[e["start"] : e["end"]] = b"\x01" * (e["end"] - e["start"])
        if e["score"] is not None and (scores.get(name) is None or e["score"] > scores[name]):
            scores[name] = e["score"]
        else:
            scores.setdefault(name, None)
    added = []
    # Longer names first, so that where "breast cancer" and "cancer" both recur the longer
    # is copied, whatever order the entities came in.
    for name, kinds in sorted(types.items(), key=lambda item: (-len(item[0]), item[0])):
        if len(name.strip()) < min_chars or len(kinds) != 1:
            continue
        (kind,) = kinds
        for match in re.finditer(re.escape(name), text):
            start, end = match.span()
            if not _whole_word(text, start, end):
                continue
            if _sentence_of(sentences, starts, start) in tagged_in[name]:
                continue
            if covered.find(1, start, end) != -1:  # an entity (or a copy) lies there
                continue
            added.append({"entity_group": kind, "start": start, "end": end, "word": name,
                          "score": scores[name]})  # fmt: skip
            covered[start:end] = b"\x01" * (end - start)
    return sorted([*entities, *added], key=lambda e: (e["start"], -e["end"], e["entity_group"]))
