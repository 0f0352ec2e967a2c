"""Fine-tuning a base LLM to tag: :class:`TrainConfig` says everything about a run,
:func:`train` runs it and saves a model folder.

Modules, each importing only the ones before it (and none of them this ``__init__``):

* ``config``: :class:`TrainConfig`;
* ``data``: the seeded data mix, the ids of the sentences a model learnt, the dev sample;
* ``records``: what the folder records besides the weights (``hf_bioner_config.json``, the
  dev F1 curve, the sessions of a resumed run) and the model card reads;
* ``sft``: the completion-only trainer (imports torch and TRL: loaded by ``train`` only);
* ``trainer``: :func:`train`, its callbacks and the device defaults.

They may import ``schema``, ``paths``, ``corpora``, ``prompts``, ``tagging``, ``device``,
``scoring``, ``model_format``, ``models`` and ``inference``; never the pipeline, the
selector, the arbiter or the CLI.
"""

from hf_bioner.model_format import MODEL_CONFIG_NAME, SUMMARY_NAME
from hf_bioner.training.config import TrainConfig
from hf_bioner.training.data import dev_sample, mixed_training_rows, seen_training_ids
from hf_bioner.training.records import dev_curve, join_sessions, model_config, timed_sessions
from hf_bioner.training.trainer import corpus_f1, device_defaults, train

__all__ = [
    "MODEL_CONFIG_NAME",
    "SUMMARY_NAME",
    "TrainConfig",
    "corpus_f1",
    "dev_curve",
    "dev_sample",
    "device_defaults",
    "join_sessions",
    "mixed_training_rows",
    "model_config",
    "seen_training_ids",
    "timed_sessions",
    "train",
]
