"""``hf-bioner train-arbiter``: the type arbiter of a trained model, fitted on the gold
mentions of its corpora's training splits (dev gives the accuracy), saved in ``MODEL/arbiter``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hf_bioner.arbiter.model import (
    ARBITER_DIR,
    ArbiterConfig,
    TypeArbiter,
    gold_mentions,
    train_arbiter,
)
from hf_bioner.corpora import load_records
from hf_bioner.model_format import MODEL_CONFIG_NAME
from hf_bioner.schema import BioNerInputError, covering_type_sets, type_set

logger = logging.getLogger(__name__)


def corpora_to_arbitrate(corpora: Sequence[str]) -> list[str]:
    """The corpora whose type sets can conflict: those of languages that prompt more than
    one covering type set (English of the bundled model; not CMeEE, the only Chinese set)."""
    sets = [type_set(name) for name in corpora]
    prompted = covering_type_sets(sets)
    languages = Counter(s.language for s in prompted)
    return [name for name, s in zip(corpora, sets, strict=True) if languages[s.language] > 1]


def train_model_arbiter(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    config: ArbiterConfig | None = None,
    progress: bool = True,
) -> TypeArbiter:
    """Train the arbiter of a trained model on the gold mentions of its corpora's training
    splits (dev splits give the accuracy) and save it in ``MODEL/arbiter``."""
    model_dir = Path(model_dir)
    try:
        model_config = json.loads((model_dir / MODEL_CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BioNerInputError(f"{model_dir}: not an hf-bioner model ({error})") from None
    corpora = corpora_to_arbitrate(model_config["corpora"])
    if not corpora:
        raise BioNerInputError(
            f"{model_dir}: nothing to arbitrate: no language of its corpora "
            f"({', '.join(model_config['corpora'])}) has two type sets that can conflict"
        )
    mentions, dev = [], []
    for name in corpora:
        mentions += gold_mentions(load_records(name, "train", data_dir))
        try:
            dev += gold_mentions(load_records(name, "dev", data_dir))
        except BioNerInputError:
            logger.warning("%s has no dev split: no held-out accuracy from it", name)
    config = config or ArbiterConfig()
    config.corpora = corpora
    arbiter = train_arbiter(mentions, config, dev, progress)
    arbiter.save(output or model_dir / ARBITER_DIR)
    return arbiter
