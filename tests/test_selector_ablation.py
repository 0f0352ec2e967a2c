"""The selector ablation benchmark: raw selector logits are computed once per selector weights."""

from __future__ import annotations

import sys

from hf_bioner.selector import EntitySelector, SelectorConfig
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from selector_ablation import LogitCache, weights_fingerprint  # noqa: E402

INPUTS = ["Disease: [breast cancer] in BRCA1 carriers", "Chemical: [tamoxifen] was given"]


def test_logits_are_reused_for_the_same_weights_only(tiny_base, tmp_path):
    selector = EntitySelector(SelectorConfig(backbone=tiny_base, lora_r=2, embedding_dim=8))
    folder = selector.save(tmp_path / "selector")
    fingerprint = weights_fingerprint(folder)
    path = tmp_path / "logits.json"

    first = LogitCache(str(path), fingerprint)
    logits = first.get(selector, INPUTS + INPUTS[:1])  # a repeated input is scored once
    assert first.computed == 2 and logits[0] == logits[2]
    assert logits[:2] == selector.raw_logits(INPUTS)

    # Another run with the same weights reads them all: no selector is needed to answer.
    reused = LogitCache(str(path), fingerprint)
    assert reused.get(None, INPUTS) == logits[:2] and reused.seconds == first.seconds

    # New weights (a retrained selector) change the fingerprint: the file is not used.
    selector.head.projection.weight.data += 1.0
    selector.save(folder)
    assert weights_fingerprint(folder) != fingerprint
    assert LogitCache(str(path), weights_fingerprint(folder)).logits == {}
