"""``hf-bioner train-selector``: build, train, calibrate and save a generator's selector.

1. Sample sentences of each corpus the generator knows, in three disjoint seeded sets:
   *train* (training-split gold entities and their variants), *hard* (tagged by the
   generator, whose false positives become hard negatives) and *calibration* (tagged by the
   generator; its predictions fit the Platt scaling and the thresholds). Hard and
   calibration sentences come from the corpus's tuning split (dev; training sentences where
   dev is the evaluation split, as for CMeEE, and of those the ones a capped training run
   left out): the generator must not have learnt them, or it makes fewer and easier
   mistakes there than on new text, and the thresholds would be tuned to those. Where they
   came from is recorded.
2. Train the selector on train + hard candidates, calibrate, save under
   ``<generator>/selector`` (or ``--output``) with a summary of everything.

``recalibrate`` skips training: it loads the selector already saved there and fits its Platt
scaling and thresholds again on a calibration set of another size (the same seeded sample,
extended), e.g. a larger one when the thresholds of a small one prove noisy on new text. The
weights are not touched, so raw scores saved for them stay valid.
"""

from __future__ import annotations

import gc
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_bioner.corpora import held_out_records, load_records, tuning_split
from hf_bioner.decoding import step_dtype
from hf_bioner.inference import predict_records
from hf_bioner.model_format import type_sets_from_config
from hf_bioner.models import load_trained, load_trained_config
from hf_bioner.schema import BioNerInputError, Record
from hf_bioner.selector.candidates import (
    SampleConfig,
    build_candidates,
    count_kinds,
    predicted_candidates,
)
from hf_bioner.selector.model import (
    SELECTOR_CONFIG,
    SELECTOR_DIR,
    EntitySelector,
    SelectorConfig,
    calibrate,
)
from hf_bioner.selector.model import train_selector as fit
from hf_bioner.training.data import seen_training_ids


@dataclass
class SelectorJob:
    generator: str  # an hf-bioner train output folder
    output: str | None = None  # default: <generator>/selector
    data_dir: str | None = None
    corpora: list[str] | None = None  # default: the generator's
    train_sentences: int = 120  # per corpus
    hard_sentences: int = 40  # per corpus, tagged by the generator
    calibration_sentences: int = 250  # per corpus, tagged by the generator (60: noisy)
    batch_size: int = 16
    recalibrate: bool = False  # keep the saved selector's weights; fit calibration again
    samples: SampleConfig = field(default_factory=SampleConfig)
    selector: SelectorConfig = field(default_factory=SelectorConfig)


def sample_sentences(records: list[Record], sizes: list[int], seed: int) -> list[list[Record]]:
    """Disjoint seeded samples of the given sizes (smaller when the split runs out)."""
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    out, position = [], 0
    for size in sizes:
        out.append(shuffled[position : position + size])
        position += size
    return out


def corpus_samples(job: SelectorJob, corpus: str, learnt: set[str]) -> tuple[list, list, list, str]:
    """The train, hard and calibration sentences of one corpus, and where the last two came
    from. ``learnt``: ids of the training sentences the generator was trained on."""
    records = load_records(corpus, "train", job.data_dir)
    held_out = held_out_records(corpus, job.data_dir, learnt)
    source = tuning_split(corpus)
    sizes = [job.hard_sentences, job.calibration_sentences]
    if source == "train" and not (held_out and learnt):
        # Trained on every sentence (or not known): three disjoint samples of learnt text.
        samples = sample_sentences(records, [job.train_sentences, *sizes], job.samples.seed)
        return (*samples, "train, learnt by the generator")
    if source == "train":
        source = "train, not learnt by the generator"
        records = [r for r in records if r["id"] in learnt]
    (train,) = sample_sentences(records, [job.train_sentences], job.samples.seed)
    return (train, *sample_sentences(held_out, sizes, job.samples.seed), source)


def tag_with_generator(job: SelectorJob, records: list[Record]) -> list[list[dict]]:
    """The generator's entities for each record (constrained decoding when it can), with the
    pipeline's decoding steps on this machine, so calibration sees what users will get."""
    model, tokenizer, config = load_trained(job.generator, merge=True)
    dtype = step_dtype(model)  # the prompts' and the steps' (the pipeline's rule)
    out = predict_records(model, tokenizer, records, config["scheme"], job.batch_size,
                          progress=True, constrained=config["scheme"] == "inline",
                          prompt_style=config.get("prompt_style", "full"),
                          step_dtype=dtype, prefill_dtype=dtype)  # fmt: skip
    del model
    gc.collect()
    return out["predictions"]


def run(job: SelectorJob) -> dict:
    """Everything from sampling to the saved selector; returns the summary it saves."""
    started = time.perf_counter()
    generator_config = load_trained_config(job.generator)
    type_sets = type_sets_from_config(generator_config)
    corpora = job.corpora or list(generator_config["corpora"])
    unknown = [c for c in corpora if c not in type_sets]
    if unknown:
        raise BioNerInputError(f"the generator was not trained on {', '.join(unknown)}")
    # Only corpora tuned on training text need to know which sentences the generator learnt.
    needed = any(tuning_split(corpus) == "train" for corpus in corpora)
    learnt = seen_training_ids(job.generator, job.data_dir) if needed else set()
    train, hard, calibration, tuning = [], [], [], {}
    for corpus in corpora:
        a, b, c, tuning[corpus] = corpus_samples(job, corpus, learnt)
        train, hard, calibration = train + a, hard + b, calibration + c
    output = Path(job.output) if job.output else Path(job.generator) / SELECTOR_DIR
    if job.recalibrate:
        return recalibrate(job, output, calibration, type_sets, started, tuning)
    predictions = tag_with_generator(job, hard + calibration)
    hard_predictions, calibration_predictions = predictions[: len(hard)], predictions[len(hard) :]

    rows = build_candidates(train, type_sets, job.samples)
    rows += build_candidates(hard, type_sets, job.samples, hard_predictions)
    selector = EntitySelector(job.selector)
    curve = fit(selector, rows, type_sets)
    calibration_result = calibrate_on(selector, calibration, calibration_predictions, type_sets)
    summary = {
        "generator": str(job.generator),
        "corpora": corpora,
        "sentences": {"train": len(train), "hard": len(hard), "calibration": len(calibration)},
        "tuning_split": tuning,  # where the hard and calibration sentences came from
        "candidates": count_kinds(rows),
        "samples": asdict(job.samples),
        "loss_curve": curve,
        "calibration": calibration_result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    selector.save(output, summary)
    summary["output"] = str(output)
    return summary


def calibrate_on(selector: EntitySelector, records: list[Record],
                 predictions: list[list[dict]], type_sets) -> dict:  # fmt: skip
    """Fit the selector's calibration on the generator's predictions for held-out records."""
    n_gold: dict[tuple[str, str], int] = {}
    for record in records:
        for e in record["entities"]:
            key = record["corpus"], e["type"]
            n_gold[key] = n_gold.get(key, 0) + 1
    return calibrate(selector, predicted_candidates(records, predictions), n_gold, type_sets)


def recalibrate(job: SelectorJob, output: Path, calibration: list[Record], type_sets,
                started: float, tuning: dict[str, str]) -> dict:  # fmt: skip
    """Fit a saved selector's calibration again on ``calibration``; keep its weights and the
    summary of its training, replacing only the calibration (the earlier one is kept).
    ``tuning`` says where each corpus's calibration sentences came from: for a generator that
    learnt more than the one the selector was trained beside, not the saved ``tuning_split``."""
    saved = json.loads((output / SELECTOR_CONFIG).read_text()).get("summary", {})
    selector = EntitySelector.load(output)
    result = calibrate_on(selector, calibration, tag_with_generator(job, calibration), type_sets)
    summary = {
        **saved,
        "sentences": {**saved.get("sentences", {}), "calibration": len(calibration)},
        "calibration": result,
        "calibration_split": tuning,
        "earlier_calibration": saved.get("calibration"),
        "recalibration_seconds": round(time.perf_counter() - started, 1),
    }
    selector.save_calibration(output, summary)
    summary["output"] = str(output)
    return summary
