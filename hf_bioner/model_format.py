"""What an hf-bioner model folder holds, by name: the files every part reads and writes.

``hf_bioner_config.json`` (:data:`MODEL_CONFIG_NAME`) says all that loading a model needs:
base model, scheme, prompt style, entity types per corpus (:func:`type_sets_from_config`
reads them back), prompt templates. ``training_summary.json`` (:data:`SUMMARY_NAME`) records
the run. Training writes both (:mod:`hf_bioner.training`); loading (:mod:`hf_bioner.models`),
the pipeline, the selector and arbiter jobs and the Hub folder read them. The selector and
the arbiter sit beside them in ``selector/`` and ``arbiter/`` (:mod:`hf_bioner.components`).

Imports nothing of hf_bioner but :mod:`hf_bioner.schema`, so that every module may import it.
"""

from __future__ import annotations

from collections.abc import Mapping

from hf_bioner.schema import EntityType, TypeSet

MODEL_CONFIG_NAME = "hf_bioner_config.json"
SUMMARY_NAME = "training_summary.json"
MODEL_FORMAT = "hf-bioner/1"  # the "format" of hf_bioner_config.json


def type_sets_from_config(config: Mapping) -> dict[str, TypeSet]:
    """The entity-type sets a trained model knows, per corpus (from hf_bioner_config.json)."""
    sets = {}
    for corpus, spec in config["entity_types"].items():
        types = tuple(EntityType(t["label"], t["name"], t["definition"]) for t in spec["types"])
        sets[corpus] = TypeSet(spec["language"], types)
    return sets
