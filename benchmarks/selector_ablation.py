"""Strict P/R/F1 with and without the contrastive entity selector, on the same predictions.

Reads the generator's predictions saved by ``evaluate_model.py --save-predictions`` (so both
rows of the comparison score the very same generated entities), scores every predicted
entity with the selector, and reports per corpus:

* ``without``: every generated entity;
* ``with``: entities at or above the selector's calibrated thresholds;
* ``oracle_threshold``: the best single threshold chosen on these test predictions (an
  upper bound on what threshold tuning could give, not a result);
* the selector as a classifier: AUC and accuracy on the predicted entities, and on dev
  candidates (gold spans + boundary / type variants of dev sentences);
* its cost in milliseconds per entity.

Scoring is the slow part (about 0.1 s per entity on a CPU core). ``--logits FILE`` keeps the
selector's raw head logits per entity, tied to the selector's weights: a later run with the
same weights (e.g. after ``hf-bioner train-selector --recalibrate``, which changes only the
Platt scaling and thresholds) reads them instead of scoring again.

    python benchmarks/selector_ablation.py hf_bioner/default_model \\
        --predictions preds.jsonl --name gemma-joint-inline --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

from common import eval_units, save_result

from hf_bioner.corpora import load_records
from hf_bioner.formats import read_jsonl
from hf_bioner.model_format import type_sets_from_config
from hf_bioner.models import load_trained_config
from hf_bioner.scoring import score
from hf_bioner.selector import (
    SELECTOR_DIR,
    EntitySelector,
    auc,
    best_threshold,
)
from hf_bioner.selector.candidates import (
    SampleConfig,
    SelectorInput,
    build_candidates,
    predicted_candidates,
)


def prf(result: dict) -> dict:
    return {k: round(result[k], 4) for k in ("precision", "recall", "f1")}


def prf_per_type(result: dict) -> dict:
    """Micro P/R/F1 and per-type scores (with support) of a `score` result."""
    counts = ("support", "predicted", "tp")
    per_type = {t: {**prf(s), **{k: s[k] for k in counts}} for t, s in result["per_type"].items()}
    return {**prf(result), "per_type": per_type}


def classifier_figures(selector, candidates, type_sets, probabilities=None) -> dict:
    """AUC and accuracy (at the calibrated thresholds) of the selector on candidates."""
    if probabilities is None:
        probabilities = selector.score(candidates, type_sets)
    labels = [c["label"] for c in candidates]
    kept = [selector.keeps(c, p) for c, p in zip(candidates, probabilities, strict=True)]
    correct = sum(int(k) == y for k, y in zip(kept, labels, strict=True))
    return {
        "candidates": len(candidates),
        "positives": sum(labels),
        "auc": auc(probabilities, labels),
        "accuracy": correct / len(candidates) if candidates else None,
    }


def weights_fingerprint(folder: str | Path) -> str:
    """SHA-256 of a selector's weight files: raw logits depend on these alone."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class LogitCache:
    """Raw selector logits by selector input, saved in a JSON file for one selector's weights
    (a file written for other weights is ignored and replaced)."""

    def __init__(self, path: str | None, fingerprint: str):
        self.path, self.fingerprint = (Path(path) if path else None), fingerprint
        self.logits: dict[str, float] = {}
        self.seconds, self.computed = 0.0, 0  # the time the cached logits took to compute
        if self.path and self.path.exists():
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if saved["selector"] == fingerprint:
                self.logits, self.seconds = saved["logits"], saved["seconds"]
                self.computed = len(self.logits)

    def get(self, selector: EntitySelector, inputs: list[SelectorInput | str]) -> list[float]:
        """The logits of the inputs (each saved under the text it reads): cached ones read,
        the others computed and saved."""
        inputs = [SelectorInput(i) if isinstance(i, str) else i for i in inputs]
        texts = ["".join(i) for i in inputs]
        todo = sorted({t: i for t, i in zip(texts, inputs, strict=True)
                       if t not in self.logits}.items())  # fmt: skip
        if todo:
            started = time.perf_counter()
            computed = selector.raw_logits([i for _, i in todo], progress=True)
            self.logits.update(zip([t for t, _ in todo], computed, strict=True))
            self.seconds += time.perf_counter() - started
            self.computed += len(todo)
            if self.path:
                saved = {"selector": self.fingerprint, "seconds": self.seconds,
                         "logits": self.logits}  # fmt: skip
                self.path.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        return [self.logits[t] for t in texts]


def split_sizes(corpus: str, units: int, data_dir: str | None) -> dict:
    """Which split the predictions come from, its size, and how many units were scored."""
    _, sizes = eval_units(corpus, data_dir, None)
    return {**sizes, "units": units}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the generator folder (its selector/ is used)")
    parser.add_argument("--predictions", required=True, help="evaluate_model.py predictions")
    parser.add_argument("--selector", help="a selector folder (default: MODEL/selector)")
    parser.add_argument("--name", required=True, help="result name: selector_ablation_<name>")
    parser.add_argument("--dev-sentences", type=int, default=60, help="per corpus")
    parser.add_argument("--data-dir")
    parser.add_argument("--logits", help="JSON file of raw selector logits to reuse and extend")
    args = parser.parse_args()

    config = load_trained_config(args.model)
    type_sets = type_sets_from_config(config)
    folder = args.selector or f"{args.model}/{SELECTOR_DIR}"
    selector = EntitySelector.load(folder)
    cache = LogitCache(args.logits, weights_fingerprint(folder))
    rows = read_jsonl(args.predictions)
    corpora = sorted({r["corpus"] for r in rows}, key=list(type_sets).index)

    per_corpus, pooled = {}, {"without": ([], []), "with": ([], [])}
    for corpus in corpora:
        records = [r for r in rows if r["corpus"] == corpus]
        predictions = [r["predicted"] for r in records]
        gold = [r["entities"] for r in records]
        candidates = predicted_candidates(records, predictions)
        inputs = [selector.input_of(c, type_sets) for c in candidates]
        probabilities = selector.probabilities(cache.get(selector, inputs))
        kept_lists, position = [], 0
        for entities in predictions:
            kept = []
            for e in entities:
                c, p = candidates[position], probabilities[position]
                position += 1
                if selector.keeps(c, p):
                    kept.append(e)
            kept_lists.append(kept)
        without, with_selector = score(predictions, gold), score(kept_lists, gold)
        labels = [c["label"] for c in candidates]
        oracle = best_threshold(probabilities, labels, sum(len(g) for g in gold))
        per_corpus[corpus] = {
            "units": len(records),
            "without": prf_per_type(without),
            "with": prf_per_type(with_selector),
            "false_positives": {
                "without": without["n_pred"] - without["tp"],
                "with": with_selector["n_pred"] - with_selector["tp"],
            },  # fmt: skip
            "oracle_threshold": {k: round(v, 4) for k, v in oracle.items()},
            "predicted_entities": classifier_figures(
                selector, candidates, type_sets, probabilities
            ),  # fmt: skip
        }
        pooled["without"][0].extend(predictions)
        pooled["without"][1].extend(gold)
        pooled["with"][0].extend(kept_lists)
        pooled["with"][1].extend(gold)
        print(corpus, per_corpus[corpus]["without"], "->", per_corpus[corpus]["with"])

    dev = {}
    for corpus in corpora:
        records = load_records(corpus, "dev", args.data_dir)
        records = random.Random(1).sample(records, min(args.dev_sentences, len(records)))
        candidates = build_candidates(records, type_sets, SampleConfig(seed=1))
        dev[corpus] = classifier_figures(selector, candidates, type_sets)
    without = score(*pooled["without"])
    with_selector = score(*pooled["with"])
    save_result(
        f"selector_ablation_{args.name}",
        {
            "model": args.model,
            "selector": folder,
            "selector_config": {k: v for k, v in vars(selector.config).items()},
            "predictions": args.predictions,
            "data": {c: split_sizes(c, per_corpus[c]["units"], args.data_dir) for c in corpora},
            "what": "strict micro P/R/F1 pooled over the corpora, with the selector; "
            "'without' = the same generated entities unfiltered",
            **prf(with_selector),
            "without": prf(without),
            "corpora": per_corpus,
            "dev_candidates": dev,
            # measured when the logits were computed (this run, or the run that cached them)
            "ms_per_entity": round(1000 * cache.seconds / max(1, cache.computed), 1),
        },
    )


if __name__ == "__main__":
    main()
