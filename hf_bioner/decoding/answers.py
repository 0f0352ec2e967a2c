"""What a decoder hands back: an :class:`Answer`, its token budget, and cut answers.

Every answer has a token budget (:func:`answer_budget`): the sentence's own tokens plus room
for a tag pair around every word, so real text rarely meets it. An answer that spends it
before its copy is complete is not left short: :func:`answer_from_tokens` copies the rest of
the sentence without new tags (:func:`finish_copy`) and marks the :class:`Answer` ``cut``.
Every decoder ends its rows through :func:`answer_from_tokens`, so they agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hf_bioner.decoding.automaton import _NONE, InlineAutomaton, State, TokenTable

BUDGET_MARGIN = 16  # tokens on top of the estimate, for tokenization that differs in context
# Han characters: Chinese has no spaces, so words are counted as two characters each.
_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile(f"[{_HAN_RANGES}]")
_NON_HAN_WORD = re.compile(rf"[^\s{_HAN_RANGES}]+")


@dataclass(frozen=True)
class Answer:
    """One generated answer.

    ``cut``: the answer spent its token budget before it was complete. A constrained
    ``inline`` answer is then still a whole, valid answer: the rest of the sentence was copied
    without new tags (:func:`finish_copy`), so only entities after the cut can be missing. A
    free answer simply stops there.
    """

    text: str
    cut: bool = False


def entity_slots(sentence: str) -> int:
    """How many entities a dense sentence can hold: one per word, where a Chinese word counts
    as two Han characters (an upper bound for real text, whose entities are rarely that tight)."""
    han = len(_HAN.findall(sentence))
    return len(_NON_HAN_WORD.findall(sentence)) + (han + 1) // 2


def answer_budget(tokenizer, sentence: str, names: Sequence[str]) -> int:
    """New tokens allowed for the tagged copy of ``sentence`` with tags ``names``.

    The copy's own tokens, plus the longest open and close tag (and a token for the text they
    split) around every word (:func:`entity_slots`): enough for a sentence whose every word is
    an entity, so real answers end long before it. Sized from the sentence, not the prompt: a
    prompt-sized budget ran out in dense text and left the rest of the sentence untagged.
    """
    return answer_budgets(tokenizer, [(sentence, names)])[0]


def answer_budgets(tokenizer, constraints: Sequence[tuple[str, Sequence[str]]]) -> list[int]:
    """:func:`answer_budget` of every ``(sentence, names)``, the sentences tokenized in one
    call and each type set's tags once (a decoder sizes hundreds of rows per batch)."""
    if not constraints:
        return []
    sentences = [sentence for sentence, _ in constraints]
    lengths = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    tag_pair: dict[tuple[str, ...], int] = {}
    for names in dict.fromkeys(tuple(names) for _, names in constraints):
        tags = [tag for name in names for tag in (f"<{name}>", f"</{name}>")]
        ids = tokenizer(tags, add_special_tokens=False)["input_ids"] if tags else []
        pairs = [len(ids[i]) + len(ids[i + 1]) + 1 for i in range(0, len(ids), 2)]
        tag_pair[names] = max(pairs, default=0)
    return [length + entity_slots(sentence) * tag_pair[tuple(names)] + BUDGET_MARGIN
            for length, (sentence, names) in zip(lengths, constraints, strict=True)]  # fmt: skip


def finish_copy(machine: InlineAutomaton, written: bytes) -> bytes | None:
    """``written`` (the beginning of a valid answer) completed without new tags.

    The rule when a budget runs out: entities already closed stay as written; a tag still open
    or half written is taken out (its entity was never finished, and closing it at the cut would
    report a truncated span); the rest of the sentence is copied. The result is a valid answer,
    so :func:`hf_bioner.tagging.decode` reads it with no problems. ``None`` when ``written`` has
    no valid reading (a row released because no token spells its next byte).
    """
    # Every reading of ``written``: (state, where each of its open tags starts in ``written``).
    readings = {(state, ()) for state in machine.start() if state.kind != _NONE}
    for at, byte in enumerate(written):
        readings = {
            (after, _tag_starts(machine, state, after, starts, at))
            for state, starts in readings
            for b, after in machine.moves(state)
            if b == byte
        }
        if not readings:
            return None
    # Readings differ only where the text itself holds "<": prefer the one that copied most.
    state, starts = max(readings, key=lambda r: (r[0].pos, -len(r[0].partial), -len(r[1])))
    kept = written[: len(written) - len(state.partial)]
    for start, name in sorted(zip(starts, state.stack, strict=True), reverse=True):
        kept = kept[:start] + kept[start + len(machine.opens[name]) :]
    return kept + machine.text[state.pos :]


def _tag_starts(machine: InlineAutomaton, before: State, after: State,
                starts: tuple[int, ...], at: int) -> tuple[int, ...]:  # fmt: skip
    """The open tags' start offsets after the byte at offset ``at`` moved ``before`` to
    ``after``: an open tag completed there is pushed, a close tag completed there pops one."""
    if len(after.stack) > len(before.stack):
        return (*starts, at + 1 - len(machine.opens[after.stack[-1]]))
    if len(after.stack) < len(before.stack):
        return starts[:-1]
    return starts


def answer_from_tokens(tokenizer, machine: InlineAutomaton | None, tokens: Sequence[int],
                       budget: int) -> Answer:  # fmt: skip
    """The :class:`Answer` a decoder wrote as ``tokens`` (end-of-sequence left out).

    Fewer tokens than ``budget`` means the answer ended itself. One that spent its budget is
    cut unless its copy was already complete; a cut constrained answer (``machine``) is
    completed by :func:`finish_copy`. Every decoder ends its rows here, so they agree.
    """
    text = tokenizer.decode(list(tokens), skip_special_tokens=True)
    if len(tokens) < budget:
        return Answer(text)
    if machine is None:
        return Answer(text, cut=True)
    table = TokenTable.of(tokenizer)
    written = b"".join(table.bytes_of[t] or b"" for t in tokens)
    if any(machine.is_final(s) for s in machine.advance(machine.start(), written)):
        return Answer(text)
    finished = finish_copy(machine, written)
    if finished is None:
        return Answer(text, cut=True)
    return Answer(finished.decode("utf-8", errors="replace"), cut=True)
