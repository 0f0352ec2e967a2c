"""Copy-aware speculative decoding for the ``inline`` scheme, one sentence at a time.

An ``inline`` answer is the sentence itself with tags: most output tokens are a copy of text
the model has already read. So each step *drafts* the next tokens of the copy (the rest of
the sentence from where the answer stands, tokenized) and checks them all with one forward
pass; the draft is kept up to the first token where the model's own constrained greedy
choice differs, and that choice is taken instead. The result is exactly constrained greedy
decoding (up to floating-point differences between a batch of one and a padded batch), with
one forward pass per run of copied tokens instead of one per token.

The constraint is checked cheaply: when the model's unconstrained favourite is a valid next
token it is also the constrained one; the allowed set is only built when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_bioner.decoding.answers import Answer, answer_budget, answer_from_tokens
from hf_bioner.decoding.automaton import InlineAutomaton, State, TokenTable, next_tokens
from hf_bioner.models import cache_argument


class CopyDecoder:
    """Constrained greedy decoding of one sentence's inline answer, with copy drafts."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], draft_length: int = 12):
        self.model = model
        self.tokenizer = tokenizer
        self.table = TokenTable.of(tokenizer)
        self.eos_ids = set(eos_ids)
        self.draft_length = draft_length
        self.forward_passes = 0
        self.cache_argument = cache_argument(model)

    def _logits(self, cache, **inputs):
        """The model's logits for ``inputs``, extending ``cache``."""
        import torch

        inputs[self.cache_argument] = cache
        with torch.no_grad():
            logits = self.model(**inputs, use_cache=True).logits[0]
        self.forward_passes += 1
        return logits

    def _choose(self, logits, machine: InlineAutomaton, states: frozenset[State]) -> int:
        """The constrained greedy token for one position's logits."""
        import torch

        best = int(torch.argmax(logits))
        if self._allowed(best, machine, states):
            return best
        allowed = next_tokens(machine, states, self.table, self.eos_ids)
        if not allowed:
            return best  # nothing can continue (unspellable byte): the decoder repairs it
        ids = torch.tensor(sorted(allowed), device=logits.device)
        return int(ids[torch.argmax(logits[ids])])

    def _allowed(self, token: int, machine: InlineAutomaton, states: frozenset[State]) -> bool:
        if token in self.eos_ids:
            return any(machine.is_final(s) for s in states)
        data = self.table.bytes_of[token]
        return bool(data) and bool(machine.advance(states, data))

    def _draft(self, machine: InlineAutomaton, states: frozenset[State]) -> list[int]:
        """The next tokens of a plain copy of the sentence from where the answer stands."""
        if len(states) != 1:
            return []  # several readings (or none): no single copy to draft
        (state,) = states
        if state.partial:
            return []  # inside a tag
        rest = machine.text[state.pos :].decode("utf-8", errors="ignore")
        if not rest:
            return []
        ids = self.tokenizer(rest[: 8 * self.draft_length], add_special_tokens=False)["input_ids"]
        return ids[: self.draft_length]

    def generate(
        self, prompt: str, sentence: str, types: Sequence[str], max_new_tokens: int
    ) -> Answer:
        """The answer for one prompt; ``max_new_tokens`` is its budget (a row that spends it
        is finished by :func:`~hf_bioner.decoding.answers.answer_from_tokens`, as in the batched
        decoders)."""
        import torch
        from transformers import DynamicCache

        machine = InlineAutomaton(sentence, types)
        states = machine.start()
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.model.device)
        cache = DynamicCache()
        logits = self._logits(cache, input_ids=ids, logits_to_keep=1)[-1]
        out: list[int] = []
        while len(out) < max_new_tokens:
            token = self._choose(logits, machine, states)
            if token in self.eos_ids:
                break
            out.append(token)
            states = machine.advance(states, self.table.bytes_of[token] or b"")  # empty: free
            if len(out) == max_new_tokens:
                break  # budget spent: no need to read the last token
            draft = self._draft(machine, states)[: max_new_tokens - len(out)]
            feed = torch.tensor([[token, *draft]], device=self.model.device)
            step = self._logits(cache, input_ids=feed)
            accepted = 0
            for position, guess in enumerate(draft):
                if self._choose(step[position], machine, states) != guess:
                    break
                out.append(guess)
                states = machine.advance(states, self.table.bytes_of[guess] or b"")
                accepted += 1
            cache.crop(-(len(draft) - accepted))  # forget the rejected part of the draft
            logits = step[accepted]
        return answer_from_tokens(self.tokenizer, machine, out, max_new_tokens)


class CopyDraftDecoder:
    """The registry's face of :class:`CopyDecoder`: a batch is decoded one row at a time."""

    def __init__(self, model, tokenizer, eos_ids: Sequence[int], step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
        self.tokenizer = tokenizer
        self.decoder = CopyDecoder(model, tokenizer, eos_ids)

    def generate(self, prompts: Sequence[str], constraints: Sequence[tuple[str, Sequence[str]]],
                 max_new_tokens: int | None = None) -> list[Answer]:  # fmt: skip
        answers = []
        for prompt, (sentence, names) in zip(prompts, constraints, strict=True):
            limit = max_new_tokens or answer_budget(self.tokenizer, sentence, names)
            answers.append(self.decoder.generate(prompt, sentence, names, limit))
        return answers
