"""Candidate entities for the selector: gold spans and the near misses it must reject.

The generator's typical mistakes are a boundary off by a word or two and a plausible span
with the wrong type. So, per gold entity of a sentence, the selector sees:

* the gold span (label 1);
* boundary variants: the left and/or right edge moved by 1-3 units, which are words and
  punctuation marks in English and characters in Chinese (truncated and extended spans);
* the same span with another type of the corpus;
* and, per sentence, the generator's own false positives on training text (hard negatives).

A gold entity and its variants form a *group*: the contrastive loss ranks the gold span
above its own variants. Every negative differs from every gold (start, end, type) of its
sentence, so nothing correct is ever taught as wrong.

Each candidate is shown to the model as text in the sentence's language
(:func:`selector_input`), in one of two formats:

``sentence-first`` (what new selectors learn)
    the sentence as it is, then a question naming the span and the type. Every candidate of
    a sentence begins with the same text, so a causal model reads it once and only each
    question is read per candidate (:meth:`~hf_bioner.selector.model.EntitySelector.encode_shared`).
``bracketed`` (the first selectors)
    the sentence with the span in ``[ ]``, then the question: every candidate's text differs
    from its span on, so each is read whole.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, NotRequired, TypedDict

from hf_bioner.schema import EntityType, Record, TypeSet

WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


class Candidate(TypedDict):
    text: str  # the sentence
    start: int
    end: int
    type: str  # label
    label: int  # 1 = a gold entity, 0 = not
    group: int  # gold entities and their variants share a group; -1 = no group
    kind: str  # gold, boundary, type, generated
    language: str
    corpus: NotRequired[str]  # where the sentence comes from


@dataclass(frozen=True)
class SampleConfig:
    """How many negatives of each kind per gold entity (recorded with the selector)."""

    boundary_per_gold: int = 3
    type_per_gold: int = 1
    max_shift: int = 3
    seed: int = 0


INPUT_FORMATS = ("sentence-first", "bracketed")


class SelectorInput(NamedTuple):
    """What the selector reads for one candidate: ``context`` then ``question``.

    Candidates with the same context (the same sentence, in the ``sentence-first`` format)
    can share one reading of it; a ``bracketed`` input is all context and no question.
    """

    context: str
    question: str = ""


def selector_input(
    text: str,
    start: int,
    end: int,
    entity_type: EntityType,
    language: str,
    input_format: str = "sentence-first",
) -> SelectorInput:
    """The candidate ``text[start:end]`` of type ``entity_type`` as the selector reads it.

    The question comes last so that a causal model's last token has read everything. In the
    ``sentence-first`` format a span whose text occurs more than once in the sentence is
    named with its occurrence (the sentence carries no mark).
    """
    span = text[start:end]
    if input_format == "bracketed":
        return SelectorInput(bracketed_input(text, start, end, entity_type, language))
    if input_format != "sentence-first":
        raise ValueError(f"unknown selector input format {input_format!r}: {INPUT_FORMATS}")
    occurrence = occurrence_of(text, start, end)
    if language == "zh":
        where = f"（第{occurrence}处）" if occurrence else ""
        return SelectorInput(
            f"句子：{text}\n",
            f"问题：“{span}”{where}是一个完整的{entity_type.name}（{entity_type.definition}）"
            "实体吗？\n回答：",
        )
    where = f" (occurrence {occurrence})" if occurrence else ""
    return SelectorInput(
        f"Sentence: {text}\n",
        f'Question: is "{span}"{where} exactly one {entity_type.name} '
        f"({entity_type.definition})?\nAnswer:",
    )


def occurrence_of(text: str, start: int, end: int) -> int:
    """Which occurrence (1, 2, ...) of its text the span is, or 0 when its text occurs once."""
    span = text[start:end]
    starts = [m.start() for m in re.finditer(f"(?={re.escape(span)})", text)]
    return starts.index(start) + 1 if len(starts) > 1 else 0


def bracketed_input(text: str, start: int, end: int, entity_type: EntityType, language: str) -> str:
    """The first selectors' text: the sentence with the candidate in brackets, then a yes/no
    question about its type."""
    marked = f"{text[:start]}[{text[start:end]}]{text[end:]}"
    span = text[start:end]
    if language == "zh":
        return (
            f"句子：{marked}\n问题：方括号中的“{span}”是一个完整的{entity_type.name}"
            f"（{entity_type.definition}）实体吗？\n回答："
        )
    return (
        f'Sentence: {marked}\nQuestion: is the bracketed span "{span}" exactly one '
        f"{entity_type.name} entity ({entity_type.definition})?\nAnswer:"
    )


def unit_edges(text: str, language: str) -> list[tuple[int, int]]:
    """The units a boundary moves by: words and marks (English), characters (Chinese)."""
    if language == "zh":
        return [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]
    return [m.span() for m in WORD_OR_MARK.finditer(text)]


def boundary_variants(
    text: str, start: int, end: int, language: str, max_shift: int = 3
) -> list[tuple[int, int]]:
    """Every span whose edges are ``start``/``end`` moved by up to ``max_shift`` units.

    Spans stay inside the text, non-empty, and begin and end on a unit edge (never on
    whitespace). The original span is not among them.
    """
    units = unit_edges(text, language)
    starts = [s for s, _ in units]
    ends = [e for _, e in units]
    # Index of the unit where the span starts / ends (nearest unit edge when not aligned).
    first = min(range(len(starts)), key=lambda i: abs(starts[i] - start), default=None)
    last = min(range(len(ends)), key=lambda i: abs(ends[i] - end), default=None)
    if first is None or last is None:
        return []
    spans = set()
    for left in range(-max_shift, max_shift + 1):
        for right in range(-max_shift, max_shift + 1):
            i, j = first + left, last + right
            if 0 <= i <= j < len(units):
                spans.add((starts[i], ends[j]))
    spans.discard((start, end))
    return sorted(spans)


def _gold_triples(record: Record) -> set[tuple[int, int, str]]:
    return {(e["start"], e["end"], e["type"]) for e in record["entities"]}


def candidates_for_record(
    record: Record,
    types: TypeSet,
    rng: random.Random,
    config: SampleConfig,
    first_group: int,
    predicted: Iterable[dict] = (),
) -> list[Candidate]:
    """Gold entities, their variants and the generator's false positives for one sentence."""
    text, language = record["text"], record["language"]
    gold = _gold_triples(record)
    rows: list[Candidate] = []

    def add(start, end, type_, label, group, kind):
        rows.append(Candidate(text=text, start=start, end=end, type=type_, label=label,
                              group=group, kind=kind, language=language,
                              corpus=record["corpus"]))  # fmt: skip

    for n, entity in enumerate(sorted(gold)):
        start, end, type_ = entity
        group = first_group + n
        add(start, end, type_, 1, group, "gold")
        variants = [
            s for s in boundary_variants(text, start, end, language, config.max_shift)
            if (*s, type_) not in gold
        ]  # fmt: skip
        for s, e in rng.sample(variants, min(config.boundary_per_gold, len(variants))):
            add(s, e, type_, 0, group, "boundary")
        others = [t for t in types.labels if t != type_ and (start, end, t) not in gold]
        for other in rng.sample(others, min(config.type_per_gold, len(others))):
            add(start, end, other, 0, group, "type")
    seen = {(c["start"], c["end"], c["type"]) for c in rows}
    for p in predicted:
        triple = (p["start"], p["end"], p["type"])
        if triple not in gold and triple not in seen:
            seen.add(triple)
            add(*triple, 0, -1, "generated")
    return rows


def build_candidates(
    records: Sequence[Record],
    type_sets: dict[str, TypeSet],
    config: SampleConfig,
    predictions: Sequence[Sequence[dict]] | None = None,
) -> list[Candidate]:
    """Candidates for every record (``predictions[i]``: the generator's output for record i)."""
    rng = random.Random(config.seed)
    rows: list[Candidate] = []
    group = 0
    for i, record in enumerate(records):
        predicted = predictions[i] if predictions is not None else ()
        new = candidates_for_record(
            record, type_sets[record["corpus"]], rng, config, group, predicted
        )
        group += sum(1 for c in new if c["kind"] == "gold")
        rows += new
    return rows


def predicted_candidates(
    records: Sequence[Record], predictions: Sequence[Sequence[dict]]
) -> list[Candidate]:
    """The generator's predictions as candidates, labelled by whether they are gold."""
    rows: list[Candidate] = []
    for record, predicted in zip(records, predictions, strict=True):
        gold = _gold_triples(record)
        for p in predicted:
            label = int((p["start"], p["end"], p["type"]) in gold)
            rows.append(Candidate(text=record["text"], start=p["start"], end=p["end"],
                                  type=p["type"], label=label, group=-1, kind="predicted",
                                  language=record["language"], corpus=record["corpus"]))  # fmt: skip
    return rows


def count_kinds(rows: Iterable[Candidate]) -> dict[str, int]:
    return dict(Counter(row["kind"] for row in rows))
