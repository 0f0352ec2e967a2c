"""Prompts of very different lengths are read in groups of similar length and their caches
joined, so that a CPU does not spend arithmetic on padding; the answers are those of one
padded batch."""

from __future__ import annotations

import pytest

import hf_bioner.decoding.allowed_tokens as allowed_tokens
from hf_bioner.decoding import generate_answers
from hf_bioner.decoding.allowed_tokens import prefill_groups
from hf_bioner.decoding.generation import end_token_ids
from hf_bioner.decoding.token_tables import TableDecoder
from hf_bioner.schema import type_set
from tests.test_answer_budget import _prompted, _tag_happy, _tiny
from tests.test_constrained import _tiny_gemma


def test_groups_cut_where_padding_costs_more_than_a_pass():
    # Read at once: 4 x 60 + 16 = 256 tokens; in two groups 2 x 60 + 16 + 2 x 20 + 16 = 192;
    # in three, 206; one row a pass, 220.
    assert prefill_groups([60, 58, 20, 18], pass_tokens=16) == [2, 4]
    assert prefill_groups([60, 58, 20, 18], pass_tokens=1000) == [4]
    # Kept in their order: a short row between two long ones is read alone.
    assert prefill_groups([60, 10, 60], pass_tokens=16) == [1, 2, 3]
    assert prefill_groups([7], pass_tokens=16) == [1]


class CountingDecoder(TableDecoder):
    """Counts the batches read (``passes``) per call of ``_read_prompts`` (``reads``)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reads = self.passes = 0

    def _read_prompts(self, rows, share=True, group=False):
        self.reads += 1
        return super()._read_prompts(rows, share, group)

    def _read_padded(self, rows, shared):
        self.passes += 1
        return super()._read_padded(rows, shared)


@pytest.mark.parametrize("architecture", ["llama", "gemma3", "gemma3-window-48"])
def test_prompts_read_in_groups_give_the_answers_of_one_batch(tiny_base, corpus_records,
                                                              architecture, monkeypatch):  # fmt: skip
    """Real sentences of three corpora, short and long, in batches of 8 that refill: read in
    groups (a pass costing 16 padded tokens) and read at once (a pass costing more than any
    padding), the answers are the same, and the first did read groups apart; also where
    prompts and answers outgrow a sliding window of 48 tokens."""
    if architecture == "gemma3-window-48":
        model, tokenizer = _tiny_gemma(48)
        model = _tag_happy(model, tokenizer, bonus=1.5)
    else:
        model, tokenizer = _tiny(architecture, tiny_base, bonus=1.5)
    rows = []
    for corpus, split in (("ncbi_disease", "test"), ("jnlpba", "test"), ("cmeee", "dev")):
        types = type_set(corpus)
        rows += [(record["text"], types) for record in corpus_records(corpus, split)[:6]]
    rows.append(("p<0.05.", type_set("bc5cdr")))
    prompts, constraints = _prompted(rows, "short")
    runs, decoders = {}, {}
    for name, pass_tokens in (("grouped", 16), ("at once", 10**9)):
        monkeypatch.setitem(allowed_tokens.GROUP_PASS_TOKENS, "cpu", pass_tokens)
        decoders[name] = CountingDecoder(model, tokenizer, end_token_ids(model, tokenizer))
        runs[name] = generate_answers(model, tokenizer, prompts, batch_size=8,
                                      constraints=constraints, decoder=decoders[name])  # fmt: skip
    assert runs["grouped"] == runs["at once"]
    assert sum("</" in answer.text for answer in runs["grouped"]) >= 3
    assert decoders["at once"].passes == decoders["at once"].reads
    assert decoders["grouped"].passes > decoders["grouped"].reads
    if architecture == "gemma3-window-48":  # some prompts alone are longer than the window
        lengths = sorted(len(tokenizer(p)["input_ids"]) for p in prompts)
        assert lengths[0] < 48 < lengths[-1], lengths
