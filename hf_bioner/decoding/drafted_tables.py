"""The token-tables decoder with copy drafts: several copied tokens checked per forward pass.

An ``inline`` answer is mostly its sentence copied. When the model's step is bound by reading
its weights rather than by arithmetic (a GPU at any batch size, a CPU at a few rows), reading
five tokens per row costs little more than reading one. So after each row writes its token,
this decoder *drafts* the next tokens of a plain copy (the rest of the sentence from where the
row stands, tokenized) and reads them in the same forward pass; then, for every drafted
position, it scores that position's candidates (:class:`~hf_bioner.decoding.token_tables.
TableDecoder`'s tables, at the state the draft would reach) and keeps the draft up to the first
token the model would not have written. The rest of the pass is forgotten: no later token
attends to the slots of what a row did not keep (:func:`forget_slots`). The answers are those of constrained greedy
decoding, as with every decoder here (up to floating-point differences between reading one
token and several).

A row inside a tag drafts the tag's rest first, then the copy after it: a close tag can only
be the innermost one's (``</`` drafts ``Disease``, ``>``), and an open tag is guessed as the
type most often opened so far for that type set (``<`` drafts ``Disease``, ``>``). Without
this every entity cost four steps of one token each (a type name, a ``>``, twice), a third
of all row-steps of the default call on NCBI-disease abstracts.

How many tokens to draft depends on what a step costs: each drafted token is arithmetic
spent whether it is kept or not. :func:`draft_length` drafts while the tokens read per step
stay under a budget (:data:`QUERY_TOKENS`: small on a CPU, where a step of 64 rows is already
bound by arithmetic, larger for int8 steps there, large on a GPU); with a full CPU batch of
bf16 or fp32 steps it drafts nothing and this decoder is the token-tables decoder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hf_bioner.decoding.allowed_tokens import FINISHED, best_candidates
from hf_bioner.decoding.automaton import State
from hf_bioner.decoding.token_tables import TableBatch, TableDecoder

MAX_DRAFT = 4  # tokens drafted per row and step at most
# Tokens one step may read, rows times (1 + draft), per device type: a CPU step of 16 rows
# reading 5 tokens each costs about 1.8x one of 1 token each (the draft pays when more than
# about two tokens are kept); a GPU step costs about the same for any of these sizes. Int8
# steps on a CPU (``cpu-int8``) read many tokens cheaply: on an AMD EPYC a step of 64 rows
# reading 5 tokens each cost 3.2x one of 1 token each (step_cost_epyc-1core.json), where the
# default call's rows keep about 3.2 of 4 drafted tokens.
QUERY_TOKENS = {"cpu": 80, "cpu-int8": 320, "cuda": 4096}
PLAN_BYTES = 192  # bytes of a sentence's rest tokenized at once for a row's drafts


def draft_length(rows: int, device_type: str, limit: int = MAX_DRAFT) -> int:
    """Tokens to draft per row at a step of ``rows`` rows on ``device_type``."""
    budget = QUERY_TOKENS.get(device_type, QUERY_TOKENS["cuda"])
    return max(0, min(limit, budget // max(rows, 1) - 1))


def forget_slots(attention, kept, read: int):
    """Mask the cache slots of draft tokens that were not kept.

    The last ``read`` slots of every row were just read; row ``n`` keeps the first
    ``kept[n] + 1`` of them. The others stay in the cache as holes no later token attends to
    (moving every row's keys and values to close them cost more than the draft saved; a row
    reads past its holes through its own positions). Holes take places in a sliding window,
    so a batch holding them is read again before its width reaches one
    (:meth:`~hf_bioner.decoding.allowed_tokens.AllowedTokenDecoder._outgrew_window`).
    Returns the new attention mask.
    """
    import torch

    kept = torch.as_tensor(kept, device=attention.device)
    slots = torch.arange(read, device=attention.device)
    attention = attention.clone()
    attention[:, -read:] *= slots[None, :] <= kept[:, None]
    return attention


def tokenize_plain(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of ``texts`` without special tokens, one text at a time through the fast
    tokenizer's backend where there is one: the few short texts of a step cost ~15 us each
    that way, where one batched call cost ~80 us, or ~570 us when the tokenizers library
    spreads a batch over threads (its default) on a busy 2-core machine."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [backend.encode(text, add_special_tokens=False).ids for text in texts]


class DraftedTableDecoder(TableDecoder):
    """:class:`TableDecoder` reading copy drafts with each step (module doc)."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None, max_draft: int = MAX_DRAFT):  # fmt: skip
        from hf_bioner.quantization import INT8

        super().__init__(model, tokenizer, eos_ids, step_dtype, prefill_dtype)
        self.max_draft = max_draft
        self.int8_steps = step_dtype == INT8  # a CPU's step budget is larger for them
        self.drafted = 0  # tokens drafted and read, and of them kept (for benchmarks)
        self.kept = 0
        self.kept_in_tags = 0  # of them, kept by rows that began inside a tag (tag and copy)
        self.plans: list[CopyPlan] = []  # each row's plan, for the batch being written
        self.opened: Counter[tuple[tuple[str, ...], str]] = Counter()  # (type set, type) opened
        self.tag_tokens: dict[bytes, list[int]] = {}  # a tag's rest -> its tokens
        self.along: dict[int, list[State]] = {}  # this step's tag drafts' states, by place

    def _step(self, batch: TableBatch, active: list[int], tokens: list[int], cache, attention,
              position):  # fmt: skip
        """Read each row's token and its draft; keep each draft up to the model's first
        disagreement; the hidden state after each row's last kept token."""
        import torch

        live = sum(row != FINISHED for row in active)
        length = self._draft_length(live, attention)
        drafts = self._drafts(batch, active, length) if length else []
        longest = max((len(d) for d in drafts), default=0)
        if not longest:
            return super()._step(batch, active, tokens, cache, attention, position)
        device = attention.device
        rows = [
            [t, *d] + [self.pad_id] * (longest - len(d))
            for t, d in zip(tokens, drafts, strict=True)
        ]
        ids = torch.tensor(rows, device=device)
        block = torch.tensor([[1] * (1 + len(d)) + [0] * (longest - len(d)) for d in drafts],
                             dtype=attention.dtype, device=device)  # fmt: skip
        attention = torch.cat([attention, block], dim=1)
        steps = torch.arange(1 + longest, device=device)
        hidden = self._run(cache, self.step_body, every_position=True, input_ids=ids,
                           attention_mask=attention, position_ids=position[:, None] + steps)  # fmt: skip
        kept = self._check(batch, active, drafts, hidden)
        attention = forget_slots(attention, kept, 1 + longest)
        self.holes = True  # read again before a sliding window reaches them (_outgrew_window)
        kept_tensor = torch.tensor(kept, device=device)
        last = hidden[torch.arange(len(active), device=device), kept_tensor]
        return last, attention, position + 1 + kept_tensor

    def _draft_length(self, rows: int, attention) -> int:
        """Tokens to draft this step: by :func:`draft_length`, none where the cache's layers
        are not plain keys and values (a recurrent layer cannot forget a token), nor where the
        drafted slots could reach a sliding window (the holes count in it)."""
        device_type = attention.device.type
        if device_type == "cpu" and self.int8_steps:
            device_type = "cpu-int8"
        length = draft_length(rows, device_type, self.max_draft)
        if not self.joinable:
            return 0
        if self.sliding_window and attention.shape[1] + 1 + length >= self.sliding_window - 1:
            return 0
        return length

    def _start(self, prompts, constraints, max_new_tokens) -> TableBatch:
        """The batch, with no plans yet (a row is planned when it first drafts)."""
        batch = super()._start(prompts, constraints, max_new_tokens)
        self.plans = [CopyPlan.empty()] * len(batch.machines)
        return batch

    def _drafts(self, batch: TableBatch, active: list[int], length: int) -> list[list[int]]:
        """Each row's draft: the next tokens of a plain copy of its sentence from where it
        stands, after the rest of the tag it is writing if it is inside one (none with
        several readings, past its budget, or finished).

        The copy's tokens come from the row's :class:`CopyPlan`, the tokenized rest of its
        sentence; only a row standing where its plan has no token boundary (after a tag, or
        where the model split the text otherwise) is tokenized again. Tokenizing every row's
        rest at every step cost ~1 ms a step on this project's CPU, more than the rest of a
        step's decoding work at a few rows. A tag's rest comes from :meth:`_tag_rest`."""
        wanted: list[tuple[int, int, int, int, list[int]]] = []  # (place, row, byte, most, tag)
        for n, row in enumerate(active):
            if row == FINISHED:
                continue
            states = self._states(batch, row)
            room = batch.budgets[row] - len(batch.answers[row]) - 1  # a draft never ends a row
            if len(states) != 1 or room < 1:
                continue
            (state,) = states
            if state.kind != "copy":
                continue  # the empty answer
            if state.fresh and not state.partial:
                self.opened[tuple(batch.machines[row].types), state.stack[-1]] += 1
            tag = self._tag_rest(batch, row, state) if state.partial else []
            if state.partial and not tag:
                continue  # a tag whose rest cannot be guessed or spelled
            most = min(length, room)
            text = batch.machines[row].text
            if state.pos < len(text) and not 0x80 <= text[state.pos] < 0xC0:
                wanted.append((n, row, state.pos, most, tag))
            elif tag:  # at the end, or inside a character: the tag alone
                wanted.append((n, row, -1, most, tag))
        stale = [(row, pos) for _, row, pos, _, _ in wanted
                 if pos >= 0 and pos not in self.plans[row].at]  # fmt: skip
        if stale:
            self._plan(batch, stale)
        drafts: list[list[int]] = [[] for _ in active]
        self.along = {}
        for n, row, pos, most, tag in wanted:
            copied = self.plans[row].tokens_at(pos, max(0, most - len(tag))) if pos >= 0 else []
            drafts[n] = (tag + copied)[:most]
            if tag:
                (state,) = self._states(batch, row)
                self.along[n] = self._states_along(batch, row, state, drafts[n])
                del drafts[n][len(self.along[n]) - 1 :]
        return drafts

    def _tag_rest(self, batch: TableBatch, row: int, state: State) -> list[int]:
        """The tokens that finish the tag a row is writing: the close tag it must be (only
        the innermost tag may close), or the open tag of the type this decoder has seen
        opened most often for the row's type set (a guess the model checks, as every draft).
        Empty where no tag fits or the tokenizer spells its rest otherwise."""
        machine = batch.machines[row]
        partial = state.partial
        if machine.can_close(state) and machine.closes[state.stack[-1]].startswith(partial):
            tag = machine.closes[state.stack[-1]]
        else:
            names = [name for name in machine.openable(state)
                     if machine.opens[name].startswith(partial)]  # fmt: skip
            if not names:
                return []
            types = tuple(machine.types)
            name = max(names, key=lambda n: self.opened[types, n])  # the first on a tie
            tag = machine.opens[name]
        rest = tag[len(partial) :]
        if rest not in self.tag_tokens:
            (ids,) = tokenize_plain(self.tokenizer, [rest.decode("utf-8", errors="ignore")])
            spelled = b"".join(self.table.bytes_of[i] or b"" for i in ids)
            self.tag_tokens[rest] = ids if spelled == rest else []
        return self.tag_tokens[rest]

    def _plan(self, batch: TableBatch, stale: list[tuple[int, int]]) -> None:
        """New plans for ``(row, byte)`` pairs: up to :data:`PLAN_BYTES` of the rest of each
        row's sentence from that byte, tokenized (a plan cut short there ends before its
        last token, which may be cut mid-word, and is planned again when a row gets there)."""
        rests = [batch.machines[row].text[pos : pos + PLAN_BYTES] for row, pos in stale]
        encoded = tokenize_plain(self.tokenizer,
                                 [rest.decode("utf-8", errors="ignore") for rest in rests])  # fmt: skip
        for (row, pos), rest, ids in zip(stale, rests, encoded, strict=True):
            cut = pos + len(rest) < len(batch.machines[row].text)
            offered = ids[:-1] if cut else ids
            copied = self._plain_copy(offered, rest)
            # A plan that stopped before its last token offered (a tag's "<", or text the
            # tokenizer changed) drafts nothing from there; one that ran out is planned again.
            self.plans[row] = CopyPlan.of(pos, copied, self.plain_lengths,
                                          ends=len(copied) < len(offered) or not cut)  # fmt: skip

    def _plain_copy(self, ids: list[int], rest: bytes) -> list[int]:
        """The leading ``ids`` that spell ``rest`` byte for byte, without a ``<`` or ``>``
        (a tokenizer that normalizes text, or adds a prefix space, drafts nothing)."""
        copied, offset = [], 0
        for token in ids:
            data = self.table.bytes_of[token]
            if not data or b"<" in data or b">" in data or not rest.startswith(data, offset):
                break
            copied.append(token)
            offset += len(data)
        return copied

    def _check(self, batch: TableBatch, active: list[int], drafts: list[list[int]],
               hidden) -> list[int]:  # fmt: skip
        """How many drafted tokens each row keeps: position ``j`` of a row's pass (its state
        after ``j`` drafted tokens) must choose drafted token ``j + 1``; all such positions
        of all rows are scored in one lookup."""
        import torch

        places, lookups = [], []
        for n, (row, draft) in enumerate(zip(active, drafts, strict=True)):
            if not draft:
                continue
            places += [(n, j) for j in range(len(draft))]
            if n in self.along:
                for at in self.along[n][:-1]:
                    lookups += self._table_rows_at(batch, row, at)
                continue
            (state,) = self._states(batch, row)
            # After its first copied token a row is plain (a row just after an open tag is
            # not yet): its tag rows by byte are those of its open tags.
            tags = (
                batch.plain_tags[row]
                if batch.plain[row]
                else self._plain_tag_rows(batch, row, state.stack)
            )
            pos, flags, copies = state.pos, batch.flags[row], batch.copy_offsets[row]
            for j, token in enumerate(draft):
                if j == 0 and not batch.plain[row]:
                    lookups += self._table_rows_at(batch, row, state)
                else:  # _plain_rows, inlined
                    lookups += (copies + pos, tags[flags[pos]])
                pos += self.plain_lengths[token]
        candidates = batch.table.gather(batch.table.lookup(lookups))
        rows = torch.tensor([n for n, _ in places], device=hidden.device)
        columns = torch.tensor([j for _, j in places], device=hidden.device)
        chosen = best_candidates(hidden[rows, columns], self.head, candidates).tolist()
        agrees = {place: drafts[place[0]][place[1]] == token
                  for place, token in zip(places, chosen, strict=True)}  # fmt: skip
        kept = []
        for n, (row, draft) in enumerate(zip(active, drafts, strict=True)):
            count = 0
            while count < len(draft) and agrees[n, count]:
                count += 1
            if count:
                along = self.along.get(n)
                self._keep(batch, row, draft[:count], along[count] if along else None)
            kept.append(count)
            self.drafted += len(draft)
            self.kept += count
            self.kept_in_tags += count if n in self.along else 0
        return kept

    def _states_along(self, batch: TableBatch, row: int, state: State,
                      draft: list[int]) -> list[State]:  # fmt: skip
        """The row's state before each drafted token and after the last: a tag's rest
        through the automaton, the copy after it by bytes. It stops before a token that
        leads to no single state (the draft is cut there)."""
        machine, states = batch.machines[row], [state]
        for token in draft:
            if state.partial or state.fresh:
                following = machine.advance(frozenset({state}), self.table.bytes_of[token])
                if len(following) != 1:
                    break
                (state,) = following
            else:
                state = State(state.pos + self.plain_lengths[token], state.stack)
            states.append(state)
        return states

    def _keep(self, batch: TableBatch, row: int, tokens: list[int],
              state: State | None = None) -> None:  # fmt: skip
        """Write kept draft tokens to a row's answer and move it to ``state``, where they
        lead (by default: plain copies from where it stands)."""
        if state is None:
            (before,) = self._states(batch, row)
            copied = sum(self.plain_lengths[t] for t in tokens)
            state = State(before.pos + copied, before.stack)
        batch.answers[row].extend(tokens)
        self._settle(batch, row, frozenset({state}))


@dataclass(frozen=True)
class CopyPlan:
    """The tokens of a plain copy of a sentence's rest from byte ``start`` (the tokenizer's
    own split), and the byte where each begins: a row standing at one of those bytes drafts
    the tokens from there on."""

    tokens: list[int]
    at: dict[int, int]  # byte -> index of the token beginning there

    @classmethod
    def of(cls, start: int, tokens: list[int], lengths: Sequence[int], ends: bool) -> CopyPlan:
        """The plan of ``tokens`` copied from byte ``start``. Where they stop it drafts
        nothing if it ``ends`` there (so a row is not planned again at that byte); otherwise
        that byte is left out of :attr:`at` and a row reaching it is planned anew."""
        at, pos = {}, start
        for i, token in enumerate(tokens):
            at[pos] = i
            pos += lengths[token]
        if ends:
            at[pos] = len(tokens)
        return cls(tokens, at)

    @classmethod
    def empty(cls) -> CopyPlan:
        return cls([], {})

    def tokens_at(self, pos: int, most: int) -> list[int]:
        """Up to ``most`` planned tokens from byte ``pos`` (a key of :attr:`at`)."""
        i = self.at[pos]
        return self.tokens[i : i + most]
