"""One answer per span: rules for same-span type conflicts against the per-corpus view.

A model trained on several corpora of one language knows overlapping and conflicting type
sets (NCBI-disease and BC5CDR both annotate ``Disease``; JNLPBA's ``protein`` competes with
BC5CDR's ``Chemical`` for names such as "tamoxifen"). The default call prompts each distinct
type once (:func:`hf_bioner.schema.covering_type_sets`) and keeps one type per span
(:func:`hf_bioner.arbiter.conflicts.one_type_per_span`). This script measures the rules for the
second step on the same candidates:

1. one call per corpus, ``tagger(texts, one_type_per_span=False, threshold=0.0)``: every
   type set of the language prompted (the default call's prompts), every entity kept with
   its selector probability;
2. from those candidates, with the pipeline's own functions: the *per-corpus view* (only the
   corpus's own type set, the selector's thresholds: what ``corpus=name`` returns, since
   its prompts and scores are the same), *all types* (every type kept: the default call
   before one type per span), and each rule of ``CONFLICT_RULES``, resolving conflicts
   before or after the selector's thresholds.

Each is scored on the types the corpus annotates (other types are dropped first: the corpus
has no gold for them); spans with more than one type are counted.

The ``arbiter`` rule is measured when the model has a type arbiter (``hf-bioner
train-arbiter``). Tagging is the slow part (about 20 minutes per 300 sentences on one core):
``--save-candidates DIR`` keeps the candidates and ``--candidates DIR`` scores them again,
e.g. after training a new arbiter.

    python benchmarks/type_conflicts.py hf_bioner/default_model --name gemma-joint-inline --limit 300 --data-dir ../shared/corpora --save-candidates runs/candidates
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from common import eval_units, save_result

from hf_bioner.arbiter import CONFLICT_RULES, one_type_per_span
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.schema import type_set
from hf_bioner.scoring import score

ORDERS = ("resolve_then_threshold", "threshold_then_resolve")


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
    return {
        **{k: round(s[k], 4) for k in ("precision", "recall", "f1")},
        **{k: s[k] for k in ("tp", "n_pred", "n_gold")},
        "spans_with_several_types": multi_type_spans(found),
    }


def conflicts_by_types_and_gold(candidates, records, thresholds) -> dict[str, int]:
    """Kept same-span conflicts, counted by their types and the gold type of the span."""
    counts = Counter()
    for entities, record in zip(candidates, records, strict=True):
        gold = {(e["start"], e["end"]): e["type"] for e in record["entities"]}
        spans: dict[tuple[int, int], list[str]] = {}
        for e in entities:
            if e["score"] >= thresholds[e["entity_group"]]:
                spans.setdefault((e["start"], e["end"]), []).append(e["entity_group"])
        for span, types in spans.items():
            if len(types) > 1:
                counts[f"{' vs '.join(sorted(types))} (gold: {gold.get(span)})"] += 1
    return dict(counts.most_common())


def saved_candidates(folder: str, corpus: str, records: list[dict]) -> list[list[dict]]:
    """The candidates a ``--save-candidates`` run kept for ``corpus`` (same sample)."""
    candidates = json.loads((Path(folder) / f"{corpus}.json").read_text(encoding="utf-8"))
    if len(candidates) != len(records):
        raise SystemExit(f"{folder}/{corpus}.json has {len(candidates)} texts, the sample "
                         f"{len(records)}: not the same --limit")  # fmt: skip
    return candidates


def add_sentence_offsets(tagger, text: str, entities: list[dict]) -> None:
    """Which of the pipeline's sentences of ``text`` each entity is in (for sentence-vote)."""
    starts = sorted({unit["offset"] for unit in tagger.units(text)})
    for entity in entities:
        entity["sentence_offset"] = max(s for s in starts if s <= entity["start"])


def resolved(candidates: list[dict], text: str, ranks: dict, thresholds: dict, rule: str,
             order: str, arbiter=None):  # fmt: skip
    """One text's entities after ``rule``, applied before or after the thresholds."""

    def kept(entity: dict) -> bool:
        return entity["score"] >= thresholds[entity["entity_group"]]

    pairs = [(e, {"rank": ranks[e["entity_group"]], "offset": e["sentence_offset"],
                  "sentence": text[e["sentence_offset"] :]}) for e in candidates]  # fmt: skip
    if order == "threshold_then_resolve":
        pairs = [pair for pair in pairs if kept(pair[0])]
    winners = [e for e, _unit in one_type_per_span(pairs, rule, thresholds, arbiter)]
    return [e for e in winners if kept(e)]


def views(candidates: list[list[dict]], texts: list[str], ranks, thresholds, own: set[str],
          arbiter) -> dict:  # fmt: skip
    """Every way of reading the same candidates, by name (``arbiter`` rule: if it has one)."""
    out = {
        "per_corpus": [[e for e in c if e["entity_group"] in own
                        and e["score"] >= thresholds[e["entity_group"]]] for c in candidates],
        "all_types": [[e for e in c if e["score"] >= thresholds[e["entity_group"]]]
                      for c in candidates],
    }  # fmt: skip
    for rule in CONFLICT_RULES:
        if rule == "arbiter" and arbiter is None:
            continue
        for order in ORDERS:
            out[f"{rule}/{order}"] = [
                resolved(c, text, ranks, thresholds, rule, order, arbiter)
                for c, text in zip(candidates, texts, strict=True)
            ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder with a selector")
    parser.add_argument("--name", required=True, help="result name: type_conflicts_<name>.json")
    parser.add_argument("--corpora", default="bc5cdr,jnlpba")
    parser.add_argument("--limit", type=int, default=100, help="sentences per corpus (0 = all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir")
    parser.add_argument("--save-candidates", help="a folder for the scored candidates (JSON)")
    parser.add_argument("--candidates", help="a --save-candidates folder of an earlier run of "
                        "the same model and sample: score its candidates, tag nothing")  # fmt: skip
    args = parser.parse_args()

    from hf_bioner.models import load_trained

    model, tokenizer, config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    results, sizes = {}, {}
    for corpus in args.corpora.split(","):
        records, sizes[corpus] = eval_units(corpus, args.data_dir, args.limit or None)
        language = type_set(corpus).language
        sets = tagger._task_type_sets(language, None, None)
        ranks = {label: rank for rank, s in enumerate(sets) for label in s.labels}
        thresholds = {label: tagger.selector.config.threshold_of(label, tagger.corpus_of[s])
                      for s in sets for label in s.labels}  # fmt: skip
        if args.candidates:
            candidates, seconds = saved_candidates(args.candidates, corpus, records), None
        else:
            started = time.perf_counter()
            candidates = tagger([r["text"] for r in records], batch_size=args.batch_size,
                                one_type_per_span=False, threshold=0.0)  # fmt: skip
            seconds = round(time.perf_counter() - started, 1)
            for record, entities in zip(records, candidates, strict=True):
                add_sentence_offsets(tagger, record["text"], entities)
        if args.save_candidates:
            Path(args.save_candidates).mkdir(parents=True, exist_ok=True)
            out = Path(args.save_candidates) / f"{corpus}.json"
            out.write_text(json.dumps(candidates, ensure_ascii=False))
        own, gold = set(type_set(corpus).labels), [r["entities"] for r in records]
        results[corpus] = {
            "type_sets_prompted": [s.labels for s in sets],
            "seconds_for_the_call": seconds,
            "candidates": sum(len(c) for c in candidates),
            "conflicts_by_types_and_gold": conflicts_by_types_and_gold(
                candidates, records, thresholds
            ),
        }
        texts = [r["text"] for r in records]
        for name, found in views(candidates, texts, ranks, thresholds, own,
                                 tagger.arbiter).items():  # fmt: skip
            results[corpus][name] = scored(found, gold, own)
            print(corpus, name, results[corpus][name], flush=True)
    # what the pipeline does
    chosen = f"{'max-margin' if tagger.arbiter is None else 'arbiter'}/threshold_then_resolve"
    pooled = {k: sum(results[c][chosen][k] for c in results) for k in ("tp", "n_pred", "n_gold")}
    precision = pooled["tp"] / pooled["n_pred"] if pooled["n_pred"] else 0.0
    recall = pooled["tp"] / pooled["n_gold"] if pooled["n_gold"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    save_result(
        f"type_conflicts_{args.name}",
        {
            "what": "same-span type conflict rules vs the per-corpus view, on the same "
            "candidates (one call per corpus, every type set, selector scores for all), scored "
            f"on each corpus's own types; precision/recall/f1 = {chosen} pooled",
            "model": args.model,
            "base_model": config["base_model"],
            "data": sizes,
            "sample": any(s["units"] < s["units_in_split"] for s in sizes.values()),
            "candidates_from": args.candidates,
            "arbiter": None if tagger.arbiter is None else asdict(tagger.arbiter.config),
            "pipeline_rule": chosen,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
