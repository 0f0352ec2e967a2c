"""The default call scored on whole evaluation sets: what a user who passes no option gets.

``evaluate_model.py`` scores a model as its corpora were built: one sentence at a time, with
the corpus's own type set (``corpus=``). A user calls ``pipeline("bio-ner")(documents)``
instead: whole documents, split into sentences by the pipeline, every type set of the
text's language prompted (for English both BC5CDR's and JNLPBA's), types arbitrated and the
selector filtering, then each tagged name copied to its untagged occurrences in the
document's other sentences (:mod:`hf_bioner.propagation`). This script makes that call on every document of each corpus's
evaluation split (NCBI-disease, BC5CDR and JNLPBA test, CMeEE dev) and scores, strictly, the
entities of the corpus's own types (the call also finds chemicals in NCBI-disease abstracts,
which that corpus does not annotate). Documents whose answers ran out of tokens are counted
(``documents_cut``, with the characters not fully tagged).

The call is made with ``propagate_mentions=False`` and the names are propagated here, on the
saved entities, as the pipeline's last step would (the same function, on the same sentence
pieces): so one tagging gives the default call's scores and those without propagation
(``without_propagation``), and a file tagged before propagation existed is scored as the call
is made today.

Tagging goes a chunk of documents at a time and each tagged document is appended to
``$HF_BIONER_CACHE/predictions/default-call_<name>-<corpus>.jsonl``; with ``--resume`` a run
cut short continues where it stopped. One result per corpus:
``results/default_call_<name>-<corpus>.json`` (``--limit`` scores a seeded sample instead and
says so in its ``data``).

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/default_call_evaluation.py \\
        --data-dir ../shared/corpora --name bundled --resume
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import as_predictions, eval_units, save_result, saved_rows

CORPORA = ("ncbi_disease", "bc5cdr", "jnlpba", "cmeee")
DEFAULT_CALL = ("pipeline('bio-ner')(documents, return_incomplete=True): sentences split, "
                "every type set of the language, arbitration, selector")  # fmt: skip


def documents(corpus: str, data_dir: str | None, limit: int | None,
              split: str | None = None) -> tuple[list[dict], dict]:  # fmt: skip
    """The documents of a corpus's evaluation split, or of ``split`` (a seeded sample of
    ``limit``), and their sizes."""
    docs, units = eval_units(corpus, data_dir, limit, unit="document", split=split)
    sizes = {"split": units["split"], "documents_in_split": units["units_in_split"],
             "documents": units["units"]}  # fmt: skip
    if len(docs) < units["units_in_split"]:
        sizes["sample"] = f"a seeded sample of {limit} documents, not the full split"
    sizes["characters"] = sum(len(d["text"]) for d in docs)
    return docs, sizes


def tag_corpus(tagger, docs: list[dict], path: Path, chunk_size: int, resume: bool,
               call: str = DEFAULT_CALL, **options) -> float:  # fmt: skip
    """Tag the documents not yet in ``path`` with the default call (``call`` names it; with
    ``options``, if any), appending each; the seconds this run spent tagging. A run resumed
    on documents tagged by another call stops: one file holds one call's answers."""
    from hf_bioner.formats import write_jsonl

    done = saved_rows(str(path)) if resume else {}
    others = {row["call"] for row in done.values() if row.get("call", call) != call}
    if others:
        raise SystemExit(f"{path}: tagged with another call ({'; '.join(sorted(others))}); "
                         "give this run a --name of its own")  # fmt: skip
    write_jsonl(done.values(), path)  # without a last line a killed run left half written
    todo = [d for d in docs if d["id"] not in done]
    seconds = 0.0
    with open(path, "a", encoding="utf-8") as out:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            started = time.perf_counter()
            found = tagger([d["text"] for d in chunk], return_incomplete=True, **options)
            seconds += time.perf_counter() - started
            for doc, result in zip(chunk, found, strict=True):
                row = {"id": doc["id"], "entities": result["entities"],
                       "incomplete": result["incomplete"], "call": call}  # fmt: skip
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            tagged = start + len(chunk)
            print(f"  {len(done) + tagged}/{len(docs)} documents, {seconds / tagged:.2f} s each",
                  flush=True)  # fmt: skip
    return seconds


def propagated(doc: dict, entities: list[dict], min_chars: int | None = None) -> list[dict]:
    """A document's saved entities as the default call gives them: with each tagged name
    (of at least ``min_chars``; default the pipeline's) copied to its other sentences (the
    pipeline's last step, on its sentence pieces). The pipeline takes its pieces from the
    prompts it made; for the calls this script makes (no ``types=``, ``language=`` or
    ``split_sentences=``) every piece is prompted, so they are these
    (tests/test_default_call_evaluation.py checks the two give the same entities)."""
    from hf_bioner.pipeline import sentence_pieces
    from hf_bioner.propagation import MIN_CHARS, propagate_mentions

    minimum = MIN_CHARS if min_chars is None else min_chars
    return propagate_mentions(doc["text"], entities, sentence_pieces(doc["text"]), minimum)


def strict_scores(docs: list[dict], entities_of, labels: set[str]) -> dict:
    """Strict scores of the entities of ``labels`` that ``entities_of(doc)`` gives."""
    from hf_bioner.scoring import score

    predictions = [[e for e in as_predictions(entities_of(d)) if e["type"] in labels]
                   for d in docs]  # fmt: skip
    return score(predictions, [d["entities"] for d in docs])


def scored(docs: list[dict], rows: dict[str, dict], labels: set[str]) -> dict:
    """Strict scores of the entities of ``labels`` as the default call gives them (names
    propagated) and without propagation (as saved), and the documents cut."""
    scores = strict_scores(docs, lambda d: propagated(d, rows[d["id"]]["entities"]), labels)
    plain = strict_scores(docs, lambda d: rows[d["id"]]["entities"], labels)
    cut = [rows[d["id"]]["incomplete"] for d in docs if rows[d["id"]]["incomplete"]]
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "without_propagation": {k: plain[k] for k in ("precision", "recall", "f1")},
        "documents_cut": len(cut),
        "spans_cut": sum(len(spans) for spans in cut),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained model folder (default: the bundled model)")
    parser.add_argument("--name", required=True, help="results: default_call_<name>-<corpus>.json")
    parser.add_argument("--data-dir")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--limit", type=int, help="a seeded sample of this many documents")
    parser.add_argument("--chunk-size", type=int, default=32, help="documents per call")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--split", help="tag this split instead of each corpus's evaluation "
                        "split (e.g. dev, to choose a setting); the run's name says so")  # fmt: skip
    parser.add_argument("--prompt-corpora",
                        help="instead of the default call's type sets, prompt these corpora's "
                        "(comma-separated; the call's corpus=[...]), e.g. "
                        "ncbi_disease,bc5cdr,jnlpba; give the run a --name of its own")  # fmt: skip
    parser.add_argument("--prefill-dtype",
                        help="read prompts in this dtype instead of the steps' (e.g. model: "
                        "full precision); give the run a --name of its own")  # fmt: skip
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import hf_bioner  # noqa: F401  (registers the bio-ner task)
    from hf_bioner.paths import cache_dir
    from hf_bioner.pipeline import DEFAULT_MODEL
    from hf_bioner.schema import type_set

    model = args.model or str(DEFAULT_MODEL)
    tagger = pipeline("bio-ner", model=model)
    folder = cache_dir() / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    options, call = {"propagate_mentions": False}, DEFAULT_CALL  # propagated when scored
    if args.prompt_corpora:
        options["corpus"] = args.prompt_corpora.split(",")
        call = DEFAULT_CALL.replace("every type set of the language",
                                    f"corpus={options['corpus']}")  # fmt: skip
    if args.prefill_dtype:
        options["prefill_dtype"] = args.prefill_dtype
        call = call.replace("(documents, ", f"(documents, prefill_dtype={args.prefill_dtype!r}, ")
    for corpus in args.corpora.split(","):
        docs, sizes = documents(corpus, args.data_dir, args.limit, args.split)
        run = f"{args.name}-{corpus}" + (f"-{args.split}" if args.split else "")
        run += f"-sample{args.limit}" if "sample" in sizes else ""
        path = folder / f"default-call_{run}.jsonl"
        print(f"{corpus}: {len(docs)} documents -> {path}", flush=True)
        seconds = tag_corpus(tagger, docs, path, args.chunk_size, args.resume, call, **options)
        rows = saved_rows(str(path))
        labels = set(type_set(corpus).labels)
        save_result(
            f"default_call_{run}",
            {
                "model": model,
                "call": call,
                "scored": "names propagated to their other sentences, as the call does by "
                "default (hf_bioner.propagation, applied to the saved entities); "
                "without_propagation: the saved entities",
                "torch_threads": torch.get_num_threads(),
                "data": {corpus: sizes},
                "scored_types": sorted(labels),
                **scored(docs, rows, labels),
                "seconds_this_run": round(seconds, 1),
            },
        )


if __name__ == "__main__":
    main()
