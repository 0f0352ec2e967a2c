"""The contrastive entity selector: a second model that accepts or rejects each entity the
generator found, saved under ``selector/`` beside the generator.

* ``candidates``: what it learns from: gold spans, their boundary / type variants, the
  generator's false positives, each shown as text (its sentence, then a question naming the
  span and the type);
* ``model``: the model (backbone + LoRA, projection, accept anchor, probability head), its
  contrastive training, its calibration (Platt scaling, thresholds per type and, for a
  type several corpora share, per corpus), save / load;
* ``job``: ``hf-bioner train-selector``: sampling, tagging with the generator, training,
  calibration, saving. Not re-exported here: it brings in the generator's inference and the
  training data, which loading a selector beside a model does not need.

Modules here import siblings in the order ``candidates`` -> ``model`` -> ``job`` (never this
``__init__``), and of the rest of hf_bioner only ``schema``, ``device``, ``models`` and, for
the job, ``model_format``, ``corpora``, ``decoding``, ``inference`` and ``training``; never
the pipeline, the arbiter or the CLI.
"""

from hf_bioner.selector.candidates import (
    INPUT_FORMATS,
    Candidate,
    SampleConfig,
    SelectorInput,
    boundary_variants,
    build_candidates,
    count_kinds,
    predicted_candidates,
    selector_input,
)
from hf_bioner.selector.model import (
    HEAD_FILE,
    SELECTOR_CONFIG,
    SELECTOR_DIR,
    EntitySelector,
    SelectorConfig,
    auc,
    best_threshold,
    calibrate,
    candidate_input,
    contrastive_loss,
    fit_platt,
    fit_thresholds,
    make_batches,
    reliability_table,
    train_selector,
)

__all__ = [
    "HEAD_FILE",
    "INPUT_FORMATS",
    "SELECTOR_CONFIG",
    "SELECTOR_DIR",
    "Candidate",
    "EntitySelector",
    "SampleConfig",
    "SelectorConfig",
    "SelectorInput",
    "auc",
    "best_threshold",
    "boundary_variants",
    "build_candidates",
    "calibrate",
    "candidate_input",
    "contrastive_loss",
    "count_kinds",
    "fit_platt",
    "fit_thresholds",
    "make_batches",
    "predicted_candidates",
    "reliability_table",
    "selector_input",
    "train_selector",
]
