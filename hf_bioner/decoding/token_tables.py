"""The default decoder: each row's candidate tokens looked up in tables built once per prompt.

:class:`~hf_bioner.decoding.allowed_tokens.AllowedTokenDecoder` walks the automaton for
every row at every step to find the allowed tokens, then copies each row's list to the
device: about 90 microseconds of Python per row and step, which at the batch sizes a GPU
needs (hundreds of rows) costs more than the model's own forward pass. This decoder does the
walking once per prompt instead, and checks a token or two per row and step:

- **Tables.** While an answer copies its sentence, the tokens it may write from byte ``p``
  are those spelling ``text[p:q]`` for some ``q``, those starting a tag (``<``, ``</``,
  ``<Dis`` ...) and those that end the copied text and start a tag in one token (``" <"``).
  :func:`text_candidates` lists them for every ``p`` of a sentence when its row is staged;
  inside a tag, the tokens that agree with the rest of some tag of the type set (and anything
  after it) are one table row per type set (:class:`TagTokens`). These are *supersets* of
  the allowed tokens: the automaton's rules on where tags may go are left to the check.
- **One lookup per step.** Every row's pair of table rows (text, tags) goes to the device in
  one tensor; the rows' candidates are gathered there, scored against the slice of the head
  they name, and the :data:`RANKED` best of every row come back in one transfer (the step's
  only sync).
- **Plain rows.** Most rows at most steps copy their sentence outside any tag being written:
  such a row is kept as a byte offset, its table rows are a lookup by byte, and a plain-text
  winner (which its text row spells exactly) is written with no automaton at all.
- **A check for the rest.** The first allowed of a superset's best candidates is the best
  allowed token, so a row tries its ranked candidates against the automaton in order. A row
  that refuses them all (tags where none may go), or whose automaton holds several readings
  (text containing ``<``), takes the exact walk that step. So the answers are those of the
  other decoders.
- **A full batch.** A finished row's place goes to the next waiting row once a quarter of
  the batch is free (:attr:`~hf_bioner.decoding.allowed_tokens.AllowedTokenDecoder.refill`),
  longest rows first, so steps are not spent on a few long rows (20.2 -> 31.6 sentences/s on
  an H200 at batch 64, ``benchmarks/results/gpu_speed_h200-refill.json``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from hf_bioner.decoding.allowed_tokens import (
    FINISHED,
    AllowedTokenDecoder,
    Batch,
    _best_allowed,
    long_tensor,
    ranked_candidates,
)
from hf_bioner.decoding.automaton import MAX_DEPTH, InlineAutomaton, State, TokenTable

RANKED = 4  # candidates of each row tried against its automaton before the exact path
# Batches' worth of rows whose candidate tables are built at once: a table holds about two
# stages, as it held the 8 batches of rows a decoder was handed before stages.
STAGE_BATCHES = 4
TEXT_CACHE_SIZE = 4096  # sentences whose copy candidates are kept (a sentence is often
# prompted once per type set, in the same batch or the next)


class VocabularyIndex:
    """The tokenizer's tokens sorted by their bytes: every token that starts with some bytes
    is one slice. Built once per tokenizer and kept on it (as :class:`TokenTable` is)."""

    def __init__(self, table: TokenTable):
        pairs = sorted((data, i) for i, data in enumerate(table.bytes_of) if data)
        self.table = table
        self.sorted_bytes = [data for data, _ in pairs]
        self.sorted_ids = [i for _, i in pairs]
        # Tokens with a "<" after their first byte (text, then the start of a tag) and with
        # a ">" before their last (the end of a tag, then more).
        self.inner_tag_starts = [(data, i) for data, i in pairs if b"<" in data[1:]]
        self.inner_tag_ends = [(data, i) for data, i in pairs if b">" in data[:-1]]
        # Bytes each token copies when it is plain text (no "<"; 0 for tag pieces and special
        # tokens): a decoder moves a copying row by this many bytes without the automaton.
        self.plain_lengths = [len(data) if data and b"<" not in data else 0
                              for data in table.bytes_of]  # fmt: skip
        self.tag_tokens: dict[tuple[str, ...], TagTokens] = {}

    def tags(self, names: Sequence[str]) -> TagTokens:
        """The :class:`TagTokens` of a type set, built once per tokenizer and type set."""
        key = tuple(names)
        if key not in self.tag_tokens:
            self.tag_tokens[key] = TagTokens.of(self, key)
        return self.tag_tokens[key]

    @classmethod
    def of(cls, tokenizer) -> VocabularyIndex:
        index = getattr(tokenizer, "_hf_bioner_vocabulary_index", None)
        if index is None:
            index = cls(TokenTable.of(tokenizer))
            tokenizer._hf_bioner_vocabulary_index = index
        return index

    def starting_with(self, prefix: bytes) -> list[int]:
        """Ids of the tokens whose bytes start with ``prefix`` (``prefix`` itself included)."""
        start = bisect_left(self.sorted_bytes, prefix)
        end = start
        while end < len(self.sorted_bytes) and self.sorted_bytes[end].startswith(prefix):
            end += 1
        return self.sorted_ids[start:end]

    def finishing(self, rest: bytes, following: Sequence[bytes]) -> list[int]:
        """Ids of the tokens that write some or all of ``rest`` (what is left of a tag), or
        all of it and then the start of one of the ``following`` tags: what a tag may be
        continued with whatever the text (tokens that go on into the text are
        :class:`TagTokens`' ``before_text``)."""
        ids = [
            i for end in range(1, len(rest) + 1) for i in self.table.by_bytes.get(rest[:end], ())
        ]
        then = self.starting_with(rest + b"<")
        return ids + [i for i in then if _agrees(self.table.bytes_of[i][len(rest) :], following)]


def _agrees(data: bytes, tags: Sequence[bytes]) -> bool:
    return any(tag.startswith(data) or data.startswith(tag) for tag in tags)


@dataclass
class TagTokens:
    """The tag-related candidates of one type set.

    ``rows[at[partial, can_open, close]]``: the tokens that may continue a tag of which
    ``partial`` is written (``b""``: none yet), where a tag may open (``can_open``) and the
    innermost tag ``close`` may close (``None``: none may): some or all of the rest of a
    permitted tag, or all of it and the start of another. Equal rows are stored once.
    Tokens that hold text as well are keyed by that text: ``after_text`` (text, then the
    start of a tag: ``b" "`` -> ``" <"``), ``before_text`` (the end of a tag, then text:
    ``b" of"`` -> ``"> of"``: only after part of a tag) and ``after_tag`` (a whole tag, then
    text: only where no tag is being written).
    """

    rows: list[list[int]]
    at: dict[tuple[bytes, bool, str | None], int]
    after_text: dict[bytes, list[int]] = field(default_factory=dict)
    before_text: dict[bytes, list[int]] = field(default_factory=dict)
    after_tag: dict[bytes, list[int]] = field(default_factory=dict)
    # Derived from the three dicts, for one lookup per piece of text: every key, and every
    # prefix of a key a tag may follow -> (tokens that may be written outside a tag, tokens
    # that finish a tag), both empty for a prefix that is no key.
    by_text: dict[bytes, tuple[list[int], list[int]]] = field(init=False)

    def __post_init__(self) -> None:
        keys = {*self.after_text, *self.before_text, *self.after_tag}
        prefixes = {key[:end] for key in (*self.before_text, *self.after_tag)
                    for end in range(1, len(key) + 1)}  # fmt: skip
        self.by_text = {
            key: (self.after_text.get(key, []) + self.after_tag.get(key, []),
                  self.before_text.get(key, []))
            for key in keys | prefixes
        }  # fmt: skip

    @classmethod
    def of(cls, index: VocabularyIndex, names: Sequence[str]) -> TagTokens:
        opens = [f"<{name}>".encode() for name in names]
        closes = {name: f"</{name}>".encode() for name in names}
        # After an open tag only another open tag may follow at once (an entity holds text);
        # after a close tag, any tag.
        following = {tag: opens for tag in opens} | {tag: opens + list(closes.values())
                                                     for tag in closes.values()}  # fmt: skip
        rows: list[list[int]] = []
        stored: dict[tuple[int, ...], int] = {}
        at: dict[tuple[bytes, bool, str | None], int] = {}
        for can_open in (False, True):
            for close in (None, *names):
                tags = (opens if can_open else []) + ([closes[close]] if close else [])
                partials = {b""} | {tag[:k] for tag in tags for k in range(1, len(tag))}
                for partial in partials:
                    ids = tuple(sorted({i for tag in tags if tag.startswith(partial)
                                        for i in index.finishing(tag[len(partial):],
                                                                 following[tag])}))  # fmt: skip
                    if ids not in stored:
                        stored[ids] = len(rows)
                        rows.append(list(ids))
                    at[partial, can_open, close] = stored[ids]
        tags = opens + list(closes.values())
        return cls(rows, at, _after_text(index, tags), *_before_text(index, tags))


def _after_text(index: VocabularyIndex, tags: list[bytes]) -> dict[bytes, list[int]]:
    """Tokens made of text and then the start of a tag, by their text (none that close a tag
    after a space: the automaton never allows it)."""
    found: dict[bytes, set[int]] = {}
    for data, token in index.inner_tag_starts:
        for split in range(1, len(data)):
            text, tag = data[:split], data[split:]
            closes_after_space = text[-1:].isspace() and tag.startswith(b"</")
            if tag.startswith(b"<") and _agrees(tag, tags) and not closes_after_space:
                found.setdefault(text, set()).add(token)
    return {text: sorted(ids) for text, ids in found.items()}


def _before_text(index: VocabularyIndex, tags: list[bytes]
                 ) -> tuple[dict[bytes, list[int]], dict[bytes, list[int]]]:  # fmt: skip
    """Tokens made of the end of a tag and then text, by that text up to a next ``<``: those
    that finish a tag already begun, and those that hold a whole tag. A ``<`` right after the
    tag may be the text's own (``"><2"`` in ``CD4<200``), so such tokens are kept under
    ``b"<"``, looked up where the text holds one."""
    found: tuple[dict[bytes, set[int]], dict[bytes, set[int]]] = ({}, {})
    for data, token in index.inner_tag_ends:
        for split in range(len(data) - 1):
            end, rest = data[: split + 1], data[split + 1 :]
            if data[split] == ord(">") and any(t.endswith(end) for t in tags):
                whole = end.startswith(b"<")
                found[whole].setdefault(rest.split(b"<", 1)[0] or b"<", set()).add(token)
    return tuple({text: sorted(ids) for text, ids in kind.items()} for kind in found)


def text_candidates(text: bytes, table: TokenTable, tags: TagTokens,
                    end_ids: Sequence[int]) -> tuple[RaggedRows, RaggedRows]:  # fmt: skip
    """Two rows for every byte offset ``p`` of ``text`` (and its end): the tokens that hold
    ``text[p:q]`` for some ``q`` and may be written outside a tag (a copy, the copy and then
    a tag's start, or a whole tag and then the copy; at the end, the end of sequence), and
    those that finish a tag begun and then hold ``text[p:q]``.

    Built for every sentence of every batch, so each piece costs two dict lookups (the tokens
    it begins, :attr:`TokenTable.prefixes`; the tag tokens whose text it is or begins,
    ``tags.by_text``); reading stops at the first piece that begins neither a token nor a
    tag token's text. The rows go straight into flat arrays: a list per byte offset (two per
    byte, 80,000 for 290 sentences) cost as much again in allocation and garbage collection."""
    prefixes, by_text = table.prefixes, tags.by_text
    copies, tag_ends = RaggedRows(), RaggedRows()
    copy_ids, tag_end_ids = copies.ids, tag_ends.ids
    for p in range(len(text) + 1):
        copied, ended = len(copy_ids), len(tag_end_ids)
        for q in range(p + 1, len(text) + 1):
            piece = text[p:q]
            spelled = prefixes.get(piece)
            tagged = by_text.get(piece)
            if spelled is None and tagged is None:
                break
            if spelled:
                copy_ids.extend(spelled)
            if tagged is not None:
                copy_ids.extend(tagged[0])
                tag_end_ids.extend(tagged[1])
        if p == len(text):
            copy_ids.extend(end_ids)
        copies.lengths.append(len(copy_ids) - copied)
        tag_ends.lengths.append(len(tag_end_ids) - ended)
    return copies, tag_ends


class RaggedRows:
    """Rows of token ids of different lengths, stored flat in int64 arrays (``ids``,
    ``lengths``): a batch's table is made from them by joining bytes, and a sentence's rows
    cost no tensor of their own (two per sentence cost ~0.1 ms)."""

    def __init__(self, rows: Sequence[Sequence[int]] = ()):
        self.ids = array("q", [i for row in rows for i in row])
        self.lengths = array("q", [len(row) for row in rows])

    @property
    def count(self) -> int:
        return len(self.lengths)

    def rows(self) -> list[list[int]]:
        """The rows as lists (for reading and tests; decoders join the arrays)."""
        rows, start = [], 0
        for length in self.lengths:
            rows.append(self.ids[start : start + length].tolist())
            start += length
        return rows


def dense_rows(parts: Sequence[RaggedRows]):
    """The rows of ``parts`` one after another as one tensor, padded with -1 to the longest,
    and the table row of each part's first row."""
    import torch

    def joined(arrays):  # int64 arrays -> one tensor, without a Python int per element
        data = bytearray(b"".join(arrays))
        return (
            torch.frombuffer(data, dtype=torch.long) if data else torch.zeros(0, dtype=torch.long)
        )

    lengths = joined(part.lengths for part in parts)
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    dense = torch.full((len(lengths), width), -1, dtype=torch.long)
    dense[torch.arange(width) < lengths[:, None]] = joined(part.ids for part in parts)
    bases, row = [], 0
    for part in parts:
        bases.append(row)
        row += part.count
    return dense, bases


class CandidateTable:
    """The candidate rows of a batch's staged rows on the model's device, in two padded
    columns: text rows (what a row may write from a byte of its sentence: copies, or the end
    of a tag and then text) and tag rows. A step's lookup is a pair of row numbers per row
    (:meth:`gather`). Rows come a stage at a time (:meth:`add`), and the text rows of stages
    whose rows have all finished leave then, so a call of thousands of prompts holds the
    tables of about two stages (the rows still running, and the next)."""

    def __init__(self, device):
        import torch

        self.text_ids = torch.full((0, 1), -1, dtype=torch.long, device=device)
        self.tag_ids = torch.full((0, 1), -1, dtype=torch.long, device=device)
        self.device = self.text_ids.device

    def add(self, text: Sequence[RaggedRows], tags: Sequence[RaggedRows], drop: int = 0
            ) -> tuple[list[int], list[int]]:  # fmt: skip
        """Drop the first ``drop`` text rows, then append ``text`` and ``tags`` (each part's
        rows one after another). Returns the table row of each part's first row."""
        text_ids, text_bases = dense_rows(text)
        tag_ids, tag_bases = dense_rows(tags)
        kept, tag_rows = len(self.text_ids) - drop, len(self.tag_ids)
        # The rows kept lose the padding columns only dropped rows needed (a step gathers
        # every column of its rows).
        kept_ids = self.text_ids[drop:]
        if drop and len(kept_ids):
            kept_ids = kept_ids[:, : max(int((kept_ids >= 0).sum(1).max()), 1)]
        self.text_ids = _stacked(kept_ids, text_ids.to(self.device))
        self.tag_ids = _stacked(self.tag_ids, tag_ids.to(self.device))
        return [kept + base for base in text_bases], [tag_rows + base for base in tag_bases]

    def lookup(self, pairs: Sequence[int]):
        """The flat ``(text row, tag row)`` pairs of a step as one ``[rows, 2]`` tensor on the
        device (``torch.tensor`` of a list of tuples cost ~10x more: :func:`long_tensor`)."""
        return long_tensor(pairs, self.device).view(-1, 2)

    def gather(self, index):
        """``index[n] = (text row, tag row)`` -> each row's candidates side by side (-1 where
        a row has fewer)."""
        import torch

        return torch.cat([self.text_ids[index[:, 0]], self.tag_ids[index[:, 1]]], dim=1)


def _stacked(top, bottom):
    """Two padded id tables one above the other, padded with -1 to the wider."""
    import torch
    import torch.nn.functional as F

    width = max(top.shape[1], bottom.shape[1])
    return torch.cat([F.pad(top, (0, width - top.shape[1]), value=-1),
                      F.pad(bottom, (0, width - bottom.shape[1]), value=-1)])  # fmt: skip


class TableDecoder(AllowedTokenDecoder):
    """Constrained greedy ``inline`` answers from per-prompt candidate tables (module doc)."""

    refill = True

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
        super().__init__(model, tokenizer, eos_ids, step_dtype, prefill_dtype)
        self.index = VocabularyIndex.of(tokenizer)
        # Bytes a plain copy moves by, per token; never an end-of-sequence id, even one the
        # tokenizer does not count as special (a model's generation config may add one).
        self.plain_lengths = self.index.plain_lengths
        if any(self.plain_lengths[i] for i in self.eos_ids):
            self.plain_lengths = list(self.plain_lengths)
            for i in self.eos_ids:
                self.plain_lengths[i] = 0
        self.text_cache: dict[tuple[bytes, tuple[str, ...]], tuple[RaggedRows, RaggedRows]] = {}
        self.tag_cache: dict[tuple[str, ...], RaggedRows] = {}

    def _text_rows(self, machine: InlineAutomaton) -> tuple[RaggedRows, RaggedRows]:
        key = (machine.text, tuple(machine.types))
        rows = self.text_cache.get(key)
        if rows is None:
            if len(self.text_cache) >= TEXT_CACHE_SIZE:
                self.text_cache.clear()
            tags = self.index.tags(machine.types)
            rows = self.text_cache[key] = text_candidates(machine.text, self.table, tags,
                                                          self.eos_ids)  # fmt: skip
        return rows

    def _tag_rows(self, names: tuple[str, ...]) -> RaggedRows:
        if names not in self.tag_cache:
            self.tag_cache[names] = RaggedRows(self.index.tags(names).rows)
        return self.tag_cache[names]

    def _start(self, prompts, constraints, max_new_tokens) -> TableBatch:
        """The batch's rows, with an empty candidate table on the model's device: rows are
        staged into it as they are about to be read (:meth:`_prepare`)."""
        base = super()._start(prompts, constraints, max_new_tokens)
        return TableBatch(machines=base.machines, prompt_ids=base.prompt_ids,
                          budgets=base.budgets, table=CandidateTable(self.head.weight.device))  # fmt: skip

    def _prepare(self, batch: TableBatch, active: list[int], rows: list[int], size: int) -> None:
        """Stage the rows up to the last of ``rows`` (about to be read), :data:`STAGE_BATCHES`
        batches' worth at a time; rows before the first live one (in ``active`` or ``rows``)
        have all finished, so the stages that hold only such rows leave the table."""
        live = [row for row in (*active, *rows) if row != FINISHED]
        while batch.staged <= max(rows):
            self._stage(batch, min(live), STAGE_BATCHES * size)

    def _stage(self, batch: TableBatch, oldest: int, count: int) -> None:
        """Add the next ``count`` rows to the candidate table: text rows (every sentence's
        copy rows, then its tag-end rows, one per byte) and the tag rows of type sets not yet
        in it; drop the text rows of the stages that end at or before row ``oldest``."""
        start = batch.staged
        end = min(start + count, len(batch.machines))
        machines = batch.machines[start:end]
        drop = 0
        while batch.stages and batch.stages[0][1] <= oldest:
            drop += batch.stages.pop(0)[2]
        if drop:  # the rows of the stages kept now start ``drop`` rows higher in the table
            for row in range(batch.stages[0][0] if batch.stages else start, start):
                batch.copy_offsets[row] -= drop
                batch.tag_end_offsets[row] -= drop
        texts = [self._text_rows(machine) for machine in machines]
        names = [tuple(machine.types) for machine in machines]
        new_names = [key for key in dict.fromkeys(names) if key not in batch.tag_base]
        text_bases, tag_bases = batch.table.add(
            [*(copies for copies, _ in texts), *(tag_ends for _, tag_ends in texts)],
            [self._tag_rows(key) for key in new_names],
            drop,
        )
        batch.stages.append((start, end, sum(c.count + t.count for c, t in texts)))
        batch.tag_base.update(zip(new_names, tag_bases, strict=True))
        batch.copy_offsets += text_bases[: len(machines)]
        batch.tag_end_offsets += text_bases[len(machines) :]
        batch.tag_offsets += [batch.tag_base[key] for key in names]
        batch.tag_at += [self.index.tags(key).at for key in names]
        batch.flags += [tag_flags(machine) for machine in machines]
        for row in range(start, end):
            self._settle(batch, row, batch.states[row])

    # ------------------------------------------------------------------ plain copies
    # Most steps of most rows copy their sentence outside any tag being written. Such a row
    # is *plain*: its one state is State(pos, stack), kept as ``batch.pos[row]`` (its
    # ``batch.states`` entry is then stale; :meth:`_states` rebuilds it), and its candidate
    # rows are a lookup by byte; a plain-text winner moves ``pos`` by its length with no
    # automaton and no State made. Everything else (tags, several readings, the end) goes
    # through the automaton as before, so the answers are the same.

    def _settle(self, batch: TableBatch, row: int, states: frozenset[State]) -> None:
        """Keep ``states`` as the row's states: a plain one as ``pos`` (and, when its open
        tags changed, the row's four tag rows, :meth:`_plain_tag_rows`)."""
        if len(states) == 1:
            (state,) = states
            if not state.partial and not state.fresh and state.kind == "copy":
                batch.plain[row] = True
                batch.states[row] = None  # stale from here on: read through _states
                batch.pos[row] = state.pos
                if batch.plain_tags[row] is None or batch.stack[row] != state.stack:
                    batch.stack[row] = state.stack
                    batch.plain_tags[row] = self._plain_tag_rows(batch, row, state.stack)
                return
        batch.plain[row] = False
        batch.states[row] = states

    def _states(self, batch: TableBatch, row: int) -> frozenset[State]:
        """The row's states, rebuilt for a plain row."""
        if batch.plain[row]:
            return frozenset({State(batch.pos[row], batch.stack[row])})
        return batch.states[row]

    def _plain_tag_rows(self, batch: TableBatch, row: int, stack: tuple[str, ...]
                        ) -> tuple[int, int, int, int]:  # fmt: skip
        """The tag rows of a plain row with open tags ``stack``, by :func:`tag_flags` of its
        byte: what :meth:`_table_rows_at` finds for such a state, looked up once per stack."""
        machine, at = batch.machines[row], batch.tag_at[row]
        may_open = len(stack) < MAX_DEPTH and bool(machine.types)
        rows = []
        for flag in range(4):
            close = stack[-1] if flag & CLOSES and stack else None
            rows.append(batch.tag_offsets[row] + at[b"", bool(flag & OPENS) and may_open, close])
        return tuple(rows)

    def _plain_rows(self, batch: TableBatch, row: int, pos: int) -> tuple[int, int]:
        """The candidate rows (text, tags) of a plain row standing at byte ``pos``."""
        return batch.copy_offsets[row] + pos, batch.plain_tags[row][batch.flags[row][pos]]

    # ------------------------------------------------------------------ any row

    def _table_rows(self, batch: TableBatch, row: int) -> tuple[int, int] | None:
        """The candidate rows (text, tags) of a row's single reading, or None (several
        readings, or the row was released: the exact path decides)."""
        if batch.plain[row]:
            return self._plain_rows(batch, row, batch.pos[row])
        states = batch.states[row]
        if len(states) != 1:
            return None
        (state,) = states
        return self._table_rows_at(batch, row, state)

    def _table_rows_at(self, batch: TableBatch, row: int, state: State) -> tuple[int, int]:
        """The candidate rows (text, tags) of row ``row`` when its answer stands at ``state``:
        its copy row, or while a tag is being finished its tag-end row."""
        machine = batch.machines[row]
        close = state.stack[-1] if machine.can_close(state) else None
        tags = batch.tag_at[row][state.partial, machine.can_open(state), close]
        text = batch.tag_end_offsets[row] if state.partial else batch.copy_offsets[row]
        return text + state.pos, batch.tag_offsets[row] + tags

    def _choose(self, batch: TableBatch, active: list[int], hidden) -> list[int]:
        """Every active row's best allowed candidate: its :data:`RANKED` best candidates
        are tried in order against its automaton; the rows that refuse them all, or that have
        no table rows, take the exact path."""
        plain, pos, copies, tags, flags = (batch.plain, batch.pos, batch.copy_offsets,
                                           batch.plain_tags, batch.flags)  # fmt: skip
        pairs: list[int] = []
        looked_up = []
        for n, row in enumerate(active):
            if plain[row]:  # most rows: _plain_rows (the reference), inlined
                at = pos[row]
                pairs += (copies[row] + at, tags[row][flags[row][at]])
                looked_up.append(n)
            elif (rows := self._table_rows(batch, row)) is not None:
                pairs += rows
                looked_up.append(n)
        tokens = [-1] * len(active)
        if looked_up:
            part = hidden[looked_up] if len(looked_up) < len(active) else hidden
            candidates = batch.table.gather(batch.table.lookup(pairs))
            ranked = ranked_candidates(part, self.head, candidates, RANKED)
            for n, tries in zip(looked_up, ranked.tolist(), strict=True):
                tokens[n] = self._first_accepted(batch, active[n], tries)
        exact = [n for n, token in enumerate(tokens) if token < 0]
        if exact:
            allowed = [self._allowed(batch.machines[active[n]], self._states(batch, active[n]))
                       for n in exact]  # fmt: skip
            for n, token in zip(exact, _best_allowed(hidden[exact], self.head, allowed),
                                strict=True):  # fmt: skip
                tokens[n] = token
                batch.next_states[active[n]] = None
        return tokens

    def _first_accepted(self, batch: TableBatch, row: int, tries: list[int]) -> int:
        """The first of a row's best candidates (best first) that the automaton takes, or -1
        (none: the exact path decides). A plain row's plain copy is taken with no automaton."""
        plain_lengths = self.plain_lengths
        for token in tries:
            if token < 0:
                break
            if batch.plain[row] and plain_lengths[token]:
                batch.copied[row] = plain_lengths[token]
                return token
            if self._accept(batch, row, token):
                return token
        return -1

    def _accept(self, batch: TableBatch, row: int, token: int) -> bool:
        """Whether the automaton takes ``token`` here; its next states are kept for
        :meth:`_write`. A plain copy of the text is checked by comparing bytes."""
        machine, states = batch.machines[row], self._states(batch, row)
        if token in self.eos_ids:
            batch.next_states[row] = states
            return any(machine.is_final(s) for s in states)
        data = self.table.bytes_of[token] or b""
        (state,) = states
        plain_copy = data and b"<" not in data and not state.partial
        if plain_copy and machine.text.startswith(data, state.pos):
            batch.next_states[row] = frozenset({State(state.pos + len(data), state.stack)})
            return True
        following = machine.advance(states, data)
        batch.next_states[row] = following
        return bool(following) and bool(data)

    def _write(self, batch: TableBatch, row: int, token: int) -> bool:
        """Write the chosen token: a plain row's plain copy moves its offset; the end of
        sequence ends the row; a token chosen on the exact path advances as the base decoder
        does; any other, to the next states :meth:`_accept` kept. Whether the row goes on."""
        copied = batch.copied[row]
        if copied:  # a plain row's plain copy: move it on
            batch.copied[row] = 0
            batch.pos[row] += copied
            batch.answers[row].append(token)
            return len(batch.answers[row]) < batch.budgets[row]
        if token in self.eos_ids:
            return False
        following = batch.next_states[row]
        if following is None:  # chosen on the exact path: advance as the base decoder does
            batch.states[row] = self._states(batch, row)
            goes_on = super()._write(batch, row, token)
            self._settle(batch, row, batch.states[row])
            return goes_on
        batch.answers[row].append(token)
        self._settle(batch, row, following)
        return len(batch.answers[row]) < batch.budgets[row]


OPENS, CLOSES = 1, 2  # the bits of tag_flags


def tag_flags(machine: InlineAutomaton) -> bytes:
    """For each byte offset of the sentence (and its end), whether a tag may open there
    (:data:`OPENS`) and whether the innermost may close there (:data:`CLOSES`), as far as
    the text decides (the open tags decide the rest)."""
    flags = bytearray(len(machine.text) + 1)
    for pos in machine.opens_at:
        flags[pos] |= OPENS
    for pos in machine.closes_at:
        flags[pos] |= CLOSES
    return bytes(flags)


@dataclass
class TableBatch(Batch):
    """A :class:`Batch` with its :class:`CandidateTable`: rows ``copy_offsets[i] + p`` and
    ``tag_end_offsets[i] + p`` are row ``i``'s two text rows at byte ``p``
    (:func:`text_candidates`); ``tag_offsets[i]`` is where its type set's :class:`TagTokens`
    rows begin, and ``tag_at[i]`` is that type set's ``at`` (row numbers by context).
    ``plain``, ``pos``, ``stack``, ``plain_tags`` and ``flags`` hold the plain rows
    (:meth:`TableDecoder._settle`); ``copied[i]`` is the bytes row ``i``'s chosen plain copy
    moves it by (0: none chosen)."""

    table: CandidateTable | None = None
    stages: list[tuple[int, int, int]] = field(default_factory=list)  # (first row, end, text rows)
    tag_base: dict[tuple[str, ...], int] = field(default_factory=dict)  # type set -> tag row
    copy_offsets: list[int] = field(default_factory=list)
    tag_end_offsets: list[int] = field(default_factory=list)
    tag_offsets: list[int] = field(default_factory=list)
    tag_at: list[dict] = field(default_factory=list)  # each row's TagTokens.at
    next_states: dict[int, frozenset | None] = field(default_factory=dict)
    flags: list[bytes] = field(default_factory=list)
    plain: list[bool] = field(init=False)
    pos: list[int] = field(init=False)
    stack: list[tuple[str, ...]] = field(init=False)
    plain_tags: list[tuple[int, int, int, int] | None] = field(init=False)
    copied: list[int] = field(init=False)

    @property
    def staged(self) -> int:
        """How many rows (the first ones) have been added to the table: the end of the last
        stage (stages leave the table only after a later one came)."""
        return self.stages[-1][1] if self.stages else 0

    def __post_init__(self) -> None:
        super().__post_init__()
        rows = len(self.machines)
        self.plain = [False] * rows
        self.pos = [0] * rows
        self.stack = [()] * rows
        self.plain_tags = [None] * rows
        self.copied = [0] * rows
