"""The type arbiter and the conflict rules: which single type a span keeps when several type
sets of a model tag it differently.

* ``model``: :class:`TypeArbiter`, a linear classifier over hashed features of a mention and
  its neighbours, trained on gold mentions; its config, saving and loading (``arbiter/``
  beside the generator, :data:`ARBITER_DIR`);
* ``conflicts``: :func:`one_type_per_span` and its :data:`CONFLICT_RULES` (the pipeline's
  last step);
* ``job``: ``hf-bioner train-arbiter`` (:func:`~hf_bioner.arbiter.job.train_model_arbiter`),
  reading the model's corpora. Not re-exported here, like the selector's job: loading an
  arbiter beside a model needs no corpora.

Modules here import siblings in the order ``model`` -> ``conflicts``, ``job`` (never this
``__init__``), and of the rest of hf_bioner only ``schema``, ``model_format`` and ``corpora``
(the job); never the pipeline, the selector, training or the CLI.
"""

from hf_bioner.arbiter.conflicts import CONFLICT_RULES, one_type_per_span
from hf_bioner.arbiter.model import (
    ARBITER_CONFIG,
    ARBITER_DIR,
    ARBITER_WEIGHTS,
    ArbiterConfig,
    Mention,
    TypeArbiter,
    accuracy,
    gold_mentions,
    mention_features,
    train_arbiter,
)

__all__ = [
    "ARBITER_CONFIG",
    "ARBITER_DIR",
    "ARBITER_WEIGHTS",
    "CONFLICT_RULES",
    "ArbiterConfig",
    "Mention",
    "TypeArbiter",
    "accuracy",
    "gold_mentions",
    "mention_features",
    "one_type_per_span",
    "train_arbiter",
]
