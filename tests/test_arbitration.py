"""The type arbiter: trained on real gold mentions, saved and loaded, used for same-span
conflicts by ``one_type_per_span`` and by the pipeline's default call."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hf_bioner.arbiter import (
    ArbiterConfig,
    TypeArbiter,
    accuracy,
    gold_mentions,
    train_arbiter,
)
from hf_bioner.arbiter.job import train_model_arbiter
from hf_bioner.corpora import load_records
from hf_bioner.schema import BioNerInputError
from tests.conftest import FIXTURE_CORPORA
from tests.known_answers import whole_sentence_tagger

ENGLISH = ("ncbi_disease", "bc5cdr", "jnlpba")
# Real names: drugs against gene products (what BC5CDR and JNLPBA prompts fight over).
DRUGS = ["tamoxifen", "cisplatin", "doxorubicin", "haloperidol", "lidocaine", "nicotine",
         "morphine", "cocaine", "warfarin", "dexamethasone", "fluorouracil", "heparin"]  # fmt: skip
PROTEINS = ["IL-2", "interleukin-2", "NF-kappa B", "p53", "c-Jun", "IL-6 receptor",
            "protein kinase C", "TNF-alpha", "GATA-1", "STAT3", "CD28", "IL-4"]  # fmt: skip


def alone(name: str, label: str) -> tuple[str, int, int, str]:
    """A gold mention with no sentence around it."""
    return name, 0, len(name), label


def fixture_mentions(split: str) -> list[tuple[str, int, int, str]]:
    return [
        m for name in ENGLISH for m in gold_mentions(load_records(name, split, FIXTURE_CORPORA))
    ]


@pytest.fixture(scope="module")
def drug_or_protein() -> TypeArbiter:
    mentions = [alone(m, "Chemical") for m in DRUGS] + [alone(m, "protein") for m in PROTEINS]
    return train_arbiter(mentions, ArbiterConfig(epochs=20, buckets=2**14), progress=False)


def test_arbiter_learns_real_gold_mentions_and_beats_the_majority_type_on_dev():
    train, dev = fixture_mentions("train"), fixture_mentions("dev")
    assert len(train) > 200 and len(dev) > 50
    arbiter = train_arbiter(train, ArbiterConfig(epochs=20), dev, progress=False)
    assert arbiter.config.labels == ["Chemical", "DNA", "Disease", "RNA", "cell_line",
                                     "cell_type", "protein"]  # fmt: skip
    assert accuracy(arbiter, train) > 0.9
    majority = max(Counter(label for *_, label in dev).values()) / len(dev)
    assert arbiter.config.dev_accuracy == round(accuracy(arbiter, dev), 4) > majority + 0.1


def probabilities(arbiter: TypeArbiter, name: str, labels: list[str]) -> dict[str, float]:
    return arbiter.probabilities(name, 0, len(name), labels)


def test_probabilities_cover_only_the_candidate_types_it_knows(drug_or_protein):
    p = probabilities(drug_or_protein, "tamoxifen", ["protein", "Chemical"])
    assert set(p) == {"protein", "Chemical"} and sum(p.values()) == pytest.approx(1.0)
    assert p["Chemical"] > 0.5
    assert probabilities(drug_or_protein, "IL-2", ["Chemical", "protein"])["protein"] > 0.5
    assert probabilities(drug_or_protein, "tamoxifen", ["Chemical", "gene"]) == {"Chemical": 1.0}
    assert probabilities(drug_or_protein, "tamoxifen", ["gene"]) == {}


def test_the_words_beside_a_mention_type_it():
    # One abbreviation, a disease after "with" and a protein after "of".
    sentences = [("infants with {} were born", "Disease"), ("levels of {} rose", "protein")]
    names = ["IUGR", "PDA", "ALS", "TNF", "IL2", "CRP", "SRC", "MS"]
    mentions = []
    for i, name in enumerate(names):
        pattern, label = sentences[i % 2]
        sentence = pattern.format(name)
        mentions.append((sentence, sentence.index(name), sentence.index(name) + len(name), label))
    arbiter = train_arbiter(mentions, ArbiterConfig(epochs=30, buckets=2**14), progress=False)
    for pattern, label in sentences:
        sentence = pattern.format("XYZ")  # a name it never saw: only the context tells
        start = sentence.index("XYZ")
        scores = arbiter.probabilities(sentence, start, start + 3, ["Disease", "protein"])
        assert max(scores, key=scores.get) == label
    name_only = train_arbiter(mentions, ArbiterConfig(epochs=30, buckets=2**14, context=0),
                              progress=False)  # fmt: skip
    scores = [name_only.probabilities(p.format("XYZ"), p.index("{"), p.index("{") + 3,
                                      ["Disease", "protein"]) for p, _ in sentences]  # fmt: skip
    assert scores[0] == scores[1]  # without context the two sentences look the same


def test_saved_arbiter_loads_with_the_same_decisions(drug_or_protein, tmp_path):
    drug_or_protein.save(tmp_path / "arbiter")
    loaded = TypeArbiter.load(tmp_path / "arbiter")
    assert loaded.config == drug_or_protein.config
    for name in DRUGS + PROTEINS + ["Ca2+", "breast cancer"]:
        before = probabilities(drug_or_protein, name, ["Chemical", "protein"])
        after = probabilities(loaded, name, ["Chemical", "protein"])
        assert after == pytest.approx(before, abs=2e-3)
    with pytest.raises(BioNerInputError, match="not a type arbiter"):
        TypeArbiter.load(tmp_path)


def test_one_type_needs_two_types_to_train():
    with pytest.raises(BioNerInputError, match="at least two types; got \\['Chemical'\\]"):
        train_arbiter([alone("tamoxifen", "Chemical")], progress=False)


def test_arbiter_rule_picks_the_type_the_name_fits_not_the_larger_margin(drug_or_protein):
    from hf_bioner.arbiter import one_type_per_span
    from hf_bioner.schema import type_set

    text = "IL-2 and tamoxifen bind the gene X."
    bc5cdr, jnlpba = type_set("bc5cdr"), type_set("jnlpba")

    def pair(word, label, score, types, rank):
        start = text.index(word)
        entity = {"entity_group": label, "start": start, "end": start + len(word),
                  "word": word, "score": score}  # fmt: skip
        return entity, {"offset": 0, "sentence": text, "type_set": types, "rank": rank}

    found = [
        pair("IL-2", "Chemical", 0.9, bc5cdr, 0),  # 0.6 above its threshold
        pair("IL-2", "protein", 0.66, jnlpba, 1),  # 0.01 above
        pair("tamoxifen", "Chemical", 0.31, bc5cdr, 0),
        pair("tamoxifen", "protein", 0.99, jnlpba, 1),
        pair("gene X", "gene", 0.6, jnlpba, 1),  # a type the arbiter never saw
        pair("gene X", "Chemical", 0.9, bc5cdr, 0),
    ]
    thresholds = {"Chemical": 0.3, "protein": 0.65, "gene": 0.5}

    def winners(rule, arbiter=None):
        return [(e["word"], e["entity_group"])
                for e, _ in one_type_per_span(found, rule, thresholds, arbiter)]  # fmt: skip

    assert winners("max-margin") == [("IL-2", "Chemical"), ("tamoxifen", "protein"),
                                     ("gene X", "Chemical")]  # fmt: skip
    # The names decide; "gene X" has a type the arbiter does not know: the margin decides.
    assert winners("arbiter", drug_or_protein) == [
        ("IL-2", "protein"), ("tamoxifen", "Chemical"), ("gene X", "Chemical")]  # fmt: skip
    with pytest.raises(BioNerInputError, match="needs a type arbiter"):
        winners("arbiter")


def _model_folder(tmp_path, corpora) -> str:
    """What train_model_arbiter reads of a model folder: its hf_bioner_config.json."""
    from hf_bioner.model_format import MODEL_CONFIG_NAME

    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / MODEL_CONFIG_NAME).write_text(json.dumps({"corpora": list(corpora)}))
    return str(folder)


def test_a_model_arbiter_trains_on_the_languages_whose_type_sets_conflict(tmp_path):
    folder = _model_folder(tmp_path, ["ncbi_disease", "bc5cdr", "jnlpba", "cmeee"])
    arbiter = train_model_arbiter(folder, FIXTURE_CORPORA, progress=False)
    # CMeEE is the only Chinese type set: nothing to settle there. NCBI-disease is not
    # prompted by default (BC5CDR covers it), but its gold diseases teach Disease.
    assert arbiter.config.corpora == ["ncbi_disease", "bc5cdr", "jnlpba"]
    assert "dis" not in arbiter.config.labels and "protein" in arbiter.config.labels
    assert TypeArbiter.load(tmp_path / "model" / "arbiter").config.dev_accuracy > 0.5
    lonely = _model_folder(tmp_path / "other", ["ncbi_disease", "cmeee"])
    with pytest.raises(BioNerInputError, match="nothing to arbitrate"):
        train_model_arbiter(lonely, FIXTURE_CORPORA, progress=False)


def test_default_call_gives_the_arbiters_type_to_a_span_two_type_sets_tag(tiny_base, tmp_path):
    from transformers import pipeline

    # Tags every sentence whole, once per type set: a same-span conflict in every sentence.
    model = whole_sentence_tagger(tmp_path, tiny_base, corpora=("bc5cdr", "jnlpba"))
    text = "Tamoxifen."
    per_corpus = [pipeline("bio-ner", model=model)(text, corpus=corpus)
                  for corpus in ("bc5cdr", "jnlpba")]  # fmt: skip
    assert [len(found) for found in per_corpus] == [1, 1]
    first, second = (found[0]["entity_group"] for found in per_corpus)
    # Without an arbiter (and without a selector) the type set prompted first wins.
    plain = pipeline("bio-ner", model=model)
    assert plain.arbiter is None and [e["entity_group"] for e in plain(text)] == [first]
    # An arbiter that learned this name as the second set's type overrides that order.
    span = per_corpus[0][0]["start"], per_corpus[0][0]["end"]
    mentions = [(text, *span, second)] * 3 + [alone(name, first) for name in PROTEINS]
    arbiter = train_arbiter(mentions, ArbiterConfig(epochs=20, buckets=2**14), progress=False)
    tagger = pipeline("bio-ner", model=model, arbiter=arbiter)
    assert [e["entity_group"] for e in tagger(text)] == [second]
    arbiter.save(tmp_path / "model_arbiter")
    from_folder = pipeline("bio-ner", model=model, arbiter=str(tmp_path / "model_arbiter"))
    assert [e["entity_group"] for e in from_folder(text)] == [second]
