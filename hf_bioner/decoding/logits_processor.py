"""The fallback decoder: ``model.generate`` with a logits processor that keeps answers valid.

:class:`InlineConstraint` is a ``transformers`` logits processor that, at every step, keeps
only the tokens whose bytes continue a valid answer (:func:`~hf_bioner.decoding.automaton.
next_tokens`), and allows end-of-sequence only when the answer is complete. It works with any
model ``generate`` supports, so it is the decoder for models whose head cannot be sliced; it
is also the slowest (the full vocabulary is scored, and the mask built row by row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hf_bioner.decoding.answers import Answer, answer_budgets, answer_from_tokens
from hf_bioner.decoding.automaton import InlineAutomaton, TokenTable, next_tokens


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


class ProcessorDecoder:
    """Batches through ``model.generate``: with :class:`InlineConstraint` when constrained
    (which also ends each row at its own budget), free otherwise."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = sorted(set(eos_ids))

    def generate(self, prompts: Sequence[str], constraints: Sequence[tuple[str, Sequence[str]]]
                 | None, max_new_tokens: int | None = None) -> list[Answer]:  # fmt: skip
        """One left-padded batch; ``constraints`` None for free answers."""
        import torch
        from transformers import LogitsProcessorList

        tokenizer = self.tokenizer
        padding_side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            batch = tokenizer(list(prompts), return_tensors="pt", padding=True)
        finally:
            tokenizer.padding_side = padding_side
        batch = batch.to(self.model.device)
        width = batch["input_ids"].shape[1]
        processors = LogitsProcessorList()
        if constraints is None:
            budgets = [max_new_tokens or free_answer_budget(width)] * len(prompts)
            machines = [None] * len(prompts)
        else:
            texts, names = zip(*constraints, strict=True)
            budgets = ([max_new_tokens] * len(constraints) if max_new_tokens
                       else answer_budgets(tokenizer, constraints))  # fmt: skip
            processor = InlineConstraint(tokenizer, texts, names, width, self.eos_ids, budgets)
            processors.append(processor)
            machines = processor.machines
        with torch.no_grad():
            generated = self.model.generate(
                **batch,
                max_new_tokens=max(budgets),
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                logits_processor=processors,
            )
        rows = [_until_end(row, self.eos_ids) for row in generated[:, width:].tolist()]
        return [answer_from_tokens(tokenizer, machine, row, budget)
                for machine, row, budget in zip(machines, rows, budgets, strict=True)]  # fmt: skip


def free_answer_budget(prompt_tokens: int) -> int:
    """New tokens allowed for an unconstrained answer, whose sentence we do not know: the
    prompt holds it, so 1.5x the prompt. (Constrained answers use
    :func:`~hf_bioner.decoding.answers.answer_budget`, sized from their sentence.)"""
    return int(prompt_tokens * 1.5) + 16


def _until_end(tokens: list[int], eos_ids: Sequence[int]) -> list[int]:
    """The tokens before the first end-of-sequence (after it ``generate`` only pads)."""
    ends = set(eos_ids)
    return next((tokens[:n] for n, t in enumerate(tokens) if t in ends), tokens)
