"""The default decoder: each row's candidate tokens looked up in tables built once per prompt.

:class:`~hf_bioner.decoding.allowed_tokens.AllowedTokenDecoder` walks the automaton for
every row at every step to find the allowed tokens, then copies each row's list to the
device: about 90 microseconds of Python per row and step, which at the batch sizes a GPU
needs (hundreds of rows) costs more than the model's own forward pass. This decoder does the
walking once per prompt instead, and checks one token per row and step:

- **Tables.** While an answer copies its sentence, the tokens it may write from byte ``p``
  are those spelling ``text[p:q]`` for some ``q``, those starting a tag (``<``, ``</``,
  ``<Dis`` ...) and those that end the copied text and start a tag in one token (``" <"``).
  :func:`copy_candidates` lists them for every ``p`` of a sentence when its batch starts;
  inside a tag, the tokens that agree with the rest of some tag of the type set (and anything
  after it) are one table row per type set (:class:`TagTokens`). These are *supersets* of
  the allowed tokens: the automaton's rules on where tags may go are left to the check.
- **One lookup per step.** Every row's table row index goes to the device in one tensor;
  the rows' candidates are gathered there, scored against the slice of the head they name,
  and the best candidate of every row comes back in one transfer (the step's only sync).
- **One check per row.** The best candidate of a superset is the best allowed token when it
  is allowed, so each row checks only its winner against the automaton (for a plain copy,
  a byte comparison). A winner the automaton refuses (a tag where none may go) sends that
  row, that step, through the exact walk, as do rows whose automaton holds several readings
  (text containing ``<``). So the answers are those of the other decoders.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from hf_bioner.decoding.allowed_tokens import AllowedTokenDecoder, Batch, _best_allowed
from hf_bioner.decoding.automaton import InlineAutomaton, State, TokenTable

COPY_CACHE_SIZE = 4096  # sentences whose copy candidates are kept (a sentence is often
# prompted once per type set, in the same batch or the next)


class VocabularyIndex:
    """The tokenizer's tokens sorted by their bytes: every token that starts with some bytes
    is one slice. Built once per tokenizer and kept on it (as :class:`TokenTable` is)."""

    def __init__(self, table: TokenTable):
        pairs = sorted((data, i) for i, data in enumerate(table.bytes_of) if data)
        self.table = table
        self.sorted_bytes = [data for data, _ in pairs]
        self.sorted_ids = [i for _, i in pairs]
        # Tokens with a "<" after their first byte: text and the start of a tag in one token.
        self.inner_tag_starts = [(data, i) for data, i in pairs if b"<" in data[1:]]

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

    def agreeing(self, target: bytes) -> list[int]:
        """Ids of the tokens that agree with ``target`` on their common length: its proper
        prefixes, and every token that starts with all of it."""
        ids = [
            i for end in range(1, len(target)) for i in self.table.by_bytes.get(target[:end], ())
        ]
        return ids + self.starting_with(target)


def _agrees(data: bytes, tags: Sequence[bytes]) -> bool:
    return any(tag.startswith(data) or data.startswith(tag) for tag in tags)


@dataclass
class TagTokens:
    """The tag-related candidates of one type set.

    ``opening``: tokens that may be written where a tag starts (``<``, ``</``, ``<Dis``...);
    ``inside``: tokens that may continue a tag already begun; ``after_text``: tokens made of
    some text and then the start of a tag, by that text (e.g. ``b" "`` -> the id of ``" <"``).
    """

    opening: list[int]
    inside: list[int]
    after_text: dict[bytes, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, index: VocabularyIndex, names: Sequence[str]) -> TagTokens:
        tags = [f"<{name}>".encode() for name in names] + [f"</{name}>".encode() for name in names]
        opening = sorted({i for tag in tags for i in index.agreeing(tag)})
        inside = sorted(
            {i for tag in tags for k in range(1, len(tag)) for i in index.agreeing(tag[k:])}
        )
        after_text: dict[bytes, set[int]] = {}
        for data, token in index.inner_tag_starts:
            for at in range(1, len(data)):
                if data[at] == ord("<") and _agrees(data[at:], tags):
                    after_text.setdefault(data[:at], set()).add(token)
        return cls(opening, inside, {text: sorted(ids) for text, ids in after_text.items()})


def copy_candidates(text: bytes, table: TokenTable, tags: TagTokens,
                    end_ids: Sequence[int]) -> list[list[int]]:  # fmt: skip
    """For every byte offset ``p`` of ``text`` (and its end), the tokens an answer standing
    at ``p`` outside any tag may write: a copy of ``text[p:q]``, a tag's start, or some text
    and a tag's start in one token; at the end, the close tags and end of sequence."""
    rows = []
    for p in range(len(text) + 1):
        ids = list(tags.opening)
        for q in range(p + 1, len(text) + 1):
            piece = text[p:q]
            if piece not in table.prefixes:
                break
            ids += table.by_bytes.get(piece, ())
            ids += tags.after_text.get(piece, ())
        rows.append(ids)
    rows[-1] += end_ids
    return rows


class TableDecoder(AllowedTokenDecoder):
    """Constrained greedy ``inline`` answers from per-prompt candidate tables (module doc)."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None):
        super().__init__(model, tokenizer, eos_ids, step_dtype)
        self.index = VocabularyIndex.of(tokenizer)
        self.tag_tokens: dict[tuple[str, ...], TagTokens] = {}
        self.copy_cache: dict[tuple[bytes, tuple[str, ...]], list[list[int]]] = {}

    def _tags(self, names: Sequence[str]) -> TagTokens:
        key = tuple(names)
        if key not in self.tag_tokens:
            self.tag_tokens[key] = TagTokens.of(self.index, names)
        return self.tag_tokens[key]

    def _copy_rows(self, machine: InlineAutomaton) -> list[list[int]]:
        key = (machine.text, tuple(machine.types))
        rows = self.copy_cache.get(key)
        if rows is None:
            if len(self.copy_cache) >= COPY_CACHE_SIZE:
                self.copy_cache.clear()
            tags = self._tags(machine.types)
            rows = copy_candidates(machine.text, self.table, tags, self.eos_ids)
            self.copy_cache[key] = rows
        return rows

    def _start(self, prompts, constraints, max_new_tokens) -> TableBatch:
        """The batch's rows, and its candidate table on the model's device (one transfer):
        the copy rows of every sentence, then one ``inside`` row per type set."""
        import torch

        base = super()._start(prompts, constraints, max_new_tokens)
        table_rows: list[list[int]] = []
        copy_offsets = []
        for machine in base.machines:
            copy_offsets.append(len(table_rows))
            table_rows += self._copy_rows(machine)
        inside_of: dict[tuple[str, ...], int] = {}
        for machine in base.machines:
            key = tuple(machine.types)
            if key not in inside_of:
                inside_of[key] = len(table_rows)
                table_rows.append(self._tags(key).inside)
        inside_rows = [inside_of[tuple(m.types)] for m in base.machines]
        width = max(len(row) for row in table_rows)
        padded = [row + [row[0]] * (width - len(row)) for row in table_rows]
        valid = [[True] * len(row) + [False] * (width - len(row)) for row in table_rows]
        device = self.head.weight.device
        return TableBatch(
            machines=base.machines,
            prompt_ids=base.prompt_ids,
            budgets=base.budgets,
            candidates=torch.tensor(padded, device=device),
            valid=torch.tensor(valid, device=device),
            copy_offsets=copy_offsets,
            inside_rows=inside_rows,
        )

    def _table_row(self, batch: TableBatch, row: int) -> int | None:
        """The candidate row of a row's single reading, or None (several readings, or the
        row was released: the exact path decides)."""
        states = batch.states[row]
        if len(states) != 1:
            return None
        (state,) = states
        if state.partial:
            return batch.inside_rows[row]
        return batch.copy_offsets[row] + state.pos

    def _choose(self, batch: TableBatch, active: list[int], hidden) -> list[int]:
        """Every active row's best candidate, checked against its automaton; the rows whose
        winner is refused, or that have no table row, take the exact path."""
        import torch

        rows = [self._table_row(batch, row) for row in active]
        looked_up = [n for n, r in enumerate(rows) if r is not None]
        tokens = [-1] * len(active)
        if looked_up:
            index = torch.tensor([rows[n] for n in looked_up], device=batch.candidates.device)
            chosen = _best_candidates(hidden[looked_up] if len(looked_up) < len(active)
                                      else hidden, self.head, batch.candidates[index],
                                      batch.valid[index])  # fmt: skip
            for n, token in zip(looked_up, chosen.tolist(), strict=True):
                if self._accept(batch, active[n], token):
                    tokens[n] = token
        exact = [n for n, token in enumerate(tokens) if token < 0]
        if exact:
            allowed = [self._allowed(batch.machines[active[n]], batch.states[active[n]])
                       for n in exact]  # fmt: skip
            for n, token in zip(exact, _best_allowed(hidden[exact], self.head, allowed),
                                strict=True):  # fmt: skip
                tokens[n] = token
                batch.next_states[active[n]] = None
        return tokens

    def _accept(self, batch: TableBatch, row: int, token: int) -> bool:
        """Whether the automaton takes ``token`` here; its next states are kept for
        :meth:`_write`. A plain copy of the text is checked by comparing bytes."""
        machine, states = batch.machines[row], batch.states[row]
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
        if token in self.eos_ids:
            return False
        following = batch.next_states[row]
        if following is None:  # chosen on the exact path: advance as the base decoder does
            return super()._write(batch, row, token)
        batch.answers[row].append(token)
        batch.states[row] = following
        return len(batch.answers[row]) < batch.budgets[row]


@dataclass
class TableBatch(Batch):
    """A :class:`Batch` with its candidate table: ``candidates[r]`` / ``valid[r]`` is table
    row ``r`` (padded); row ``copy_offsets[i] + p`` holds row ``i``'s candidates at byte
    ``p`` outside tags, ``inside_rows[i]`` its candidates inside a tag."""

    candidates: object = None
    valid: object = None
    copy_offsets: list[int] = field(default_factory=list)
    inside_rows: list[int] = field(default_factory=list)
    next_states: dict[int, frozenset | None] = field(default_factory=dict)


def _best_candidates(hidden, head, candidates, valid):
    """For each row, the candidate with the highest logit (scored in fp32, as the other
    decoders score)."""
    import torch

    scores = torch.einsum("nkh,nh->nk", head.weight[candidates].float(), hidden.float())
    if head.bias is not None:
        scores = scores + head.bias[candidates].float()
    best = scores.masked_fill(~valid, float("-inf")).argmax(1, keepdim=True)
    return candidates.gather(1, best).squeeze(1)
