"""Tagging time with the decoders' in-place cache against transformers' DynamicCache.

transformers' ``DynamicCache`` appends each step's keys and values with ``torch.cat``, copying
every layer's whole cache at every step; the decoders' cache
(:mod:`hf_bioner.decoding.kv_cache`) writes them into spare slots instead. This script tags
the same texts (a seeded sample of NCBI-disease test sentences and of CMeEE dev records, each
with its own type set, cut into pieces as the pipeline cuts a user's text) with the bundled
model, or another, in both settings,
alternating them ``--repeats`` times so that drift of the machine falls on both, and reports
seconds (the fastest repeat), sentences/s, the time ratio, whether both wrote the same
entities, and strict P/R/F1. Run on one core:

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/cache_speed.py --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import time

from common import add_model_argument, as_predictions, eval_units, save_result

from hf_bioner.decoding.allowed_tokens import AllowedTokenDecoder
from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.scoring import score

SETTINGS = {"dynamic-cache": False, "in-place-cache": True}  # AllowedTokenDecoder.in_place_cache


def tag(tagger, units: list[dict], batch_size: int) -> list[list]:
    """Each unit's entities (generator alone), its corpus's type set prompted, its text cut
    into pieces as the pipeline cuts a user's text."""
    found: list = [None] * len(units)
    for corpus in dict.fromkeys(unit["corpus"] for unit in units):
        ids = [i for i, unit in enumerate(units) if unit["corpus"] == corpus]
        entities = tagger([units[i]["text"] for i in ids], corpus=corpus, use_selector=False,
                          decode_batch_size=batch_size)  # fmt: skip
        for i, unit_entities in zip(ids, entities, strict=True):
            found[i] = as_predictions(unit_entities)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_argument(parser)
    parser.add_argument("--name", default="cpu-1core", help="result: cache_speed_<name>.json")
    parser.add_argument("--data-dir")
    parser.add_argument("--english", type=int, default=200, help="NCBI-disease test sentences")
    parser.add_argument("--chinese", type=int, default=50, help="CMeEE dev records")
    parser.add_argument("--batch-size", type=int, default=64, help="rows decoded at once")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    model, tokenizer, _config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    units, sizes = [], {}
    for corpus, count in (("ncbi_disease", args.english), ("cmeee", args.chinese)):
        found, sizes[corpus] = eval_units(corpus, args.data_dir, count)
        units += found
    gold = [unit["entities"] for unit in units]
    tag(tagger, units[:4], args.batch_size)  # the tokenizer's tables built, untimed
    seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    predictions: dict[str, list] = {}
    for repeat in range(args.repeats):
        for name, in_place in SETTINGS.items():
            AllowedTokenDecoder.in_place_cache = in_place
            started = time.perf_counter()
            predictions[name] = tag(tagger, units, args.batch_size)
            seconds[name].append(round(time.perf_counter() - started, 2))
            print(name, f"repeat {repeat}", seconds[name][-1], "s", flush=True)
    AllowedTokenDecoder.in_place_cache = True
    settings = {}
    for name in SETTINGS:
        scored = score(predictions[name], gold)
        best = min(seconds[name])
        settings[name] = {
            "seconds": best,
            "seconds_each_repeat": seconds[name],
            "sentences_per_second": round(len(units) / best, 2),
            **{key: scored[key] for key in ("precision", "recall", "f1")},
        }
    in_place = settings["in-place-cache"]
    save_result(
        f"cache_speed_{args.name}",
        {
            "model": args.model,
            "torch_threads": torch.get_num_threads(),
            "batch_size": args.batch_size,
            "data": {"units": len(units), **sizes},
            "precision": in_place["precision"],
            "recall": in_place["recall"],
            "f1": in_place["f1"],
            "settings": settings,
            "dynamic_over_in_place_seconds": round(
                settings["dynamic-cache"]["seconds"] / in_place["seconds"], 3
            ),
            "identical_entities": predictions["dynamic-cache"] == predictions["in-place-cache"],
        },
    )


if __name__ == "__main__":
    main()
