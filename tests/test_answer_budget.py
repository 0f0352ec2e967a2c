"""Answer budgets: big enough for dense text, and an answer that spends one is never cut short.

A budget sized from the prompt once ran out in dense text (a 600-character piece of "tumor
suppressor ..." was tagged in its first ~226 characters only, with no warning). Now the budget
is sized from the sentence, and an answer that spends it anyway still copies its whole sentence,
keeps the entities it closed, and says it was cut.
"""

from __future__ import annotations

import re

import pytest

from hf_bioner.decoding import DECODERS, generate_answers
from hf_bioner.decoding.answers import answer_budget, finish_copy
from hf_bioner.decoding.automaton import InlineAutomaton, token_bytes
from hf_bioner.inference import predict_records
from hf_bioner.models import PACKAGED_MODELS
from hf_bioner.prompts import instruction
from hf_bioner.schema import type_set
from hf_bioner.tagging import decode, encode
from tests.test_constrained import _tiny_gemma

# Dense, long and unpunctuated, as in the report (a 595-character piece of bounded_units); the
# Chinese one shorter, as SmolLM2 spends two or three tokens per Han character.
DENSE = {
    "en": ("ncbi_disease", " ".join(["tumor suppressor"] * 35)),
    "zh": ("cmeee", "肿瘤抑制基因突变" * 35),
}
# A budget the tag-happy model surely spends on the dense sentences, after closing entities
# (its Chinese tags take more tokens with SmolLM2's byte-level vocabulary than with Gemma's).
SMALL_BUDGET = {"llama": 120, "gemma3": 60}


def _plain(answer: str, names: list[str]) -> str:
    """The answer with its tags taken out."""
    return re.sub("|".join(re.escape(f"<{n}>") + "|" + re.escape(f"</{n}>") for n in names),
                  "", answer)  # fmt: skip


# ----------------------------------------------------------------------------- the cut rule


@pytest.mark.parametrize(
    ("text", "written", "finished"),
    [
        # a closed entity stays, an open one (and its text so far) loses only its tag
        ("tumor suppressor tumor", "<G>tumor</G> <G>supp", "<G>tumor</G> suppressor tumor"),
        # a tag half written is taken out
        ("tumor suppressor tumor", "<G>tumor</G> <G", "<G>tumor</G> suppressor tumor"),
        (
            "tumor suppressor tumor",
            "<G>tumor</G> <G>suppressor</G",
            "<G>tumor</G> suppressor tumor",
        ),
        # an outer tag left open around a closed inner one: the inner entity stays
        ("tumor suppressor tumor", "<D><G>tumor</G> supp", "<G>tumor</G> suppressor tumor"),
        # nothing written: the plain copy
        ("tumor suppressor", "", "tumor suppressor"),
        # the text itself holds "<": copied, not read as a tag
        ("a <1% b", "<G>a</G> <", "<G>a</G> <1% b"),
        # Chinese: the cut falls inside a character (its first UTF-8 byte written)
        ("肿瘤抑制基因", "<疾病>肿瘤</疾病><疾病>抑".encode()[:-2], "<疾病>肿瘤</疾病>抑制基因"),
    ],
)
def test_finish_copy_keeps_closed_entities_and_drops_open_tags(text, written, finished):
    machine = InlineAutomaton(text, ["G", "D", "疾病"])
    data = written if isinstance(written, bytes) else written.encode()
    assert machine.advance(machine.start(), data)  # a valid beginning of an answer
    result = finish_copy(machine, data)
    assert result is not None and result.decode() == finished
    assert any(machine.is_final(s) for s in machine.advance(machine.start(), result))
    assert decode(finished, text, "inline")[1] == []


def test_finish_copy_refuses_what_is_not_an_answer():
    assert finish_copy(InlineAutomaton("tumor", ["G"]), b"tumour") is None


# ----------------------------------------------------------------------------- real decoders


def _tag_happy(model, tokenizer, bonus: float = 100.0):
    """Give every token holding ``<`` a logit bonus (a bias on the head): wherever a tag may
    start, the model starts one, so its answers are as dense as answers get and a budget is
    surely spent. A negative bonus gives a model that never tags."""
    import torch

    head = model.get_output_embeddings()
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        for token_id, data in enumerate(token_bytes(tokenizer)):
            if data and b"<" in data:
                biased.bias[token_id] = bonus
    model.config.tie_word_embeddings = False
    model.set_output_embeddings(biased)
    return model.eval()


def _prompted(rows, style: str = "full") -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The prompts and constraints of ``(sentence, type set)`` rows, as decoders take them."""
    return ([instruction(text, types, "inline", style) for text, types in rows],
            [(text, types.names) for text, types in rows])  # fmt: skip


def _answers_by(model, tokenizer, rows, batch_size: int, decoders: dict) -> dict:
    """The short-prompt answers of ``(sentence, type set)`` rows by each of ``decoders``
    (name -> a decoder name or instance), in batches of ``batch_size``."""
    prompts, constraints = _prompted(rows, "short")
    return {name: generate_answers(model, tokenizer, prompts, batch_size=batch_size,
                                   constraints=constraints, decoder=decoder)
            for name, decoder in decoders.items()}  # fmt: skip


def _tiny(architecture: str, tiny_base: str, bonus: float = 100.0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if architecture == "gemma3":
        model, tokenizer = _tiny_gemma(4096)
    else:
        # Room for the Chinese prompt (over 1,000 SmolLM2 tokens); RoPE needs no retraining.
        model = AutoModelForCausalLM.from_pretrained(tiny_base, max_position_embeddings=4096)
        tokenizer = AutoTokenizer.from_pretrained(tiny_base)
        tokenizer.pad_token = tokenizer.eos_token
    return _tag_happy(model, tokenizer, bonus), tokenizer


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_a_spent_budget_still_copies_the_whole_sentence(tiny_base, architecture):
    """Dense long English and Chinese sentences, a budget that is surely spent: every decoder
    gives the same answers, each the whole sentence with the entities closed before the cut,
    reported cut; a short sentence in the same batch finishes and is not."""
    model, tokenizer = _tiny(architecture, tiny_base)
    sets = {lang: type_set(corpus) for lang, (corpus, _) in DENSE.items()}
    rows = [(DENSE[lang][1], sets[lang]) for lang in DENSE] + [("A", sets["en"])]
    prompts, constraints = _prompted(rows)
    runs = {
        decoder: generate_answers(
            model,
            tokenizer,
            prompts,
            batch_size=3,
            max_new_tokens=SMALL_BUDGET[architecture],
            constraints=constraints,
            decoder=decoder,
        )  # fmt: skip
        for decoder in DECODERS
    }
    assert runs["allowed-tokens"] == runs["logits-processor"] == runs["copy-drafts"]
    answers = runs["allowed-tokens"]
    assert [a.cut for a in answers] == [True, True, False]
    for (text, types), answer in zip(rows, answers, strict=True):
        assert _plain(answer.text, types.names) == text
        entities, problems = decode(answer.text, text, "inline", types.display_names())
        assert problems == [], problems
        assert entities  # the entities closed before the cut are kept


def test_every_decoder_ends_each_row_at_its_own_default_budget(tiny_base):
    """Rows of different lengths in one batch, each spending its own default budget: the
    logits processor ends each row where the other decoders do."""
    model, tokenizer = _tiny("llama", tiny_base)
    types = type_set("ncbi_disease")
    # Even tagging wherever it may (at most once per type at a start, never inside a word),
    # one "tumor suppressor" fits its budget; two and three do not.
    texts = [" ".join(["tumor suppressor"] * n) for n in (2, 3)]
    prompts = [instruction(text, types, "inline") for text in texts]
    constraints = [(text, types.names) for text in texts]
    runs = [generate_answers(model, tokenizer, prompts, constraints=constraints, decoder=decoder)
            for decoder in DECODERS]  # fmt: skip
    assert runs[0] == runs[1] == runs[2]
    assert [a.cut for a in runs[0]] == [True, True]
    assert [_plain(a.text, types.names) for a in runs[0]] == texts


def test_predict_records_counts_cut_rows(tiny_base):
    """With the default budget: a model that tags wherever it can (denser than any real
    answer) spends it on a dense sentence; one that never tags copies within it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    tokenizer.pad_token = tokenizer.eos_token
    text = " ".join(["tumor suppressor"] * 8)
    records = [{"id": "1", "corpus": "ncbi_disease", "text": text, "entities": [],
                "language": "en"}]  # fmt: skip
    for bonus, cut in ((100.0, True), (-100.0, False)):
        model = _tag_happy(AutoModelForCausalLM.from_pretrained(tiny_base), tokenizer, bonus)
        result = predict_records(model, tokenizer, records, "inline", constrained=True)
        assert result["cut"] == [cut]
        assert _plain(result["outputs"][0], ["Disease"]) == text
        assert result["problems"] == [[]]
        assert bool(result["predictions"][0]) == cut  # only the tag-happy model tags


# ----------------------------------------------------------------------------- budget size


@pytest.fixture(scope="module", params=["smollm2-135m", "gemma-3-270m"])
def tokenizer(request):
    from transformers import AutoTokenizer

    model = PACKAGED_MODELS[request.param]
    return AutoTokenizer.from_pretrained(model.gguf_folder(), gguf_file=model.gguf_file)


def _every_word_tagged(text: str, name: str) -> list[dict]:
    """An entity of type ``name`` on every word (every two Han characters in Chinese)."""
    if " " in text:
        spans = [m.span() for m in re.finditer(r"\S+", text)]
    else:
        spans = [(i, min(i + 2, len(text))) for i in range(0, len(text), 2)]
    return [{"start": s, "end": e, "type": name, "text": text[s:e]} for s, e in spans]


@pytest.mark.parametrize(
    ("corpus", "text"),
    [
        *DENSE.values(),
        ("jnlpba", "IL-2 gene expression and NF-kappa B activation through CD28 requires "
                   "reactive oxygen production by 5-lipoxygenase in human T cells"),
        ("cmeee", "患者有2型糖尿病，服用二甲双胍，咳嗽发热头痛乏力三天。"),
    ],
)  # fmt: skip
def test_the_default_budget_holds_a_sentence_whose_every_word_is_tagged(tokenizer, corpus, text):
    """The fully tagged answer, with the type whose tags take the most tokens, fits in the
    budget; and the budget comes from the sentence (not several times what it needs)."""
    types = type_set(corpus)
    names = types.display_names()
    widest = max(types.labels, key=lambda label: len(tokenizer(f"<{names[label]}>")["input_ids"]))
    entities = _every_word_tagged(text, widest)
    target = encode(text, entities, scheme="inline", type_names=names)
    needed = len(tokenizer(target, add_special_tokens=False)["input_ids"])
    budget = answer_budget(tokenizer, text, types.names)
    assert needed <= budget < 2 * needed, (needed, budget)
