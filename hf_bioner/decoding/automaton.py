"""The language of valid ``inline`` answers, byte by byte, and the tokens that spell it.

A valid answer is the input sentence copied exactly, with balanced type tags of allowed
types around non-empty spans (no tags: no entities). A tag may not open on whitespace nor
close after it, so an entity never starts or ends with a space and a tag pair can never wrap
whitespace alone (such answers looped until their budget ran out: 8 BC5CDR and 2 JNLPBA
test answers in ``benchmarks/results/eval_gemma-joint-r64-bf16-*.json``). Nor may a tag
split a word (open or close between two Latin letters or two digits) or open right inside a
tag of its own type, so that no answer can tag a word letter by letter or wrap one span in
the same tag again and again (an NCBI-disease test answer did both until its budget ran
out). Few gold entities break these rules: 0 of 960 NCBI-disease test entities, 1 of 9,809
BC5CDR, 10 of 8,662 JNLPBA (mostly annotation slips such as "double GATA sit"), 8 of 20,300
CMeEE dev. The ``None``
answer of the ``paper`` scheme is refused unless ``allow_empty``: a model that learned it
takes it as a shortcut and misses entities (NCBI-disease F1 0.300 free vs 0.747 constrained
in ``benchmarks/results/eval_gemma-joint-inline.json``).

:class:`InlineAutomaton` describes that language byte by byte (bytes, not characters,
because byte-level tokenizers split a Chinese character into several tokens), and
:func:`next_tokens` the token ids that continue a valid answer from a set of states, by a
walk over the automaton guided by the set of token-byte prefixes (:class:`TokenTable`): from
the current state only a handful of bytes can follow (the next byte of the text, ``<``, the
next byte of a tag), so the walk visits a few dozen prefixes per step, whatever the
vocabulary size. Every constrained decoder of :mod:`hf_bioner.decoding` asks it (or, for
speed, a superset of it that it checks against the automaton).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

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
        self.by_bytes: dict[bytes, tuple[int, ...]] = {}
        # Every prefix of every token's bytes -> the tokens spelled by exactly those bytes
        # (often none: one shared empty tuple): one lookup tells a decoder both whether some
        # token begins with a piece of text and which tokens are that piece.
        self.prefixes: dict[bytes, Sequence[int]] = {}
        self.bytes_of = token_bytes(tokenizer)
        for token_id, data in enumerate(self.bytes_of):
            if data:
                self.by_bytes[data] = (*self.by_bytes.get(data, ()), token_id)
        # Tuples of ints, not lists: the garbage collector stops tracking them, so the
        # collections a long tagging run triggers do not walk a 262k-token vocabulary's
        # tables (a full collection cost ~0.13 s when they were lists).
        for data in self.by_bytes:
            for end in range(1, len(data)):
                self.prefixes[data[:end]] = ()
        self.prefixes.update(self.by_bytes)

    @classmethod
    def of(cls, tokenizer) -> TokenTable:
        """Built once per tokenizer (a second for a 262k vocabulary) and kept on it."""
        table = getattr(tokenizer, "_hf_bioner_token_table", None)
        if table is None:
            table = cls(tokenizer)
            tokenizer._hf_bioner_token_table = table
        return table


# --------------------------------------------------------------------------- automaton


class State(NamedTuple):
    """Where a partial answer stands.

    ``pos``: bytes of the text copied; ``stack``: open tags; ``partial``: bytes of a tag being
    written; ``fresh``: the innermost tag was just opened (it may not close before content).
    ``kind == "none"`` is the empty answer, ``pos`` bytes of it written.

    A named tuple rather than a frozen dataclass: decoders make one per row and step, and a
    tuple is made about ten times faster (0.3 against 3.2 microseconds on this project's CPU).
    """

    pos: int = 0
    stack: tuple[str, ...] = ()
    partial: bytes = b""
    fresh: bool = False
    kind: str = "copy"


def word_inner_offsets(text: str) -> list[int]:
    """Byte offsets between two Latin letters or two digits of ``text``: inside a word."""
    offsets, offset, before = [], 0, None
    for char in text:
        kind = "letter" if char.isascii() and char.isalpha() else None
        kind = "digit" if char.isascii() and char.isdigit() else kind
        if kind is not None and kind == before:
            offsets.append(offset)
        offset += len(char.encode("utf-8"))
        before = kind
    return offsets


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
        # A tag may only start between two characters, never inside one; an open tag only
        # before a character that is not whitespace, a close tag only after one.
        self.boundaries = {0, len(self.text)}
        self.opens_at: set[int] = set()
        self.closes_at: set[int] = set()
        offset = 0
        for char in text:
            if not char.isspace():
                self.opens_at.add(offset)
            offset += len(char.encode("utf-8"))
            self.boundaries.add(offset)
            if not char.isspace():
                self.closes_at.add(offset)
        # Nor inside a word: between two Latin letters or two digits (a letter and a digit
        # may part: "Ca" in "Ca2+", "5-HT" in "5-HT6").
        inside_words = set(word_inner_offsets(text))
        self.opens_at -= inside_words
        self.closes_at -= inside_words

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
        if state.pos in self.boundaries and (self.can_open(state) or self.can_close(state)):
            yield ord("<"), State(state.pos, state.stack, b"<", state.fresh)

    def can_open(self, state: State) -> bool:
        """Whether a tag may open here (:meth:`openable` has a type): the same test without
        building the list, since decoders ask it for every row at every step."""
        if len(state.stack) >= MAX_DEPTH or state.pos not in self.opens_at:
            return False
        doubled = state.stack[-1] if state.fresh else None
        return any(t != doubled for t in self.types)

    def openable(self, state: State) -> list[str]:
        """The types whose tag may open here: room to nest, before a non-space and not inside
        a word, and not the type of a tag just opened (the two would start together)."""
        if len(state.stack) >= MAX_DEPTH or state.pos not in self.opens_at:
            return []
        doubled = state.stack[-1] if state.fresh else None
        return [t for t in self.types if t != doubled]

    def can_close(self, state: State) -> bool:
        """Whether the innermost tag may close here (it holds text, after a non-space)."""
        return bool(state.stack) and not state.fresh and state.pos in self.closes_at

    def _tag_moves(self, state: State) -> Iterable[tuple[int, State]]:
        candidates = [(self.opens[t], state.stack + (t,), True) for t in self.openable(state)]
        if self.can_close(state):
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
        if len(states) == 1:
            (state,) = states
            within = self._advance_within_tag(state, data)
            if within is not None:
                return within
        return self.advance_bytes(states, data)

    def _advance_within_tag(self, state: State, data: bytes) -> frozenset[State] | None:
        """:meth:`advance_bytes` in one comparison for ``data`` that begins or continues a
        tag and ends at or before its ``>`` (most tag tokens: ``<``, ``<Dis``, ``ease>``,
        ``</Disease>``); ``None`` for anything else. Walking a tag byte by byte costs tens of
        microseconds per token, which decoders pay for every tag token they check."""
        if state.kind != "copy" or not (state.partial or data.startswith(b"<")):
            return None
        if not state.partial and self.text.startswith(b"<", state.pos):
            return None  # the text's own "<" is a second reading
        if not state.partial and not (state.pos in self.boundaries
                                      and (self.can_open(state) or self.can_close(state))):  # fmt: skip
            return frozenset()
        written = state.partial + data
        tags = [(self.opens[t], state.stack + (t,), True) for t in self.openable(state)]
        if self.can_close(state):
            tags.append((self.closes[state.stack[-1]], state.stack[:-1], False))
        for tag, stack, fresh in tags:
            if written == tag:
                return frozenset({State(state.pos, stack, b"", fresh)})
            if tag.startswith(written):
                return frozenset({State(state.pos, state.stack, written, state.fresh)})
        if any(written.startswith(tag) for tag, _, _ in tags):
            return None  # a whole tag, then more: walked byte by byte
        return frozenset()

    def advance_bytes(self, states: frozenset[State], data: bytes) -> frozenset[State]:
        """:meth:`advance` byte by byte through :meth:`moves` (for any ``data``)."""
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
