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

How many tokens to draft depends on what a step costs: each drafted token is arithmetic
spent whether it is kept or not. :func:`draft_length` drafts while the tokens read per step
stay under a budget (:data:`QUERY_TOKENS`: small on a CPU, where a step of 64 rows is already
bound by arithmetic, large on a GPU); with a full CPU batch it drafts nothing and this decoder
is the token-tables decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_bioner.decoding.allowed_tokens import FINISHED, best_candidates, plain_layers
from hf_bioner.decoding.automaton import State
from hf_bioner.decoding.token_tables import TableBatch, TableDecoder

MAX_DRAFT = 4  # tokens drafted per row and step at most
# Tokens one step may read, rows times (1 + draft), per device type: a CPU step of 16 rows
# reading 5 tokens each costs about 1.8x one of 1 token each (the draft pays when more than
# about two tokens are kept); a GPU step costs about the same for any of these sizes.
QUERY_TOKENS = {"cpu": 80, "cuda": 4096}
DRAFT_BYTES = 12  # bytes of text tokenized per drafted token (a Chinese character is 3)


def draft_length(rows: int, device_type: str, limit: int = MAX_DRAFT) -> int:
    """Tokens to draft per row at a step of ``rows`` rows on ``device_type``."""
    budget = QUERY_TOKENS.get(device_type, QUERY_TOKENS["cuda"])
    return max(0, min(limit, budget // max(rows, 1) - 1))


def forget_slots(attention, kept, read: int):
    """Mask the cache slots of draft tokens that were not kept.

    The last ``read`` slots of every row were just read; row ``n`` keeps the first
    ``kept[n] + 1`` of them. The others stay in the cache as holes no later token attends to
    (moving every row's keys and values to close them cost more than the draft saved; a row
    reads past its holes through its own positions). Returns the new attention mask.
    """
    import torch

    kept = torch.as_tensor(kept, device=attention.device)
    slots = torch.arange(read, device=attention.device)
    attention = attention.clone()
    attention[:, -read:] *= slots[None, :] <= kept[:, None]
    return attention


class DraftedTableDecoder(TableDecoder):
    """:class:`TableDecoder` reading copy drafts with each step (module doc)."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None, max_draft: int = MAX_DRAFT):  # fmt: skip
        super().__init__(model, tokenizer, eos_ids, step_dtype, prefill_dtype)
        self.max_draft = max_draft
        self.drafted = 0  # tokens drafted and read, and of them kept (for benchmarks)
        self.kept = 0

    def _step(self, batch: TableBatch, active: list[int], tokens: list[int], cache, attention,
              position):  # fmt: skip
        """Read each row's token and its draft; keep each draft up to the model's first
        disagreement; the hidden state after each row's last kept token."""
        import torch

        live = sum(row != FINISHED for row in active)
        length = self._draft_length(live, cache, attention)
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
        kept_tensor = torch.tensor(kept, device=device)
        last = hidden[torch.arange(len(active), device=device), kept_tensor]
        return last, attention, position + 1 + kept_tensor

    def _draft_length(self, rows: int, cache, attention) -> int:
        """Tokens to draft this step: by :func:`draft_length`, none where the cache's layers
        are not plain keys and values (a recurrent layer cannot forget a token), nor where the
        drafted slots could reach a sliding window (the holes count in it)."""
        length = draft_length(rows, attention.device.type, self.max_draft)
        if not plain_layers(cache):
            return 0
        if self.sliding_window and attention.shape[1] + 1 + length >= self.sliding_window - 1:
            return 0
        return length

    def _drafts(self, batch: TableBatch, active: list[int], length: int) -> list[list[int]]:
        """Each row's draft: the next tokens of a plain copy of its sentence from where it
        stands (none inside a tag, with several readings, past its budget, or finished)."""
        rests, owners = [], []
        for n, row in enumerate(active):
            if row == FINISHED:
                continue
            states = self._states(batch, row)
            room = batch.budgets[row] - len(batch.answers[row]) - 1  # a draft never ends a row
            if len(states) != 1 or room < 1:
                continue
            (state,) = states
            rest = batch.machines[row].text[state.pos : state.pos + DRAFT_BYTES * length]
            if state.partial or state.kind != "copy" or not rest or 0x80 <= rest[0] < 0xC0:
                continue  # inside a tag, the empty answer, the end, or inside a character
            rests.append(rest)
            owners.append((n, min(length, room), state.pos))
        drafts: list[list[int]] = [[] for _ in active]
        if not rests:
            return drafts
        texts = [rest.decode("utf-8", errors="ignore") for rest in rests]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        for (n, most, start), rest, ids in zip(owners, rests, encoded, strict=True):
            # Text was cut after the rest: its last token may end mid-word.
            cut = start + len(rest) < len(batch.machines[active[n]].text)
            drafts[n] = self._plain_copy(ids[:-1] if cut else ids, rest)[:most]
        return drafts

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
                places.append((n, j))
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
                self._keep(batch, row, draft[:count])
            kept.append(count)
            self.drafted += len(draft)
            self.kept += count
        return kept

    def _keep(self, batch: TableBatch, row: int, tokens: list[int]) -> None:
        """Write kept draft tokens (plain copies) to a row's answer and advance its state."""
        (state,) = self._states(batch, row)
        copied = sum(self.plain_lengths[t] for t in tokens)
        batch.answers[row].extend(tokens)
        self._settle(batch, row, frozenset({State(state.pos + copied, state.stack)}))
