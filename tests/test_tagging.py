"""Symbolic tagging: exact targets, round trips, and decoding of imperfect model output."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_bioner.schema import BioNerInputError, dedupe_entities
from hf_bioner.tagging import EMPTY_TARGET, SCHEMES, decode, encode, inexpressible

LABELS = ["Disease", "Chemical", "dis"]
DISPLAY = {"Disease": "Disease", "Chemical": "化学品", "dis": "疾病"}
CMEEE = {"dis": "疾病", "sym": "临床表现", "dru": "药物"}


def ent(text: str, piece: str, type_: str, nth: int = 0) -> dict:
    """The entity over the ``nth`` occurrence of ``piece`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(piece, start + 1)
    return {"start": start, "end": start + len(piece), "type": type_, "text": piece}


def assert_valid(entities: list[dict], text: str) -> None:
    for e in entities:
        assert 0 <= e["start"] < e["end"] <= len(text)
        assert text[e["start"] : e["end"]] == e["text"]


# ------------------------------------------------------------------------ exact targets

BRCA = "Mutations in BRCA1 cause breast cancer."


def test_paper_flat():
    out = encode(BRCA, [ent(BRCA, "breast cancer", "Disease")])
    assert out == "Disease: Mutations in BRCA1 cause [breast cancer]."
    assert decode(out, BRCA) == ([ent(BRCA, "breast cancer", "Disease")], [])


def test_paper_nested_same_type_and_line_order():
    text = "CD28 surface receptor binds IL-2 gene"
    ents = [
        ent(text, "CD28 surface receptor", "protein"),
        ent(text, "CD28", "protein"),
        ent(text, "IL-2 gene", "DNA"),
    ]
    out = encode(text, ents, type_order=["protein", "DNA"])
    assert out == (
        "protein: [[CD28] surface receptor] binds IL-2 gene  \n"
        "DNA: CD28 surface receptor binds [IL-2 gene]"
    )
    # Without an order, labels are sorted.
    assert encode(text, ents).startswith("DNA: ")
    assert decode(out, text) == (dedupe_entities(ents), [])


def test_inline_nested_different_types_and_identical_spans():
    text = "IL-2 gene expression"
    ents = [ent(text, "IL-2", "protein"), ent(text, "IL-2 gene", "DNA"), ent(text, "IL-2", "RNA")]
    out = encode(text, ents, "inline", type_order=["protein", "DNA", "RNA"])
    assert out == "<DNA><protein><RNA>IL-2</RNA></protein> gene</DNA> expression"
    # The paper scheme writes one line per type; spans of different types never interact.
    paper = encode(text, ents, "paper", type_order=["protein", "DNA", "RNA"])
    assert paper == (
        "protein: [IL-2] gene expression  \nDNA: [IL-2 gene] expression  \nRNA: [IL-2] gene expression"
    )
    for scheme, target in (("inline", out), ("paper", paper)):
        assert decode(target, text, scheme) == (dedupe_entities(ents), [])


def test_inline_nested_same_type():
    text = "breast cancer"
    ents = [ent(text, "breast cancer", "Disease"), ent(text, "cancer", "Disease")]
    assert encode(text, ents, "inline") == "<Disease>breast <Disease>cancer</Disease></Disease>"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_empty(scheme):
    assert encode(BRCA, [], scheme) == (BRCA if scheme == "inline" else EMPTY_TARGET)
    assert decode(encode(BRCA, [], scheme), BRCA, scheme) == ([], [])
    assert decode(EMPTY_TARGET, BRCA, scheme) == ([], [])
    assert decode("  None \n", BRCA, scheme) == ([], [])
    assert decode(EMPTY_TARGET, EMPTY_TARGET, scheme) == ([], [])
    # A text that is literally "None" still encodes its entities.
    none = [{"start": 0, "end": 4, "type": "X", "text": "None"}]
    assert decode(encode("None", none, scheme), "None", scheme) == (none, [])


def test_cmeee_display_names_and_sup_remnant():
    text = "血糖12mmol/L</sup>，诊断为2型糖尿病，伴口渴。"
    ents = [ent(text, "2型糖尿病", "dis"), ent(text, "口渴", "sym"), ent(text, "糖尿病", "dis")]
    paper = encode(text, ents, "paper", CMEEE, list(CMEEE))
    assert paper == (
        "疾病: 血糖12mmol/L</sup>，诊断为[2型[糖尿病]]，伴口渴。  \n"
        "临床表现: 血糖12mmol/L</sup>，诊断为2型糖尿病，伴[口渴]。"
    )
    inline = encode(text, ents, "inline", CMEEE, list(CMEEE))
    assert (
        inline
        == "血糖12mmol/L</sup>，诊断为<疾病>2型<疾病>糖尿病</疾病></疾病>，伴<临床表现>口渴</临床表现>。"
    )
    for scheme, out in (("paper", paper), ("inline", inline)):
        assert decode(out, text, scheme, CMEEE) == (dedupe_entities(ents), [])
    # Without display names the labels themselves are the names; </sup> is still text.
    out = encode(text, ents, "inline")
    assert "<dis>" in out
    assert decode(out, text, "inline") == (dedupe_entities(ents), [])


def test_brackets_in_text_next_to_entities():
    text = "binding of [3H]-naloxone to [Na]o and PDGF[B] with IL-2 [10 nM]"
    ents = [
        ent(text, "[3H]-naloxone", "Chemical"),
        ent(text, "Na", "Chemical"),
        ent(text, "PDGF[B]", "protein"),
        ent(text, "10 nM", "Chemical"),
        ent(text, "IL-2 [10 nM]", "protein"),
    ]
    out = encode(text, ents)
    assert "Chemical: binding of [[3H]-naloxone] to [[Na]]o and PDGF[B] with IL-2 [[10 nM]]" in out
    for scheme in SCHEMES:
        assert decode(encode(text, ents, scheme), text, scheme) == (dedupe_entities(ents), [])


def test_angle_brackets_in_text():
    text = "p < 0.05 for <b>HIV</b> infection when a>b"
    ents = [ent(text, "HIV", "Disease"), ent(text, "HIV</b> infection", "Disease")]
    out = encode(text, ents, "inline")
    assert out == (
        "p < 0.05 for <b><Disease><Disease>HIV</Disease></b> infection</Disease> when a>b"
    )
    assert decode(out, text, "inline") == (dedupe_entities(ents), [])


def test_encode_rejects_bad_input():
    with pytest.raises(BioNerInputError, match="paper, inline"):
        encode(BRCA, [], "bio")
    with pytest.raises(BioNerInputError, match="paper, inline"):
        decode("x", BRCA, "bio")
    with pytest.raises(BioNerInputError, match="paper, inline"):
        inexpressible([], "bio")
    with pytest.raises(BioNerInputError, match="outside"):
        encode(BRCA, [{"start": 30, "end": 99, "type": "Disease"}])
    with pytest.raises(BioNerInputError, match="no display name"):
        encode(BRCA, [ent(BRCA, "BRCA1", "Gene")], type_names={"Disease": "Disease"})
    with pytest.raises(BioNerInputError, match="same name"):
        encode(BRCA, [ent(BRCA, "BRCA1", "Gene")], type_names={"Gene": "X", "Disease": "X"})
    with pytest.raises(BioNerInputError, match="cannot be written"):
        encode(BRCA, [ent(BRCA, "BRCA1", "Gene")], "inline", type_names={"Gene": "a/b"})


# ------------------------------------------------------------------------ inexpressible


def test_inexpressible_crossing_spans():
    text = "alpha beta gamma"
    first, second = ent(text, "alpha beta", "Disease"), ent(text, "beta gamma", "Disease")
    other = {**ent(text, "beta gamma", "Chemical")}
    assert inexpressible([second, first], "paper") == [second]
    assert inexpressible([first, other], "paper") == []
    assert inexpressible([first, other], "inline") == [other]
    assert inexpressible([first, first], "inline") == []  # duplicates collapse, nothing lost
    assert encode(text, [first, second]) == "Disease: [alpha beta] gamma"
    assert encode(text, [first, other], "inline") == "<Disease>alpha beta</Disease> gamma"


# ------------------------------------------------------------------------ round trip property

ASCII = "ab c[]<>/-().,:;'\"αβ"
CHINESE = "患者糖尿病，。：（）［］"


@st.composite
def texts_and_entities(draw):
    text = draw(st.text(alphabet=st.sampled_from(ASCII + CHINESE), min_size=1, max_size=40))
    n = len(text)
    spans = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(1, n), st.sampled_from(LABELS)).filter(
                lambda t: t[0] < t[1]
            ),
            max_size=6,
        )
    )
    entities = [
        {"start": s, "end": e, "type": t, "text": text[s:e]}
        for s, e, t in spans
        if not text[s].isspace() and not text[e - 1].isspace()
    ]
    return text, entities


def bracket_adjacent(text: str, e: dict) -> bool:
    """A [ or ] of the text touching a boundary: the paper format cannot tell both readings apart."""
    s, t = e["start"], e["end"]
    return (
        text[s] == "["
        or (s > 0 and text[s - 1] == "[")
        or text[t - 1] == "]"
        or (t < len(text) and text[t] == "]")
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts_and_entities(), st.sampled_from(SCHEMES), st.sampled_from([None, DISPLAY]))
def test_round_trip(case, scheme, names):
    text, entities = case
    if scheme == "paper":
        entities = [e for e in entities if not bracket_adjacent(text, e)]
    out = encode(text, entities, scheme, names)
    lost = inexpressible(entities, scheme)
    expected = [e for e in dedupe_entities(entities) if e not in lost]
    assert decode(out, text, scheme, names) == (expected, [])


# ------------------------------------------------------------------------ imperfect output


def test_unbalanced_brackets_paper():
    ents, problems = decode("Disease: Mutations in [BRCA1 cause [breast cancer].", BRCA)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert any("never closed" in p for p in problems)
    ents, problems = decode("Disease: Mutations in BRCA1] cause [breast cancer].", BRCA)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert any("closes nothing" in p for p in problems)


def test_unbalanced_and_crossing_tags_inline():
    out = "Mutations in BRCA1</Disease> cause <Disease>breast cancer</Disease>. <Disease>"
    ents, problems = decode(out, BRCA, "inline")
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert len(problems) >= 2
    out = "Mutations in <Gene>BRCA1 cause <Disease>breast</Gene> cancer</Disease>."
    ents, problems = decode(out, BRCA, "inline")
    assert ents == [ent(BRCA, "BRCA1 cause breast", "Gene"), ent(BRCA, "breast cancer", "Disease")]
    assert any("across" in p for p in problems)


def test_unknown_types():
    names = {"Disease": "Disease"}
    out = "Gene: Mutations in [BRCA1] cause breast cancer.\nDisease: Mutations in BRCA1 cause [breast cancer]."
    ents, problems = decode(out, BRCA, "paper", names)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert any("'Gene'" in p for p in problems)
    out = "Mutations in <Gene>BRCA1</Gene> cause <disease>breast cancer</Disease>."
    ents, problems = decode(out, BRCA, "inline", names)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert any("unknown entity type 'Gene'" in p for p in problems)
    assert any("read as" in p for p in problems)  # <disease> read as Disease
    # Without type_names, any name is a label.
    ents, _ = decode("Gene: Mutations in [BRCA1] cause breast cancer.", BRCA)
    assert ents == [ent(BRCA, "BRCA1", "Gene")]


def test_empty_spans_and_garbage_markers():
    ents, problems = decode("Disease: Mutations in [] BRCA1 cause [breast cancer].", BRCA)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert any("empty" in p for p in problems)


@pytest.mark.parametrize(
    ("output", "scheme"),
    [
        # dropped a word
        ("Disease: Mutations in cause [breast cancer].", "paper"),
        ("Mutations in BRCA1 cause <Disease>breast cancer</Disease>", "inline"),  # no full stop
        # changed spacing
        ("Disease: Mutations  in BRCA1 cause [breast  cancer] .", "paper"),
        ("Mutations in BRCA1 cause<Disease>breast   cancer</Disease>.", "inline"),
        # preamble and trailing chatter
        (
            "Here are the entities:\nDisease: Mutations in BRCA1 cause [breast cancer].\nDone.",
            "paper",
        ),
        (
            "Here are the entities:\nMutations in BRCA1 cause <Disease>breast cancer</Disease>.",
            "inline",
        ),
        (
            "Mutations in BRCA1 cause <Disease>breast cancer</Disease>.\nI hope this helps!",
            "inline",
        ),
        ("Sure! Mutations in BRCA1 cause <Disease>breast cancer</Disease>. Done", "inline"),
        # altered word inside the entity
        ("Disease: Mutations in BRCA1 cause [breast cancers].", "paper"),
    ],
)
def test_drift_is_repaired_and_reported(output, scheme):
    ents, problems = decode(output, BRCA, scheme, {"Disease": "Disease"})
    assert ents == [ent(BRCA, "breast cancer", "Disease")]
    assert problems


def test_curly_quotes_and_full_width_punctuation():
    text = "The “HIV” infection, and 糖尿病（2型）。"
    out = 'The "<Disease>HIV</Disease>" infection, and <Disease>糖尿病(2型)</Disease>。'
    ents, problems = decode(out, text, "inline")
    assert ents == [ent(text, "HIV", "Disease"), ent(text, "糖尿病（2型）", "Disease")]
    assert problems
    out = 'Disease: The "[HIV]" infection, and [糖尿病(2型)]。'
    assert decode(out, text)[0] == ents


def test_separator_and_colon_variants_are_silent():
    text = "a b"
    out = "X :[a] b\nY： a [b]"
    assert decode(out, text) == (
        [ent(text, "a", "X"), ent(text, "b", "Y")],
        [],
    )


def test_repeated_type_lines_are_merged():
    out = "Disease: Mutations in [BRCA1] cause breast cancer.  \nDisease: Mutations in BRCA1 cause [breast cancer]."
    ents, problems = decode(out, BRCA)
    assert ents == [ent(BRCA, "BRCA1", "Disease"), ent(BRCA, "breast cancer", "Disease")]
    assert any("merged" in p for p in problems)


def test_span_that_is_not_in_the_input_is_dropped():
    ents, problems = decode("Disease: Mutations in BRCA1 cause [lung fibrosis].", BRCA)
    assert_valid(ents, BRCA)
    assert ents == []
    assert any("could not map" in p for p in problems)


def test_multiline_input_paper():
    text = "Title: BRCA1 and cancer\nAbstract: breast cancer risk"
    ents = [ent(text, "cancer", "Disease"), ent(text, "breast cancer", "Disease")]
    out = encode(text, ents)
    assert decode(out, text) == (dedupe_entities(ents), [])
    assert decode(encode(text, ents), text, "paper", {"Disease": "Disease"})[0] == ents


def test_long_drifted_document_is_aligned_quickly():
    import random
    import time

    rng = random.Random(7)
    words = ["cell", "IL-2", "binds", "the", "receptor", "of", "T", "kinase", "NF-kB", "and"]
    text = " ".join(rng.choice(words) + str(rng.randrange(100)) for _ in range(800))
    target = ent(text, text.split()[400], "protein")
    out = encode(text, [target], "inline")
    # drop two words near the start and change one near the end
    cut = out.index(" ", 50)
    out = out[:cut] + out[out.index(" ", cut + 1) :]
    out = out[:-40] + out[-40:].replace("a", "o", 1)
    start = time.perf_counter()
    ents, problems = decode(out, text, "inline")
    assert time.perf_counter() - start < 2
    assert ents == [target]
    assert problems


def test_empty_output_is_reported():
    reported = ([], ["empty output (a sentence without entities is 'None')"])
    for output in ("", "  ", " \n "):
        for scheme in SCHEMES:
            assert decode(output, BRCA, scheme) == reported
    assert decode("", "  ", "inline") == ([], [])  # the inline copy of a blank text is blank


def test_chinese_drift():
    text = "患者有高血压病史，无糖尿病。"
    out = "疾病：患者有[高血压]病史,无[糖尿病]"
    ents, problems = decode(out, text, "paper", CMEEE)
    assert ents == [ent(text, "高血压", "dis"), ent(text, "糖尿病", "dis")]
    assert problems


def test_whitespace_edges_are_trimmed():
    ents, _ = decode("Disease: Mutations in BRCA1 cause [ breast cancer ].", BRCA)
    assert ents == [ent(BRCA, "breast cancer", "Disease")]


# ------------------------------------------------------------------------ never raises

ANY_TEXT = st.text(
    alphabet=st.sampled_from('ab []<>/:：\n\r\t.D isease疾病None"“') | st.characters(), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, ANY_TEXT, st.sampled_from(SCHEMES), st.sampled_from([None, DISPLAY]))
def test_decode_never_raises(output, text, scheme, names):
    ents, problems = decode(output, text, scheme, names)
    assert_valid(ents, text)
    assert all(isinstance(p, str) for p in problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts_and_entities(),
    st.sampled_from(SCHEMES),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), st.text(max_size=3)), max_size=4),
)
def test_decode_of_damaged_targets_gives_valid_offsets(case, scheme, edits):
    text, entities = case
    out = encode(text, entities, scheme, DISPLAY)
    for pos, cut, insert in edits:
        pos = pos % (len(out) + 1)
        out = out[:pos] + insert + out[pos + cut :]
    ents, problems = decode(out, text, scheme, DISPLAY)
    assert_valid(ents, text)
    assert all(e["type"] in LABELS for e in ents)
