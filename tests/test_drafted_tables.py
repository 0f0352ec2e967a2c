"""The drafted-tables decoder: copy drafts read with each step, kept up to the model's first
disagreement, give exactly the answers of the token-tables decoder, in fewer forward passes."""

from __future__ import annotations

import pytest

from hf_bioner.decoding import generate_answers
from hf_bioner.decoding.automaton import token_bytes
from hf_bioner.decoding.drafted_tables import CopyPlan, DraftedTableDecoder, draft_length
from hf_bioner.decoding.generation import end_token_ids
from hf_bioner.schema import type_set
from tests.test_answer_budget import _answers_by, _prompted, _tag_happy, _tiny
from tests.test_constrained import _tiny_gemma


def _copying(model, tokenizer, per_byte: float):
    """Add ``per_byte`` times each token's length to its logit (the head has a bias): the
    model copies in long tokens, as a trained one does, so drafts of the sentence's own
    tokens are often right and sometimes not."""
    import torch

    head = model.get_output_embeddings()
    with torch.no_grad():
        for token_id, data in enumerate(token_bytes(tokenizer)):
            if data and b"<" not in data:
                head.bias[token_id] += per_byte * len(data)
    return model


def _rows(corpus_records) -> list[tuple[str, object]]:
    rows = []
    for corpus, split in (("ncbi_disease", "test"), ("jnlpba", "test"), ("cmeee", "dev")):
        types = type_set(corpus)
        rows += [(record["text"], types) for record in corpus_records(corpus, split)[:6]]
    rows.append(("p<0.05 in breast cancer.", type_set("bc5cdr")))
    return rows


@pytest.mark.parametrize("architecture", ["llama", "gemma3", "gemma3-window-64"])
def test_drafts_change_no_answer_and_save_forward_passes(tiny_base, corpus_records,
                                                         architecture):  # fmt: skip
    """Real sentences of three corpora (English, Chinese, text holding "<"), batches of 5
    whose rows finish apart and are refilled: the answers equal token-tables' exactly; drafts
    were read, many kept, some refused (where the model tags or splits text otherwise), and
    rows inside a tag kept drafts of its rest. Also with a sliding window of 64 tokens, which
    prompts and answers outgrow while the slots of refused drafts hold places in the cache."""
    if architecture == "gemma3-window-64":
        model, tokenizer = _tiny_gemma(64)
        model = _tag_happy(model, tokenizer, bonus=4.0)
    else:
        model, tokenizer = _tiny(architecture, tiny_base, bonus=4.0)
    model = _copying(model, tokenizer, per_byte=1.0)
    rows = _rows(corpus_records)
    drafted = DraftedTableDecoder(model, tokenizer, end_token_ids(model, tokenizer))
    runs = _answers_by(model, tokenizer, rows, 5,
                       {"token-tables": "token-tables", "drafted": drafted})  # fmt: skip
    assert runs["drafted"] == runs["token-tables"]
    assert sum("</" in answer.text for answer in runs["drafted"]) >= 5
    # About a quarter to a third of the drafted tokens were kept when this was written.
    if architecture == "gemma3-window-64":  # drafts stop where they would reach the window
        assert 0 < drafted.kept < drafted.drafted, (drafted.kept, drafted.drafted)
        return
    assert 100 < drafted.kept < drafted.drafted, (drafted.kept, drafted.drafted)
    assert drafted.kept_in_tags >= 10, drafted.kept_in_tags


def test_draft_length_follows_the_step_budget():
    """A CPU step drafts only for a few rows (up to a full batch with int8 steps); a GPU
    step drafts for hundreds."""
    assert [draft_length(rows, "cpu") for rows in (1, 16, 32, 64)] == [4, 4, 1, 0]
    assert [draft_length(rows, "cpu-int8") for rows in (16, 64, 128, 320)] == [4, 4, 1, 0]
    assert [draft_length(rows, "cuda") for rows in (64, 256, 1024, 4096)] == [4, 4, 3, 0]


def test_a_copy_plan_drafts_from_its_token_boundaries_only():
    """A plan of tokens of 2, 3 and 1 bytes from byte 10 drafts from bytes 10, 12 and 15;
    where it stops it drafts nothing if it ends there, and is planned anew if it ran out."""
    lengths = [0, 2, 3, 1]
    ended = CopyPlan.of(10, [1, 2, 3], lengths, ends=True)
    assert ended.tokens_at(12, 4) == [2, 3]
    assert ended.tokens_at(15, 1) == [3]
    assert ended.tokens_at(16, 4) == []
    assert 11 not in ended.at
    ran_out = CopyPlan.of(10, [1, 2, 3], lengths, ends=False)
    assert sorted(ran_out.at) == [10, 12, 15]


def test_rows_are_tokenized_again_only_off_their_plans(tiny_base, corpus_records):
    """Drafting rows are tokenized when their plan has no boundary where they stand (after
    a tag), not at every step: far fewer rows planned than drafts made (19 sentences: 101
    rows planned for 317 drafts when this was written; every drafting row was tokenized at
    every step before)."""
    model, tokenizer = _tiny("llama", tiny_base, bonus=4.0)
    model = _copying(model, tokenizer, per_byte=1.0)
    rows = _rows(corpus_records)

    class Counting(DraftedTableDecoder):
        planned = drafting = 0

        def _plan(self, batch, stale):
            Counting.planned += len(stale)
            return super()._plan(batch, stale)

        def _drafts(self, batch, active, length):
            drafts = super()._drafts(batch, active, length)
            Counting.drafting += sum(bool(d) for d in drafts)
            return drafts

    decoder = Counting(model, tokenizer, end_token_ids(model, tokenizer))
    prompts, constraints = _prompted(rows, "short")
    generate_answers(model, tokenizer, prompts, batch_size=5, constraints=constraints,
                     decoder=decoder)  # fmt: skip
    assert len(rows) <= Counting.planned < Counting.drafting / 2, (
        Counting.planned,
        Counting.drafting,
    )


def test_a_row_inside_a_tag_drafts_its_rest():
    """A close tag's rest is the innermost tag's; an open tag's is the type opened most
    often so far for the row's type set (the first type before any)."""
    from hf_bioner.decoding.automaton import State
    from tests.test_constrained import _tiny_gemma

    model, tokenizer = _tiny_gemma(4096)
    decoder = DraftedTableDecoder(model, tokenizer, end_token_ids(model, tokenizer))
    names = ["Chemical", "Disease"]
    batch = decoder._start(["Tag.\n"], [("Aspirin causes asthma.", names)], None)

    def spelled(state):
        return b"".join(decoder.table.bytes_of[t] for t in decoder._tag_rest(batch, 0, state))

    assert spelled(State(7, ("Chemical",), b"</")) == b"Chemical>"
    assert spelled(State(15, (), b"<")) == b"Chemical>"
    decoder.opened[tuple(names), "Disease"] += 2
    assert spelled(State(15, (), b"<")) == b"Disease>"
    assert spelled(State(15, (), b"<Che")) == b"mical>"


def test_int8_steps_draft_at_a_full_cpu_batch():
    """With int8 steps a CPU batch of 64 rows still drafts (the ``cpu-int8`` budget); with
    steps in the model's own dtype it drafts nothing."""
    import torch

    from hf_bioner.quantization import INT8
    from tests.test_constrained import _tiny_gemma

    model, tokenizer = _tiny_gemma(4096)
    eos = end_token_ids(model, tokenizer)
    attention = torch.ones(64, 10, dtype=torch.long)
    int8 = DraftedTableDecoder(model, tokenizer, eos, step_dtype=INT8)
    plain = DraftedTableDecoder(model, tokenizer, eos)
    assert (int8._draft_length(64, attention), plain._draft_length(64, attention)) == (4, 0)
