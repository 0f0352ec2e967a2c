"""The token-tables decoder: its tables hold every allowed token, and its answers are those of
the allowed-tokens decoder it replaces as the default."""

from __future__ import annotations

import random

import pytest

from hf_bioner.decoding.automaton import InlineAutomaton, TokenTable, next_tokens
from hf_bioner.decoding.token_tables import TagTokens, VocabularyIndex, text_candidates
from hf_bioner.models import PACKAGED_MODELS
from hf_bioner.prompts import instruction
from hf_bioner.schema import type_set
from tests.test_answer_budget import _answers_by, _tiny

# Sentences with what makes tables hard: text holding "<" (two readings), Chinese (a token
# may end inside a character), nested types, digits and brackets.
SENTENCES = [
    ("Mutations in BRCA1 <1% of breast cancer (BC) cases.", ["Disease", "Chemical"]),
    ("乳腺癌患者术后复查，血常规正常。", ["疾病", "身体", "医学检验项目"]),
    ("IL-2 receptor alpha mRNA in Jurkat T cells.", ["protein", "DNA", "RNA", "cell_type"]),
    # "<" right after an entity: a token may close the tag and copy the text's "<" ("><2").
    ("CD4<200 and p<b cells.", ["protein", "cell_type"]),
]


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma-3-270m"])
def tokenizer(request):
    from transformers import AutoTokenizer

    model = PACKAGED_MODELS[request.param]
    return AutoTokenizer.from_pretrained(model.gguf_folder(), gguf_file=model.gguf_file)


@pytest.mark.parametrize(("text", "names"), SENTENCES)
def test_every_allowed_token_is_in_its_table_row(tokenizer, text, names):
    """Random valid answers, written token by token: at every step the automaton's allowed
    set is inside the candidates the decoder would score (the text row of its byte offset
    outside a tag, and the type set's tag row for what it has written of a tag and what the
    automaton permits there)."""
    table = TokenTable.of(tokenizer)
    tags = TagTokens.of(VocabularyIndex.of(tokenizer), names)
    machine = InlineAutomaton(text, names)
    end_ids = [tokenizer.eos_token_id]
    copies, tag_ends = (r.rows() for r in text_candidates(machine.text, table, tags, end_ids))
    tag_rows = [set(row) for row in tags.rows]
    rng = random.Random(0)
    checked = {"copy": 0, "inside": 0}
    for _walk in range(30):
        states = machine.start()
        for _step in range(80):
            allowed = next_tokens(machine, states, table, end_ids)
            if len(states) == 1:
                (state,) = states
                kind = "inside" if state.partial else "copy"
                close = state.stack[-1] if machine.can_close(state) else None
                row = tag_rows[tags.at[state.partial, machine.can_open(state), close]]
                # Inside a tag: what finishes it (and copies on); outside: copies.
                row = row | set(tag_ends[state.pos] if state.partial else copies[state.pos])
                assert allowed <= row, (kind, state, sorted(allowed - row)[:5])
                checked[kind] += 1
            # Prefer tags, so that walks go inside them often.
            tagging = [t for t in allowed if b"<" in (table.bytes_of[t] or b"")]
            token = rng.choice(tagging if tagging and rng.random() < 0.3 else sorted(allowed))
            if token in end_ids:
                break
            states = machine.advance(states, table.bytes_of[token])
    assert checked["copy"] > 100 and checked["inside"] > 30, checked


def test_a_plain_row_looks_up_the_rows_its_state_would(tiny_base):
    """Random valid answers to every sentence, written token by token through the decoder's
    own bookkeeping (:meth:`TableDecoder._settle`): wherever a row is plain (kept as a byte
    offset), its lookup by byte gives the candidate rows its full state gives."""
    from hf_bioner.decoding.token_tables import TableDecoder

    model, tokenizer = _tiny("llama", tiny_base)
    decoder = TableDecoder(model, tokenizer, [tokenizer.eos_token_id])
    prompts = [instruction(text, type_set("ncbi_disease"), "inline", "short")
               for text, _ in SENTENCES]  # fmt: skip
    batch = decoder._start(prompts, SENTENCES, None)
    decoder._prepare(batch, [], list(range(len(prompts))), len(prompts))  # every row staged
    table = decoder.table
    rng = random.Random(0)
    plain = 0
    for row, machine in enumerate(batch.machines):
        for _walk in range(20):
            decoder._settle(batch, row, machine.start())
            for _step in range(60):
                states = decoder._states(batch, row)
                if batch.plain[row]:
                    (state,) = states
                    assert decoder._table_rows(batch, row) == decoder._table_rows_at(
                        batch, row, state), (machine.text, state)  # fmt: skip
                    plain += 1
                allowed = sorted(next_tokens(machine, states, table, decoder.eos_ids))
                tagging = [t for t in allowed if b"<" in (table.bytes_of[t] or b"")]
                token = rng.choice(tagging if tagging and rng.random() < 0.3 else allowed)
                if token in decoder.eos_ids:
                    break
                decoder._settle(batch, row, machine.advance(states, table.bytes_of[token]))
    assert plain > 500, plain


def test_ranked_candidates_break_ties_as_argmax_does():
    """Candidates that score exactly alike (the tests' known model gives every tag of a type
    set the same logit) come in their table order, the first first, as ``argmax`` picks it:
    ``topk`` put a later one first and the known model wrote another CMeEE tag."""
    import torch

    from hf_bioner.decoding.allowed_tokens import best_candidates, ranked_candidates

    head = torch.nn.Linear(4, 10, bias=False)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[[3, 5, 7, 9], 0] = 1.0  # four tokens tie, above the rest
    hidden = torch.ones(2, 4)
    candidates = torch.tensor([[2, 9, 3, 7, 5, -1], [0, 5, 1, 3, -1, -1]])
    with torch.no_grad():
        ranked = ranked_candidates(hidden, head, candidates, 4).tolist()
        best = best_candidates(hidden, head, candidates).tolist()
    assert ranked == [[9, 3, 7, 5], [5, 3, 0, 1]]
    assert best == [9, 5]


@pytest.mark.parametrize(("text", "names"), SENTENCES)
def test_text_rows_hold_every_piece_of_the_text(tokenizer, text, names):
    """The text rows, which stop reading at the first piece that begins neither a token nor a
    tag token's text, hold what looking up every piece ``text[p:q]`` (no early stop) finds,
    in the same order."""
    table = TokenTable.of(tokenizer)
    tags = TagTokens.of(VocabularyIndex.of(tokenizer), names)
    data = InlineAutomaton(text, names).text
    found = text_candidates(data, table, tags, [tokenizer.eos_token_id])
    copies, tag_ends = (rows.rows() for rows in found)
    for p in range(len(data)):
        pieces = [data[p:q] for q in range(p + 1, len(data) + 1)]
        expected_copies = [i for piece in pieces
                           for found in (table.by_bytes, tags.after_text, tags.after_tag)
                           for i in found.get(piece, ())]  # fmt: skip
        expected_tag_ends = [i for piece in pieces for i in tags.before_text.get(piece, ())]
        assert copies[p] == expected_copies, (p, data[p:])
        assert tag_ends[p] == expected_tag_ends, (p, data[p:])
    assert copies[len(data)] == [tokenizer.eos_token_id]
    assert all(copies), "every byte offset has a token that copies on"


@pytest.mark.parametrize(("text", "names"), SENTENCES)
def test_a_tag_token_advances_as_byte_by_byte(tokenizer, text, names):
    """The automaton's one-comparison step for tag tokens (``<Dis``, ``ease>``, ``</DNA>``)
    reaches the states its byte-by-byte walk reaches, for every token of the vocabulary that
    holds a ``<`` or ``>``, from states met on random walks (outside and inside tags, nested,
    just opened)."""
    table = TokenTable.of(tokenizer)
    machine = InlineAutomaton(text, names)
    tag_tokens = [data for data in table.bytes_of if data and (b"<" in data or b">" in data)]
    rng = random.Random(1)
    compared, valid = 0, 0
    for _walk in range(6):
        states = machine.start()
        for _step in range(40):
            if len(states) == 1:
                for data in tag_tokens:
                    quick = machine.advance(states, data)
                    assert quick == machine.advance_bytes(states, data), (states, data)
                    compared += 1
                    valid += bool(quick)
            allowed = sorted(next_tokens(machine, states, table, []))
            if not allowed:
                break
            tagging = [t for t in allowed if b"<" in table.bytes_of[t]]
            token = rng.choice(tagging if tagging and rng.random() < 0.4 else allowed)
            states = machine.advance(states, table.bytes_of[token])
    assert compared > 10_000 and valid > 20, (compared, valid)


def test_a_tag_never_opens_on_whitespace_nor_closes_after_it():
    """The rule that ended looping answers (``<Disease> </Disease>`` until the budget ran out)."""
    machine = InlineAutomaton("breast  cancer", ["Disease"])
    assert not machine.advance(machine.start(), b"breast<Disease> ")
    assert not machine.advance(machine.start(), b"breast <Disease>")  # opens on a space
    assert not machine.advance(machine.start(), b"<Disease>breast </Disease>")  # ends with one
    assert machine.advance(machine.start(), b"breast  <Disease>cancer</Disease>")
    assert machine.advance(machine.start(), b"<Disease>breast  cancer</Disease>")


def test_a_tag_never_splits_a_word_nor_opens_inside_its_own_type():
    """The rules that ended an answer tagging a word letter by letter, each letter inside
    the same tag several times (``<Disease><Disease>e</Disease></Disease>``)."""
    machine = InlineAutomaton("Methylation of Ca2+ and 5-HT6 in 乳腺癌", ["Disease", "Chemical"])
    start = machine.start()
    assert not machine.advance(start, b"M<Disease>")  # opens between two letters
    assert not machine.advance(start, b"<Disease>M</Disease>")  # closes between two letters
    assert not machine.advance(start, b"Methylation of C<Chemical>a2")
    assert not machine.advance(start, b"<Disease><Disease>")  # the same type, opened twice
    assert machine.advance(start, b"<Disease><Chemical>Methylation</Chemical></Disease>")
    # A letter and a digit may part, and a mark from either, and characters of other scripts.
    assert machine.advance(start, b"Methylation of <Chemical>Ca</Chemical>2+ and ")
    assert machine.advance(start, b"Methylation of <Chemical>Ca2</Chemical>+ and ")
    assert machine.advance(start, b"Methylation of Ca2+ and 5-<Chemical>HT</Chemical>6 in ")
    assert machine.advance(start, "Methylation of Ca2+ and 5-HT6 in 乳<Disease>腺".encode())


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_token_tables_write_the_answers_of_allowed_tokens(tiny_base, corpus_records,
                                                          architecture):  # fmt: skip
    """Real sentences of three corpora, batches of 5 that mix lengths and type sets (the new
    decoder lets waiting rows join its batch as rows finish; the old one does not): the new
    default decoder gives exactly the answers of the one it replaces, and they hold tags."""
    # A small bonus for tokens holding "<": some spans tagged, the rest copied, so answers
    # mix every kind of step; gemma3 has sliding-window layers (a window of 4,096 tokens).
    model, tokenizer = _tiny(architecture, tiny_base, bonus=1.5)
    rows = []
    for corpus, split in (("ncbi_disease", "test"), ("jnlpba", "test"), ("cmeee", "dev")):
        types = type_set(corpus)
        for record in corpus_records(corpus, split)[:6]:
            rows.append((record["text"], types))
    rows.append(("p<0.05 in breast cancer.", type_set("bc5cdr")))
    # Each row's own budget (from its sentence): rows end at different steps, so waiting rows
    # join the new decoder's batch (13 times on the Gemma model when this was written).
    runs = _answers_by(model, tokenizer, rows, 5,
                       {name: name for name in ("token-tables", "allowed-tokens")})  # fmt: skip
    lengths = {len(answer.text) for answer in runs["allowed-tokens"]}
    assert len(lengths) > 10  # rows of many lengths: they finish at different steps
    assert runs["token-tables"] == runs["allowed-tokens"]
    tagged = sum("</" in answer.text for answer in runs["token-tables"])
    assert tagged >= 5, [a.text for a in runs["token-tables"]]


def test_hub_kernels_are_off_unless_asked_for(tiny_base):
    """transformers turns Hub kernels on by default (and looks them up on the Hub on CUDA,
    which fails offline); every loader of ours turns them off, and passes the option on."""
    from transformers import AutoModelForCausalLM

    from hf_bioner.models import load_base

    assert AutoModelForCausalLM.from_pretrained(tiny_base).use_kernels is True  # theirs
    model, _tokenizer = load_base(tiny_base)
    assert model.use_kernels is False
    model, _tokenizer = load_base(tiny_base, use_kernels=True)
    assert model.use_kernels is True


def test_rows_staged_a_few_batches_at_a_time_give_the_same_answers(tiny_base, corpus_records,
                                                                   monkeypatch):  # fmt: skip
    """Thirty short real English and Chinese sentences in refilling batches of 4, their
    candidate tables built a batch's worth at a time (a type set first met in a later stage
    added then), so rows of an earlier stage are still running when the next is built: the
    answers are those of the allowed-tokens decoder, which builds no tables; every row was
    staged and, while in the table, its rows are where its offsets say (checked apart, so a
    stale offset shows where it happens, not only where it changes an answer); and the stages
    whose rows had all finished left the table, so it never held more than a few stages."""
    import hf_bioner.decoding.token_tables as token_tables
    from hf_bioner.decoding.generation import end_token_ids

    monkeypatch.setattr(token_tables, "STAGE_BATCHES", 1)

    class StageCounting(token_tables.TableDecoder):
        def __init__(self, *args):
            super().__init__(*args)
            self.held = []  # stages in the table after each staging

        def _stage(self, batch, oldest, count):
            super()._stage(batch, oldest, count)
            self.held.append(len(batch.stages))
            self.batch = batch
            for row in range(batch.stages[0][0], batch.staged):  # every row in the table
                copies, tag_ends = self._text_rows(batch.machines[row])
                for rows, first in ((copies, batch.copy_offsets[row]),
                                    (tag_ends, batch.tag_end_offsets[row])):  # fmt: skip
                    table = batch.table.text_ids[first : first + rows.count].tolist()
                    assert [[i for i in r if i >= 0] for r in table] == rows.rows()

    model, tokenizer = _tiny("llama", tiny_base, bonus=1.5)
    rows = []
    for corpus, split in (("ncbi_disease", "test"), ("cmeee", "dev")):
        short = [r["text"] for r in corpus_records(corpus, split) if len(r["text"]) <= 80]
        rows += [(text, type_set(corpus)) for text in short[:15]]
    assert len(rows) == 30
    decoder = StageCounting(model, tokenizer, end_token_ids(model, tokenizer))
    answers = _answers_by(model, tokenizer, rows, 4,
                          {"staged": decoder, "allowed-tokens": "allowed-tokens"})  # fmt: skip
    assert answers["staged"] == answers["allowed-tokens"]
    assert sum("</" in answer.text for answer in answers["staged"]) >= 3
    assert decoder.batch.staged == len(rows)
    assert len(decoder.held) == 8  # 30 rows, 4 at a time
    assert max(decoder.held) <= 3 < len(decoder.held)
