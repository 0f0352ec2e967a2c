"""Constrained decoding: with the ``inline`` scheme the model can only write valid answers.

A valid answer is the input sentence copied exactly, with balanced type tags of allowed
types around non-empty spans (no tags: no entities). The ``None`` answer of the ``paper``
scheme is refused unless ``allow_empty``: a model that learned it takes it as a shortcut and
misses entities (NCBI-disease F1 0.300 free vs 0.747 constrained in
``benchmarks/results/eval_gemma-joint-inline.json``). :class:`InlineAutomaton`
describes that language byte by byte (bytes, not characters, because byte-level tokenizers
split a Chinese character into several tokens). :class:`InlineConstraint` is a
``transformers`` logits processor that, at every step, keeps only the tokens whose bytes
continue a valid answer, and allows end-of-sequence only when the answer is complete. So
every output decodes, every offset is right by construction, and greedy decoding cannot
drift from the text.

Finding the allowed tokens is a walk over the automaton guided by the set of token-byte
prefixes (:class:`TokenTable`): from the current state only a handful of bytes can follow
(the next byte of the text, ``<``, the next byte of a tag), so the walk visits a few dozen
prefixes per step, whatever the vocabulary size.

Every answer has a token budget (:func:`answer_budget`): the sentence's own tokens plus room
for a tag pair around every word, so real text rarely meets it. An answer that spends it
before its copy is complete is not left short: :func:`answer_from_tokens` copies the rest of
the sentence without new tags (:func:`finish_copy`) and marks the :class:`Answer` ``cut``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hf_bioner.tagging import EMPTY_TARGET

MAX_DEPTH = 4  # nesting deeper than this never occurs in the corpora
_NONE = "none"  # the state kind of a partially written empty answer


# --------------------------------------------------------------------------- token bytes


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte <-> printable character table, inverted (char -> byte)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _decoder_kind(tokenizer) -> str:
    """``byte-level`` (GPT-2 style) or ``sentencepiece`` (▁ for spaces, <0xNN> byte tokens)."""
    try:
        decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
    except (AttributeError, ValueError):
        return "sentencepiece"
    kinds = json.dumps(decoder)
    return "byte-level" if '"ByteLevel"' in kinds else "sentencepiece"


def token_bytes(tokenizer) -> list[bytes | None]:
    """The bytes each token id stands for (``None`` for special tokens)."""
    special = set(tokenizer.all_special_ids)
    kind = _decoder_kind(tokenizer)
    byte_of = _byte_level_decoder() if kind == "byte-level" else {}
    result: list[bytes | None] = []
    for token_id, piece in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer)))):
        if token_id in special or piece is None:
            result.append(None)
        elif kind == "byte-level":
            try:
                result.append(bytes(byte_of[c] for c in piece))
            except KeyError:  # an added token written in plain text
                result.append(piece.encode("utf-8"))
        elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            result.append(bytes([int(piece[3:5], 16)]))
        else:
            result.append(piece.replace("▁", " ").encode("utf-8"))
    return result


class TokenTable:
    """Token ids by their bytes, and every prefix of every token's bytes."""

    def __init__(self, tokenizer):
        self.by_bytes: dict[bytes, list[int]] = {}
        self.prefixes: set[bytes] = set()
        self.bytes_of = token_bytes(tokenizer)
        for token_id, data in enumerate(self.bytes_of):
            if not data:
                continue
            self.by_bytes.setdefault(data, []).append(token_id)
            for end in range(1, len(data) + 1):
                self.prefixes.add(data[:end])

    @classmethod
    def of(cls, tokenizer) -> TokenTable:
        """Built once per tokenizer (a second for a 262k vocabulary) and kept on it."""
        table = getattr(tokenizer, "_hf_bioner_token_table", None)
        if table is None:
            table = cls(tokenizer)
            tokenizer._hf_bioner_token_table = table
        return table


# --------------------------------------------------------------------------- automaton


@dataclass(frozen=True)
class State:
    """Where a partial answer stands.

    ``pos``: bytes of the text copied; ``stack``: open tags; ``partial``: bytes of a tag being
    written; ``fresh``: the innermost tag was just opened (it may not close before content).
    ``kind == "none"`` is the empty answer, ``pos`` bytes of it written.
    """

    pos: int = 0
    stack: tuple[str, ...] = ()
    partial: bytes = b""
    fresh: bool = False
    kind: str = "copy"


class InlineAutomaton:
    """The valid ``inline`` answers for one sentence and its entity type names."""

    def __init__(self, text: str, types: Sequence[str], empty: str = EMPTY_TARGET,
                 allow_empty: bool = False):  # fmt: skip
        self.allow_empty = allow_empty
        self.text = text.encode("utf-8")
        self.empty = empty.encode("utf-8")
        self.types = list(types)
        self.opens = {t: f"<{t}>".encode() for t in self.types}
        self.closes = {t: f"</{t}>".encode() for t in self.types}
        # A tag may only start between two characters, never inside one.
        self.boundaries = {0, len(self.text)}
        offset = 0
        for char in text:
            offset += len(char.encode("utf-8"))
            self.boundaries.add(offset)

    def start(self) -> frozenset[State]:
        return frozenset({State(), State(kind=_NONE)} if self.allow_empty else {State()})

    def is_final(self, state: State) -> bool:
        if state.kind == _NONE:
            return state.pos == len(self.empty)
        return state.pos == len(self.text) and not state.stack and not state.partial

    def moves(self, state: State) -> Iterable[tuple[int, State]]:
        """Every (next byte, next state) from ``state``."""
        if state.kind == _NONE:
            if state.pos < len(self.empty):
                yield self.empty[state.pos], State(pos=state.pos + 1, kind=_NONE)
            return
        if state.partial:
            yield from self._tag_moves(state)
            return
        if state.pos < len(self.text):
            yield self.text[state.pos], State(state.pos + 1, state.stack)
        if state.pos in self.boundaries and (self._can_open(state) or self._can_close(state)):
            yield ord("<"), State(state.pos, state.stack, b"<", state.fresh)

    def _can_open(self, state: State) -> bool:
        return bool(self.types) and len(state.stack) < MAX_DEPTH and state.pos < len(self.text)

    @staticmethod
    def _can_close(state: State) -> bool:
        return bool(state.stack) and not state.fresh

    def _tag_moves(self, state: State) -> Iterable[tuple[int, State]]:
        candidates: list[tuple[bytes, tuple[str, ...], bool]] = []
        if self._can_open(state):
            candidates += [(tag, state.stack + (t,), True) for t, tag in self.opens.items()]
        if self._can_close(state):
            candidates.append((self.closes[state.stack[-1]], state.stack[:-1], False))
        written = len(state.partial)
        for tag, stack, fresh in candidates:
            if len(tag) > written and tag.startswith(state.partial):
                grown = tag[: written + 1]
                if grown == tag:
                    yield tag[written], State(state.pos, stack, b"", fresh)
                else:
                    yield tag[written], State(state.pos, state.stack, grown, state.fresh)

    def advance(self, states: frozenset[State], data: bytes) -> frozenset[State]:
        """The states after writing ``data`` (empty: ``data`` is not a valid continuation)."""
        for byte in data:
            states = frozenset(nxt for s in states for b, nxt in self.moves(s) if b == byte)
            if not states:
                break
        return states

    def allowed_tokens(self, states: frozenset[State], table: TokenTable) -> set[int]:
        """Token ids whose bytes continue a valid answer from ``states``."""
        allowed: set[int] = set()
        todo = [(b"", states)]
        while todo:
            prefix, current = todo.pop()
            if prefix:
                allowed.update(table.by_bytes.get(prefix, ()))
            following: dict[int, set[State]] = {}
            for state in current:
                for byte, nxt in self.moves(state):
                    following.setdefault(byte, set()).add(nxt)
            for byte, nxt in following.items():
                longer = prefix + bytes([byte])
                if longer in table.prefixes:
                    todo.append((longer, frozenset(nxt)))
        return allowed


def next_tokens(machine: InlineAutomaton, states: frozenset[State], table: TokenTable,
                eos_ids: Iterable[int]) -> set[int]:  # fmt: skip
    """Token ids that may come next: those continuing a valid answer, and the end-of-sequence
    ids once the answer is complete. Every constrained decoder asks this."""
    allowed = machine.allowed_tokens(states, table)
    if any(machine.is_final(s) for s in states):
        allowed.update(eos_ids)
    return allowed


# --------------------------------------------------------------------------- budget, cut answers

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
    tags = [tag for name in names for tag in (f"<{name}>", f"</{name}>")]
    ids = tokenizer([sentence, *tags], add_special_tokens=False)["input_ids"]
    pairs = [len(ids[i]) + len(ids[i + 1]) + 1 for i in range(1, len(ids), 2)]
    return len(ids[0]) + entity_slots(sentence) * max(pairs, default=0) + BUDGET_MARGIN


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


# --------------------------------------------------------------------------- processor


class InlineConstraint:
    """A logits processor: each row may only continue a valid answer for its sentence.

    ``texts[i]`` and ``types[i]`` belong to row ``i`` of the batch; ``prompt_length`` is the
    (padded) prompt width, so generated tokens are ``input_ids[:, prompt_length:]``. If no
    token can continue a row (a byte the vocabulary cannot spell), that row is left free
    and the decoder repairs it; ``released`` counts such rows. ``budgets[i]`` (optional) ends
    row ``i`` after that many tokens, as the other decoders do, so that one ``generate`` call
    can hold rows of different budgets; :func:`answer_from_tokens` then finishes the copy.
    """

    def __init__(self, tokenizer, texts: Sequence[str], types: Sequence[Sequence[str]],
                 prompt_length: int, eos_ids: Iterable[int],
                 budgets: Sequence[int] | None = None):  # fmt: skip
        self.budgets = budgets
        self.table = TokenTable.of(tokenizer)
        self.machines = [InlineAutomaton(t, ty) for t, ty in zip(texts, types, strict=True)]
        self.states = [m.start() for m in self.machines]
        self.prompt_length = prompt_length
        self.eos_ids = sorted(set(eos_ids))
        self.done = [False] * len(texts)
        self.free = [False] * len(texts)

    @property
    def released(self) -> int:
        return sum(self.free)

    def _advance(self, row: int, token_id: int) -> None:
        if token_id in self.eos_ids:
            self.done[row] = True
            return
        data = self.table.bytes_of[token_id] or b""
        self.states[row] = self.machines[row].advance(self.states[row], data)

    def __call__(self, input_ids, scores):
        import torch

        if input_ids.shape[1] > self.prompt_length:
            for row, token_id in enumerate(input_ids[:, -1].tolist()):
                if not (self.done[row] or self.free[row]):
                    self._advance(row, token_id)
        written = input_ids.shape[1] - self.prompt_length
        mask = torch.zeros_like(scores, dtype=torch.bool)
        for row, machine in enumerate(self.machines):
            if not self.done[row] and self.budgets and written >= self.budgets[row]:
                mask[row, self.eos_ids] = True  # budget spent: end the row here
                continue
            if self.done[row] or self.free[row]:
                mask[row] = True
                continue
            allowed = next_tokens(machine, self.states[row], self.table, self.eos_ids)
            if not allowed:
                self.free[row] = True
                mask[row] = True
                continue
            mask[row, sorted(allowed)] = True
        return scores.masked_fill(~mask, float("-inf"))
