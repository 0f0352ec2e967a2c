"""One answer per span: the default call against per-corpus calls, on the same sentences.

A model trained on several corpora of one language knows overlapping and conflicting type
sets (NCBI-disease and BC5CDR both annotate ``Disease``; JNLPBA's ``protein`` competes with
BC5CDR's ``Chemical`` for names such as "tamoxifen"). The default call prompts each distinct
type once (:func:`hf_bioner.pipeline.covering_type_sets`) and keeps one type per span
(:func:`hf_bioner.pipeline.one_type_per_span`). For each corpus this script tags the same
sentences three ways (the first two with the selector, as users get it):

``per_corpus``
    ``tagger(texts, corpus=name)``: only that corpus's type set, the per-corpus view;
``default``
    ``tagger(texts)``: every type of the language, one type per span;
``generator_all_types_per_span``
    ``tagger(texts, one_type_per_span=False, use_selector=False)``: the same prompts, every
    type the generator found kept (what the selector had to arbitrate before one type per
    span; without the selector, whose scoring is the slow part on a CPU).

Each is scored on the types the corpus annotates (other types are dropped before scoring:
the corpus has no gold for them), and spans with more than one type are counted.

    python benchmarks/type_conflicts.py hf_bioner/default_model --name gemma-joint-inline --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from common import eval_units, save_result

from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.schema import type_set
from hf_bioner.scoring import score

CALLS = {
    "per_corpus": lambda corpus: {"corpus": corpus},
    "default": lambda corpus: {},
    "generator_all_types_per_span": lambda corpus: {
        "one_type_per_span": False,
        "use_selector": False,
    },
}


def multi_type_spans(found: list[list[dict]]) -> int:
    """Spans (start, end) given more than one type, over all texts."""
    total = 0
    for entities in found:
        types_per_span = Counter((e["start"], e["end"]) for e in entities)
        total += sum(1 for n in types_per_span.values() if n > 1)
    return total


def scored(found: list[list[dict]], gold: list[list[dict]], labels: set[str]) -> dict:
    predictions = [
        [{"start": e["start"], "end": e["end"], "type": e["entity_group"]}
         for e in entities if e["entity_group"] in labels]
        for entities in found
    ]  # fmt: skip
    s = score(predictions, gold)
    return {k: s[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result name: type_conflicts_<name>.json")
    parser.add_argument("--corpora", default="bc5cdr,jnlpba")
    parser.add_argument("--limit", type=int, default=200, help="sentences per corpus (0 = all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    from hf_bioner.models import load_trained

    model, tokenizer, config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    results, sizes = {}, {}
    for corpus in args.corpora.split(","):
        records, sizes[corpus] = eval_units(corpus, args.data_dir, args.limit or None)
        texts, gold = [r["text"] for r in records], [r["entities"] for r in records]
        labels = set(type_set(corpus).labels)
        results[corpus] = {}
        for call, options in CALLS.items():
            started = time.perf_counter()
            found = tagger(texts, batch_size=args.batch_size, **options(corpus))
            row = {
                **scored(found, gold, labels),
                "seconds": round(time.perf_counter() - started, 1),
                "spans_with_several_types": multi_type_spans(found),
                "entities": sum(len(entities) for entities in found),
            }
            results[corpus][call] = row
            print(corpus, call, row, flush=True)
        per, default = results[corpus]["per_corpus"], results[corpus]["default"]
        results[corpus]["default_minus_per_corpus_f1"] = round(default["f1"] - per["f1"], 4)
    pooled = {call: {"tp": 0, "n_pred": 0, "n_gold": 0} for call in CALLS}
    for corpus_results in results.values():
        for call in CALLS:
            for key in ("tp", "n_pred", "n_gold"):
                pooled[call][key] += corpus_results[call][key]
    default = pooled["default"]
    precision = default["tp"] / default["n_pred"] if default["n_pred"] else 0.0
    recall = default["tp"] / default["n_gold"] if default["n_gold"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    save_result(
        f"type_conflicts_{args.name}",
        {
            "what": "default call (one type per span) vs per-corpus calls, same sentences, "
            "scored on each corpus's own types; precision/recall/f1 = the default call pooled",
            "model": args.model,
            "base_model": config["base_model"],
            "rule": "same span, different types: the selector's more probable type wins",
            "data": sizes,
            "sample": any(s["units"] < s["units_in_split"] for s in sizes.values()),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
