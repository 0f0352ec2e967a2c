"""Tagging time by torch thread count, on an idle machine and beside a busy process.

On a small CPU, a second process computing at the same time (another tagger, a training
run) and torch's default thread count (one per core) oversubscribe the cores: both processes
slow down far more than by sharing. This script tags the same sentences with the bundled (or
given) model with ``num_threads`` = 1 and = the core count, first on an idle machine, then
while a second process runs matrix multiplications on every core, and saves the seconds per
call as ``tag_speed_threads_<name>.json``.

    python benchmarks/tag_threads.py hf_bioner/default_model --name gemma-joint-inline --sentences 5 --repeats 3 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

from common import eval_units, save_result

from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline


def busy(threads: int, stop) -> None:
    """A competing process: matrix multiplications on ``threads`` threads until stopped."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(768, 768)
    while not stop.is_set():
        a = torch.tanh(a @ a)


def seconds_per_call(tagger, texts: list[str], threads: int, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tagger(texts, corpus="ncbi_disease", num_threads=threads)
        times.append(round(time.perf_counter() - started, 2))
    return times


def strict_scores(tagger, records: list[dict]) -> dict:
    """Micro P/R/F1 of the tagged sentences (the same for every thread count)."""
    from hf_bioner.scoring import score

    found = tagger([r["text"] for r in records], corpus="ncbi_disease")
    predictions = [[{"start": e["start"], "end": e["end"], "type": e["entity_group"]}
                    for e in entities] for entities in found]  # fmt: skip
    s = score(predictions, [r["entities"] for r in records])
    return {"precision": s["precision"], "recall": s["recall"], "f1": s["f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result: tag_speed_threads_<name>.json")
    parser.add_argument("--sentences", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    model, tokenizer, config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    records, sizes = eval_units("ncbi_disease", args.data_dir, args.sentences)
    texts = [r["text"] for r in records]
    scores = strict_scores(tagger, records)  # also warms up
    thread_counts = sorted({1, cores})
    results = {}
    context = multiprocessing.get_context("spawn")
    for load in ("idle", "busy_process"):
        stop, competitor = context.Event(), None
        if load == "busy_process":
            competitor = context.Process(target=busy, args=(cores, stop))
            competitor.start()
            time.sleep(3)
        try:
            for threads in thread_counts:
                times = seconds_per_call(tagger, texts, threads, args.repeats)
                results[f"{load}_{threads}_threads"] = {
                    "seconds": times,
                    "median_seconds": statistics.median(times),
                }
                print(load, threads, times, flush=True)
        finally:
            stop.set()
            if competitor is not None:
                competitor.join()
    save_result(
        f"tag_speed_threads_{args.name}",
        {
            "what": "seconds per pipeline call by torch thread count, idle vs beside a "
            "process computing on every core (corpus=ncbi_disease, with the selector)",
            "model": args.model,
            "base_model": config["base_model"],
            "data": {**sizes, "corpus": "ncbi_disease", "sentences_per_call": len(texts)},
            **scores,
            "repeats": args.repeats,
            "competitor": f"torch matmul loop on {cores} threads",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
