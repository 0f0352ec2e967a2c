"""Batched constrained greedy decoding that scores only the tokens an answer may take next.

While an ``inline`` answer is written, the automaton of :mod:`hf_bioner.decoding.automaton` allows a
handful of tokens at each step (the next pieces of the sentence, ``<``, the next piece of a
tag). Greedy decoding needs only the best of those, so instead of the full language-model
head (for Gemma 3 a 262k x 640 matrix: more compute per token than its whole transformer
body) each step multiplies the hidden state by the allowed rows of the head. Two more savings
come for free in a loop of our own:

- the beginning that every prompt of a batch shares (instructions and type definitions) is
  read once and its key/value cache copied to every row (with a sliding-window model, until a
  row outgrows the window: see :meth:`AllowedTokenDecoder._outgrew_window`);
- rows that have finished (or spent their budget, :func:`~hf_bioner.decoding.answers.answer_budget`)
  leave the batch, so the rest do not carry them (on a CPU at once; on a GPU a quarter of the
  batch at a time, so that the cache is not copied for every row: :data:`FINISHED_SHARE`);
- optionally (``step_dtype``), the one-token steps run on a bf16 copy of the decoder: a step
  reads every weight for a handful of tokens, so it is bound by memory traffic, which bf16
  halves; and (``prefill_dtype``) the prompts are read by it too: on a CPU with bf16 units
  (AMX) a batch of 16 prompts was read 2.9x faster in bf16 than in fp32, where a CPU without
  them is slower in bf16, which is why the rule that picks both (``step_dtype("auto")``)
  asks for bf16 only where it is fast. The answers can then differ from full-precision
  decoding where two tokens score almost alike.

The choice at each step is the argmax over the same allowed set that ``model.generate`` with
:class:`~hf_bioner.decoding.answers.InlineConstraint` takes, so without ``step_dtype`` the answers
are the same (up to floating-point differences of batching; tested on tiny models). Models whose head is not a
plain linear layer over the decoder's hidden states fall back to ``model.generate``
(:func:`supports_sliced_head`).
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from hf_bioner.decoding.answers import Answer, answer_budgets, answer_from_tokens
from hf_bioner.decoding.automaton import InlineAutomaton, TokenTable, next_tokens
from hf_bioner.models import cache_argument

# Cache layers whose rows can be joined by left-padding their keys and values.
JOINABLE_LAYERS = ("DynamicLayer", "DynamicSlidingWindowLayer", "InPlaceLayer",
                   "InPlaceSlidingWindowLayer")  # fmt: skip
# Sharing a prompt beginning shorter than this saves less than it costs to copy the cache.
MIN_SHARED_TOKENS = 8
# The place of a finished row in the batch until the batch is compacted (:meth:`_compacts`).
FINISHED = -1
# The share of finished rows at which they leave the batch, per device type: each leaving
# costs a few small copies (:func:`_compact`) and a cache that is no longer contiguous in
# rows; carrying a finished row costs its share of every step. On a CPU, where a step's cost
# grows with its rows, carrying them a quarter at a time made the default call 7% slower
# (default_call_speed_bundled-1core-per-call-lazy-compaction.json), so they leave at once;
# on a GPU a step costs about the same for any number of rows, so they leave a quarter at a time.
FINISHED_SHARE = {"cpu": 0.0, "cuda": 0.25}
# What one more forward pass costs, in padded prompt tokens, per device type: prompts of very
# different lengths are read in groups (:func:`prefill_groups`) when that saves more padding
# than the passes cost. On a CPU every padded token costs as much arithmetic as a real one
# (one NCBI-disease abstract's prompts, both English type sets, were 37% padding read in one
# batch), and a pass costs about 34 tokens (int8 on an AMD EPYC, step_cost_epyc-1core.json:
# a pass of one 16-token prompt took 25 ms, 16 prompts of 32 tokens 0.47 ms per token); on a
# GPU padding costs little next to a pass's kernel launches.
GROUP_PASS_TOKENS = {"cpu": 32, "cuda": 4096}


def long_tensor(values: Sequence[int], device):
    """``values`` as an int64 tensor on ``device``, made from an int64 array: for a step's
    few dozen ids ~4 us, where ``torch.tensor`` of the list took ~25."""
    import torch

    if not values:
        return torch.zeros(0, dtype=torch.long, device=device)
    return torch.frombuffer(array("q", values), dtype=torch.long).to(device)


def plain_layers(cache) -> bool:
    """Whether every layer of ``cache`` holds plain keys and values per row (no recurrent or
    shared layers): only such rows can be left-padded, moved between places or forgotten."""
    return all(type(layer).__name__ in JOINABLE_LAYERS for layer in cache.layers)


def supports_sliced_head(model) -> bool:
    """True when logits are ``head(decoder(...))`` with a linear head we can slice."""
    import torch

    try:
        head, body = model.get_output_embeddings(), model.get_decoder()
    except (AttributeError, NotImplementedError):
        return False
    return isinstance(head, torch.nn.Linear) and body is not None and body is not model


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens at the start of every row, leaving at least one token of each row unshared."""
    shortest = min(len(r) for r in rows)
    length = 0
    while length < shortest - 1 and all(r[length] == rows[0][length] for r in rows):
        length += 1
    return length


def prefill_groups(lengths: Sequence[int], pass_tokens: int) -> list[int]:
    """Where to cut rows of prompt ``lengths`` (kept in their order) into groups read in
    separate passes: the ends of the groups that minimize the tokens read, each group padded
    to its longest, plus ``pass_tokens`` per pass. Rows sorted by length (as decoders get
    them, per type set) group well in order."""
    best = [0] + [float("inf")] * len(lengths)  # best[end]: cheapest reading of rows[:end]
    start_of = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        longest = 0
        for start in range(end - 1, -1, -1):
            longest = max(longest, lengths[start])
            cost = best[start] + (end - start) * longest + pass_tokens
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    ends, end = [], len(lengths)
    while end:
        ends.append(end)
        end = start_of[end]
    return ends[::-1]


def _best_allowed(hidden, head, allowed: Sequence[Sequence[int] | None]) -> list[int]:
    """For each row, the allowed token with the highest logit (``None``: any token)."""
    import torch

    weight = head.weight
    choices = [0] * len(allowed)
    sliced = [i for i, ids in enumerate(allowed) if ids]
    if sliced:
        width = max(len(allowed[i]) for i in sliced)
        ids = torch.tensor([[*allowed[i], *[-1] * (width - len(allowed[i]))] for i in sliced],
                           dtype=torch.long, device=weight.device)  # fmt: skip
        best = best_candidates(hidden[sliced], head, ids)
        for i, token in zip(sliced, best.tolist(), strict=True):
            choices[i] = token
    for i, ids in enumerate(allowed):
        if not ids:  # released: nothing in the vocabulary spells the next byte
            choices[i] = int(head(hidden[i].to(head.weight.dtype)).argmax())
    return choices


def candidate_scores(hidden, head, candidates):
    """The logit of every candidate (``candidates[n]``: token ids, -1 past a row's last;
    ``-inf`` there), scored in fp32 against only those rows of the head.

    The rows are read with ``index_select`` (on a CPU faster than indexing the head with a
    2-D tensor) into a fresh tensor, multiplied in place and summed: on one CPU core, 64 rows
    of 35 candidates, 5.5x faster than ``bmm`` at width 640 and 2.6x at width 64, whose
    batched matrix-vector products are slow at these sizes
    (``benchmarks/results/candidate_scoring_cpu-1core.json``)."""
    flat = candidates.clamp(min=0).view(-1)
    rows = head.weight.index_select(0, flat).view(*candidates.shape, -1).float()
    scores = rows.mul_(hidden.float()[:, None, :]).sum(-1)
    if head.bias is not None:
        scores = scores + head.bias.index_select(0, flat).view_as(candidates).float()
    return scores.masked_fill_(candidates < 0, float("-inf"))


def best_candidates(hidden, head, candidates):
    """For each row, the candidate with the highest logit (:func:`candidate_scores`)."""
    best = candidate_scores(hidden, head, candidates).argmax(1, keepdim=True)
    return candidates.gather(1, best).squeeze(1)


def ranked_candidates(hidden, head, candidates, k: int):
    """For each row, its ``k`` best candidates, best first (-1 past a row's last): a decoder
    whose candidates are a superset of the allowed tokens takes the first one allowed. Equal
    scores keep the candidates' order, as ``argmax`` does (``topk`` may not: a model with
    exact ties, such as the tests' known model, then wrote another tag)."""
    scores = candidate_scores(hidden, head, candidates)
    ordered = scores.sort(dim=1, descending=True, stable=True)
    top, at = ordered.values[:, :k], ordered.indices[:, :k]
    return candidates.gather(1, at).masked_fill_(top == float("-inf"), -1)


class AllowedTokenDecoder:
    """Constrained greedy ``inline`` answers for batches of prompts (see the module doc)."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
        self.model = model
        self.tokenizer = tokenizer
        self.body = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.table = TokenTable.of(tokenizer)
        self.eos_ids = sorted(set(eos_ids))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.cache_argument = cache_argument(self.body)
        text_config = model.config.get_text_config(decoder=True)
        self.sliding_window = getattr(text_config, "sliding_window", None)
        self.step_body = self.body
        if step_dtype is not None and step_dtype != self.head.weight.dtype:
            self.step_body = step_copy(model, self.body, step_dtype, tokenizer)
        self.prefill_body = self.body
        if prefill_dtype is not None and prefill_dtype != self.head.weight.dtype:
            self.prefill_body = step_copy(model, self.body, prefill_dtype, tokenizer)
        # Whether rows read apart can share one cache (joined by left padding).
        from hf_bioner.decoding.kv_cache import decoding_cache

        self.joinable = plain_layers(decoding_cache(model.config))

    def _run(self, cache, body=None, every_position: bool = False, **inputs):
        """The decoder's last hidden state per row (or, with ``every_position``, the hidden
        states of every position read), extending ``cache``."""
        inputs[self.cache_argument] = cache
        hidden = (body or self.body)(**inputs, use_cache=True).last_hidden_state
        return hidden if every_position else hidden[:, -1]

    def _allowed(self, machine: InlineAutomaton, states) -> list[int] | None:
        """Token ids that continue a valid answer; ``None`` once a row is released."""
        allowed = next_tokens(machine, states, self.table, self.eos_ids) if states else None
        return sorted(allowed) if allowed else None

    def _shared_length(self, rows: list[list[int]]) -> int:
        """How many leading tokens to read once for the whole batch (0: none).

        Sharing puts each row's padding between the shared beginning and its own tokens. A
        sliding-window layer counts those padding slots inside its window, so sharing is used
        only when the padded prompts fit in the window; an answer that grows past it is read
        again without sharing (:meth:`_outgrew_window`).
        """
        shared = shared_prefix_length(rows) if len(rows) > 1 else 0
        longest = max(len(r) for r in rows)
        if shared < MIN_SHARED_TOKENS or (self.sliding_window and longest > self.sliding_window):
            return 0
        return shared

    def _outgrew_window(self, shared: int, attention) -> bool:
        """Whether the next step would see slots no row attends to through a sliding window (a
        query at slot ``q`` sees slots after ``q - window``): left padding at the start is
        harmless, but a shared batch's padding after its shared beginning, or the slots of
        drafts a row did not keep (:attr:`holes`), would take the place of real tokens. Such a
        batch is read again, prompts and answers so far, before it gets there."""
        if not (shared or self.holes) or not self.sliding_window:
            return False
        return attention.shape[1] >= self.sliding_window

    def _read_prompts(self, rows: list[list[int]], share: bool = True, group: bool = False):
        """Prefill: the shared beginning once (if ``share``), then every row's own rest,
        left-padded; or, with nothing shared and ``group``, the rows in groups of similar
        length (:meth:`_prefill_groups`).

        Returns the last hidden state per row, the cache, the attention mask, each row's next
        position, and how many tokens were shared.
        """
        shared = self._shared_length(rows) if share else 0
        ends = self._prefill_groups(rows) if group and not shared else [len(rows)]
        if len(ends) == 1:
            return self._read_padded(rows, shared)
        return self._read_groups(rows, ends)

    def _prefill_groups(self, rows: list[list[int]]) -> list[int]:
        """Where to cut ``rows`` into groups read apart (:func:`prefill_groups`); one group
        where caches cannot be joined (layers that are not plain keys and values).

        Groups joined before the first step make the cache one left-padded read of all rows
        would make, so unlike rows joining a running batch (:meth:`_joining`) they may go on
        to fill a sliding window: left padding is harmless there (:meth:`_outgrew_window`).
        Refusing groups to rows whose budgets could reach Gemma 3's 512-token window kept
        most long English sentences in one padded read (one NCBI-disease abstract's prompts
        were 40% padding)."""
        if len(rows) < 2 or not self.joinable:
            return [len(rows)]
        device_type = self.head.weight.device.type
        pass_tokens = GROUP_PASS_TOKENS.get(device_type, GROUP_PASS_TOKENS["cuda"])
        return prefill_groups([len(r) for r in rows], pass_tokens)

    def _may_reach_window(self, widest: int, budgets: Sequence[int]) -> bool:
        """Whether rows joined by left padding to ``widest`` slots could, writing their
        ``budgets``, reach a sliding window (which would cut their padding unevenly)."""
        return bool(self.sliding_window) and widest + max(budgets) >= self.sliding_window - 1

    def _read_groups(self, rows: list[list[int]], ends: list[int]):
        """Read each group of rows (``rows[previous end:end]``) apart and join their caches,
        left-padded to the widest (as rows joining a batch are)."""
        import torch

        hidden, cache, attention, position, _ = self._read_padded(rows[: ends[0]], 0)
        hiddens, positions = [hidden], [position]
        for start, end in zip(ends, ends[1:]):  # noqa: B905 (one fewer start than ends)
            new_hidden, new_cache, new_attention, new_position, _ = self._read_padded(
                rows[start:end], 0
            )
            attention = _join_caches(cache, attention, new_cache, new_attention)
            hiddens.append(new_hidden)
            positions.append(new_position)
        return torch.cat(hiddens), cache, attention, torch.cat(positions), 0

    def _read_padded(self, rows: list[list[int]], shared: int):
        """Read ``rows`` in one batch: the first ``shared`` tokens once, then every row's own
        rest, left-padded (:meth:`_read_prompts` returns)."""
        import torch

        device = self.model.device
        cache = self._new_cache()
        if shared:
            shared_ids = torch.tensor([rows[0][:shared]], device=device)
            self._run(cache, self.prefill_body, input_ids=shared_ids)
            cache.batch_repeat_interleave(len(rows))
        rests = [r[shared:] for r in rows]
        width = max(len(r) for r in rests)
        ids = torch.tensor([[self.pad_id] * (width - len(r)) + r for r in rests], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rests], device=device)
        positions = shared + (mask.cumsum(1) - 1).clamp(min=0)
        attention = torch.cat([torch.ones(len(rows), shared, dtype=mask.dtype, device=device),
                               mask], dim=1)  # fmt: skip
        hidden = self._run(cache, self.prefill_body, input_ids=ids, attention_mask=attention,
                           position_ids=positions)  # fmt: skip
        if self.step_body.dtype != self.prefill_body.dtype:
            _cast_cache(cache, self.step_body.dtype)
        return hidden, cache, attention, positions[:, -1] + 1, shared

    refill = False  # whether a finished row's place goes to the next waiting row at once
    holes = False  # whether the cache holds slots in the middle of rows (drafts not kept)
    in_place_cache = True  # steps write into the cache in place (kv_cache); False: transformers'

    def _new_cache(self):
        """An empty cache for a batch: :func:`~hf_bioner.decoding.kv_cache.decoding_cache`,
        or transformers' ``DynamicCache`` (which copies it at every step) without
        :attr:`in_place_cache` (``benchmarks/cache_speed.py`` compares the two)."""
        from transformers import DynamicCache

        from hf_bioner.decoding.kv_cache import decoding_cache

        if self.in_place_cache:
            return decoding_cache(self.model.config)
        return DynamicCache(config=self.model.config)

    def generate(
        self,
        prompts: Sequence[str],
        constraints: Sequence[tuple[str, Sequence[str]]],
        max_new_tokens: int | None = None,
        batch_size: int | None = None,
        on_done=None,
    ) -> list[Answer]:
        """Answers for ``prompts``: ``constraints[i] = (sentence, tag names)`` of ``prompts[i]``.

        ``batch_size`` rows are decoded at once (default: all), in the order given; the others
        wait. Without :attr:`refill` the next rows start when the whole batch has finished;
        with it, when a quarter of the batch has finished, as many waiting rows are read and
        join the batch, so that steps are not spent on a few long rows while the rest wait.
        Row ``i`` may write ``max_new_tokens`` tokens, by default
        :func:`~hf_bioner.decoding.answers.answer_budget` of its sentence; a row that spends
        it is finished and marked cut by :func:`~hf_bioner.decoding.answers.answer_from_tokens`.
        ``on_done(n)`` is told when ``n`` rows have finished (for progress bars).
        """
        import torch

        batch = self._start(prompts, constraints, max_new_tokens)
        size = batch_size or len(prompts)
        waiting = list(range(len(prompts)))[::-1]  # pop() gives the next row
        active: list[int] = []  # the row in each place of the batch (FINISHED: none)
        with torch.no_grad():
            while waiting or active:
                if not active:
                    active = self._by_length(
                        batch, [waiting.pop() for _ in range(min(size, len(waiting)))]
                    )
                    self._prepare(batch, [], active, size)
                    rows = [batch.prompt_ids[i] for i in active]
                    hidden, cache, attention, position, shared = self._read_prompts(
                        rows, group=True
                    )
                    self.holes = False
                tokens, finished = self._choose_and_write(batch, active, hidden)
                if on_done is not None and finished:
                    on_done(finished)
                if all(row == FINISHED for row in active):
                    active = []
                    continue
                outgrew = self._outgrew_window(shared, attention)
                if outgrew or self._compacts(active):
                    active, tokens, attention, position = _compact(
                        active, tokens, cache, attention, position, self.joinable
                    )
                if outgrew:
                    grown = [batch.prompt_ids[i] + batch.answers[i] for i in active]
                    hidden, cache, attention, position, shared = self._read_prompts(grown, False)
                    self.holes = False
                    continue
                hidden, attention, position = self._step(batch, active, tokens, cache,
                                                         attention, position)  # fmt: skip
                joining = self._joining(batch, waiting, len(active), size, cache, attention)
                if joining:
                    joining = self._by_length(batch, joining)
                    self._prepare(batch, active, joining, size)
                    rows = [batch.prompt_ids[i] for i in joining]
                    new_hidden, new_cache, new_attention, new_position, _ = self._read_prompts(
                        rows, share=False, group=True
                    )
                    attention = _join_caches(cache, attention, new_cache, new_attention)
                    hidden = torch.cat([hidden.float(), new_hidden.float()])
                    position = torch.cat([position, new_position])
                    active += joining
        return [answer_from_tokens(self.tokenizer, machine, tokens, budget)
                for machine, tokens, budget in zip(batch.machines, batch.answers, batch.budgets,
                                                   strict=True)]  # fmt: skip

    @staticmethod
    def _by_length(batch: Batch, rows: list[int]) -> list[int]:
        """``rows`` longest prompt first: the order they take their places in the batch, so
        that prompts of similar length are read together (:func:`prefill_groups` cuts only
        runs of rows in order; a batch holding two type sets' prompts of one text came
        ordered by type set, and each group was padded to the longest of both)."""
        return sorted(rows, key=lambda row: -len(batch.prompt_ids[row]))

    def _choose_and_write(self, batch: Batch, active: list[int], hidden) -> tuple[list[int], int]:
        """Choose and write the next token of every unfinished row; a row that finishes leaves
        its place as :data:`FINISHED`. Returns the token of every place (a finished place
        reads a padding token until the batch is compacted) and how many rows finished."""
        live = [n for n, row in enumerate(active) if row != FINISHED]
        if len(live) < len(active):
            hidden = hidden[live]
        chosen = self._choose(batch, [active[n] for n in live], hidden)
        tokens = [self.pad_id] * len(active)
        finished = 0
        for n, token in zip(live, chosen, strict=True):
            tokens[n] = token
            if not self._write(batch, active[n], token):
                active[n] = FINISHED
                finished += 1
        return tokens, finished

    def _compacts(self, active: list[int]) -> bool:
        """Whether to drop the finished rows from the batch now (:data:`FINISHED_SHARE`)."""
        finished = active.count(FINISHED)
        share = FINISHED_SHARE.get(self.head.weight.device.type, FINISHED_SHARE["cuda"])
        return finished > 0 and finished >= share * len(active)

    def _joining(self, batch: Batch, waiting: list[int], active: int, size: int, cache,
                 attention) -> list[int]:  # fmt: skip
        """The waiting rows that join the batch now (see :meth:`generate`): none unless a
        quarter of the batch is free; none for caches that are not plain keys and values per
        layer (recurrent or shared layers cannot be left-padded); and none once a
        sliding-window model's rows could reach the window (joined caches are aligned by left
        padding, which a full window would cut)."""
        room = size - active
        if not (self.refill and waiting and room >= max(1, size // 4)):
            return []
        if not self.joinable:
            return []
        joining = [waiting[-1 - n] for n in range(min(room, len(waiting)))]
        widest = max([attention.shape[1]] + [len(batch.prompt_ids[i]) for i in joining])
        if self._may_reach_window(widest, [batch.budgets[i] for i in joining]):
            return []
        del waiting[len(waiting) - len(joining) :]
        return joining

    def _step(self, batch: Batch, active: list[int], tokens: list[int], cache, attention,
              position):  # fmt: skip
        """Read the token each active row just wrote: the next hidden state of every row, the
        attention mask and the positions after it."""
        import torch.nn.functional as F

        attention = F.pad(attention, (0, 1), value=1)
        hidden = self._run(
            cache,
            self.step_body,
            input_ids=long_tensor(tokens, attention.device)[:, None],
            attention_mask=attention,
            position_ids=position[:, None],
        )
        return hidden, attention, position + 1

    # ------------------------------------------------------------------ the per-row work

    def _prepare(self, batch: Batch, active: list[int], rows: list[int], size: int) -> None:
        """Make ``rows`` ready to be read into a batch of ``size`` places now holding
        ``active`` (nothing to do here; :class:`~hf_bioner.decoding.token_tables.TableDecoder`
        builds their candidate tables)."""

    def _start(self, prompts, constraints, max_new_tokens) -> Batch:
        """Each row's automaton, prompt tokens and budget."""
        return Batch(
            machines=[InlineAutomaton(text, names) for text, names in constraints],
            prompt_ids=self.tokenizer(list(prompts))["input_ids"],  # one call: ~2x faster
            budgets=(
                [max_new_tokens] * len(constraints)
                if max_new_tokens
                else answer_budgets(self.tokenizer, constraints)
            ),
        )

    def _choose(self, batch: Batch, active: list[int], hidden) -> list[int]:
        """The next token of every active row: the best of its allowed set."""
        allowed = [self._allowed(batch.machines[i], batch.states[i]) for i in active]
        return _best_allowed(hidden, self.head, allowed)

    def _write(self, batch: Batch, row: int, token: int) -> bool:
        """Append ``token`` to the row's answer; whether the row goes on."""
        if token in self.eos_ids:
            return False
        batch.answers[row].append(token)
        data = self.table.bytes_of[token] or b""
        batch.states[row] = batch.machines[row].advance(batch.states[row], data)  # empty: free
        return len(batch.answers[row]) < batch.budgets[row]


@dataclass
class Batch:
    """The rows of one batch being written: automata, states, prompts, budgets, answers."""

    machines: list[InlineAutomaton]
    prompt_ids: list[list[int]]
    budgets: list[int]
    states: list = field(default_factory=list)
    answers: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = self.states or [m.start() for m in self.machines]
        self.answers = self.answers or [[] for _ in self.machines]


def _compact(active: list[int], tokens: list[int], cache, attention, position, plain: bool):
    """Drop the :data:`FINISHED` places from the batch: its rows, tokens, cache, attention
    mask and positions (the cache in place). Where the cache is ``plain``
    (:func:`plain_layers`), the live rows after the first ``live`` places move into the
    finished places among them, and the cache keeps its first ``live`` rows (a view): only
    the moved rows are copied, not the whole cache as ``batch_select_indices`` does (other
    kinds of cache still use it)."""
    import torch

    live = sum(row != FINISHED for row in active)
    if live == len(active):
        return active, tokens, attention, position
    holes = [n for n in range(live) if active[n] == FINISHED]
    movers = [n for n in range(live, len(active)) if active[n] != FINISHED]
    order = list(range(live))
    for hole, mover in zip(holes, movers, strict=True):
        order[hole] = mover
    index = torch.tensor(order, device=attention.device)
    if plain:
        source = torch.tensor(movers, dtype=torch.long, device=attention.device)
        target = torch.tensor(holes, dtype=torch.long, device=attention.device)
        for layer in cache.layers:
            if getattr(layer, "keys", None) is None or not layer.keys.numel():
                continue
            layer.keys[target] = layer.keys[source]
            layer.values[target] = layer.values[source]
            layer.keys, layer.values = layer.keys[:live], layer.values[:live]
    else:
        cache.batch_select_indices(index)
    return ([active[n] for n in order], [tokens[n] for n in order], attention[index],
            position[index])  # fmt: skip


def _join_caches(cache, attention, new_cache, new_attention):
    """Append the rows of ``new_cache`` to ``cache`` (in place), both left-padded to one width;
    returns the joined attention mask. Positions stay each row's own, so padding on the left
    changes nothing a row attends to. A sliding-window layer holds only the last slots of a
    read longer than its window: each layer's keys are left-padded to the longer of its two
    parts (every part ends at the newest slot), which for a full layer is the joined width."""
    import torch
    import torch.nn.functional as F

    width = max(attention.shape[1], new_attention.shape[1])
    for layer, new_layer in zip(cache.layers, new_cache.layers, strict=True):
        slots = max(layer.keys.shape[-2], new_layer.keys.shape[-2])
        layer.keys = torch.cat([F.pad(layer.keys, (0, 0, slots - layer.keys.shape[-2], 0)),
                                F.pad(new_layer.keys, (0, 0, slots - new_layer.keys.shape[-2], 0))])  # fmt: skip
        layer.values = torch.cat([F.pad(layer.values, (0, 0, slots - layer.values.shape[-2], 0)),
                                  F.pad(new_layer.values,
                                        (0, 0, slots - new_layer.values.shape[-2], 0))])  # fmt: skip
        if hasattr(layer, "cumulative_length"):  # sliding-window layers count what they saw
            layer.cumulative_length = width
    return torch.cat([F.pad(attention, (width - attention.shape[1], 0)),
                      F.pad(new_attention, (width - new_attention.shape[1], 0))])  # fmt: skip


def step_copy(model, body, dtype, tokenizer):
    """A copy of the decoder in ``dtype`` (``torch.qint8``: with int8 projections smoothed on
    the calibration texts, :func:`~hf_bioner.quantization.int8_copy`), made once per model and
    dtype (kept on the model)."""
    from hf_bioner.quantization import INT8, calibration_ids, int8_copy

    copies = model.__dict__.setdefault("_hf_bioner_step_bodies", {})
    if dtype not in copies:
        if dtype == INT8:
            copies[dtype] = int8_copy(body, calibration_ids(tokenizer))
        else:
            copies[dtype] = copy.deepcopy(body).to(dtype)
    return copies[dtype]


def _cast_cache(cache, dtype) -> None:
    """Cast every layer's keys and values in place (the prompts were read in another dtype)."""
    for layer in cache.layers:
        if getattr(layer, "keys", None) is not None and layer.keys.numel():
            layer.keys, layer.values = layer.keys.to(dtype), layer.values.to(dtype)
