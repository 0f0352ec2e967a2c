"""encode -> decode over every unit of every corpus gives back exactly the gold entities."""

from __future__ import annotations

import pytest

from hf_bioner.corpora import CORPORA
from hf_bioner.schema import dedupe_entities, type_set
from hf_bioner.tagging import decode, encode, inexpressible

SPLITS = [(name, split) for name, spec in CORPORA.items() for split in spec.labelled]


def _key(entities):
    return sorted((e["start"], e["end"], e["type"]) for e in entities)


@pytest.mark.corpora
@pytest.mark.parametrize("scheme", ["paper", "inline"])
@pytest.mark.parametrize(("name", "split"), SPLITS)
def test_round_trip_is_exact_on_every_unit(name, split, scheme, corpus_records):
    names = type_set(name).display_names()
    lost_total = 0
    for record in corpus_records(name, split):
        text, gold = record["text"], record["entities"]
        target = encode(text, gold, scheme=scheme, type_names=names)
        lost = inexpressible(gold, scheme=scheme)
        entities, problems = decode(target, text, scheme=scheme, type_names=names)
        expected = [e for e in dedupe_entities(gold) if e not in lost]
        assert _key(entities) == _key(expected), (record["id"], target)
        assert problems == [], (record["id"], problems)
        lost_total += len(lost)
    # Flat corpora lose nothing; the paper scheme loses nothing on any corpus here, and the
    # inline scheme loses only crossing spans in the nested corpora.
    if scheme == "paper" or name in ("ncbi_disease", "bc5cdr", "jnlpba"):
        assert lost_total == 0
