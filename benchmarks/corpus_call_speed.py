"""One call over a whole evaluation set: how often the decoder's batch runs empty costs time.

A refilling decoder (``token-tables``, ``drafted-tables``) keeps its batch full by letting
waiting rows join as others finish, but it is handed ``REFILL_BATCHES`` batches' worth of rows
at a time (:mod:`hf_bioner.decoding.generation`; the pipeline's own batch is as large): at the
end of each such group the last, longest rows finish with few beside them. This script tags
every sentence of a corpus's evaluation split (or a seeded sample) in one pipeline call, as a
user tagging a corpus does, with each ``--refill-batches`` value in turn (``--repeats`` times,
the order reversed every other time, so that drift of the machine falls on all), and reports
seconds (the fastest repeat), sentences/s, the time ratios, whether every setting wrote the
same entities, and strict P/R/F1 (generator alone, the corpus's own type set). Run on one core:

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/corpus_call_speed.py --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import time

from common import add_model_argument, as_predictions, eval_units, save_result

import hf_bioner.decoding.generation as generation
from hf_bioner.device import tag_batch_size
from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.scoring import score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_argument(parser)
    parser.add_argument("--name", default="cpu-1core", help="result: corpus_call_speed_<name>.json")
    parser.add_argument("--data-dir")
    parser.add_argument("--corpus", default="ncbi_disease")
    parser.add_argument("--limit", type=int, help="a seeded sample of this many sentences")
    parser.add_argument("--refill-batches", default="8,32",
                        help="comma-separated REFILL_BATCHES values to compare")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--step-dtype", default="auto",
                        help="the one-token steps' dtype: auto (as the pipeline: bf16 where "
                        "bf16 is fast) or model (its own, fp32: the answers of one row do not "
                        "depend on the rows batched beside it)")  # fmt: skip
    args = parser.parse_args()

    import torch

    model, tokenizer, _config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    units, sizes = eval_units(args.corpus, args.data_dir, args.limit)
    texts, gold = [u["text"] for u in units], [u["entities"] for u in units]
    rows = tag_batch_size(tagger.device)
    tagger(texts[:4], corpus=args.corpus, use_selector=False)  # the tokenizer's tables, untimed
    refills = [int(n) for n in args.refill_batches.split(",")]
    seconds: dict[int, list[float]] = {refill: [] for refill in refills}
    predictions: dict[str, list] = {}
    for repeat in range(args.repeats):
        for refill in refills if repeat % 2 == 0 else refills[::-1]:
            generation.REFILL_BATCHES = refill
            started = time.perf_counter()
            found = tagger(texts, corpus=args.corpus, use_selector=False,
                           batch_size=refill * rows, decode_batch_size=rows,
                           step_dtype=args.step_dtype)  # fmt: skip
            seconds[refill].append(round(time.perf_counter() - started, 2))
            predictions[f"refill-{refill}-batches"] = [as_predictions(e) for e in found]
            print(f"refill {refill} repeat {repeat}: {seconds[refill][-1]} s", flush=True)
    settings = {}
    for refill in refills:
        name = f"refill-{refill}-batches"
        scored = score(predictions[name], gold)
        best = min(seconds[refill])
        settings[name] = {
            "refill_batches": refill,
            "prompts_per_group": refill * rows,
            "seconds": best,
            "seconds_each_repeat": seconds[refill],
            "sentences_per_second": round(len(texts) / best, 2),
            **{key: scored[key] for key in ("precision", "recall", "f1")},
        }
    names = list(settings)
    last = settings[names[-1]]
    save_result(
        f"corpus_call_speed_{args.name}",
        {
            "model": args.model,
            "torch_threads": torch.get_num_threads(),
            "decode_batch_size": rows,
            "step_dtype": args.step_dtype,
            "data": {args.corpus: sizes},
            "precision": last["precision"],
            "recall": last["recall"],
            "f1": last["f1"],
            "settings": settings,
            "seconds_over_last": {
                name: round(settings[name]["seconds"] / last["seconds"], 3) for name in names
            },
            "identical_entities": all(predictions[n] == predictions[names[0]] for n in names),
        },
    )


if __name__ == "__main__":
    main()
