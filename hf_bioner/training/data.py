"""The training data of a run: the seeded mix of prompt/completion rows, the ids of the
sentences a trained model learnt (rebuilt from its folder), and the fixed dev sample."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from hf_bioner.corpora import load_records
from hf_bioner.model_format import SUMMARY_NAME
from hf_bioner.models import resolve_base
from hf_bioner.prompts import mix_rows, rows_from_records
from hf_bioner.schema import BioNerInputError, Record
from hf_bioner.training.config import TrainConfig

logger = logging.getLogger(__name__)


def _fit_length(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], int]:
    """Drop rows whose prompt + completion exceed ``max_length`` tokens; count them."""
    kept = []
    for row in rows:
        n = len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) + 1
        if n <= max_length:
            kept.append(row)
    return kept, len(rows) - len(kept)


def mixed_training_rows(config: TrainConfig, tokenizer) -> tuple[list[dict], dict]:
    """The mixed, shuffled training rows (with the id and corpus of each sentence) and a
    record of the exact mix. Seeded: the same config gives the same rows again."""
    parts = {}
    for name in config.corpora:
        records = load_records(name, "train", config.data_dir)
        rows = rows_from_records(records, config.scheme, config.prompt_style)
        rows, too_long = _fit_length(rows, tokenizer, config.max_length)
        if too_long:
            logger.warning(
                "%s: dropped %d rows longer than %d tokens", name, too_long, config.max_length
            )
        parts[name] = (rows, too_long)
    if not any(rows for rows, _ in parts.values()):
        dropped = sum(too_long for _, too_long in parts.values())
        raise BioNerInputError(
            f"the training set is empty after length filtering: all {dropped} rows are longer "
            f"than max_length={config.max_length} tokens"
        )
    mixed, taken = mix_rows(
        {name: rows for name, (rows, _) in parts.items()},
        config.mix,
        config.temperature,
        config.cap,
        config.seed,
    )
    mix = {
        name: {"available": len(rows), "taken": taken[name], "dropped_too_long": too_long}
        for name, (rows, too_long) in parts.items()
    }
    return mixed, mix


def build_training_rows(config: TrainConfig, tokenizer) -> tuple[list[dict], dict]:
    """Mixed, shuffled prompt/completion rows and a record of the exact mix."""
    mixed, mix = mixed_training_rows(config, tokenizer)
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in mixed], mix


def seen_training_ids(folder: str | Path, data_dir: str | Path | None = None) -> set[str]:
    """Ids of the training sentences a trained model learnt, rebuilt from the config in its
    ``training_summary.json`` (the mix is seeded); empty when the folder has no summary.

    A run capped below a corpus's size leaves training sentences it never saw: held-out
    text for choosing checkpoints and tuning the selector where dev is the evaluation split.
    """
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not (folder / SUMMARY_NAME).exists():
        return set()
    saved = json.loads((folder / SUMMARY_NAME).read_text())["config"]
    # The same corpora, wherever they are on this machine (where training read them, if there).
    if data_dir is None and saved["data_dir"] and Path(saved["data_dir"]).is_dir():
        data_dir = saved["data_dir"]
    config = TrainConfig(**saved | {"data_dir": str(data_dir) if data_dir else None})
    # An adapter folder may leave out the base's tokenizer (it counts tokens to drop rows).
    has_tokenizer = (folder / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(
        folder if has_tokenizer else resolve_base(config.base)
    )
    rows, _ = mixed_training_rows(config, tokenizer)
    return {row["id"] for row in rows}


def dev_sample(config: TrainConfig) -> list[Record]:
    """A fixed sample of dev sentences per corpus (the test split is never looked at)."""
    if config.eval_size <= 0:
        return []
    rng = random.Random(config.seed)
    sample: list[Record] = []
    per_corpus = max(1, config.eval_size // len(config.corpora))
    for name in config.corpora:
        records = load_records(name, "dev", config.data_dir)
        sample += rng.sample(records, min(per_corpus, len(records)))
    return sample
