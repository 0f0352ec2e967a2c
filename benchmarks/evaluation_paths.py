"""The evaluation path and the pipeline give the same entities: a check on real sentences.

Published per-corpus figures are measured through the pipeline users call
(``common.tag_records``: ``pipeline("bio-ner")`` with ``corpus=``); training's dev curve and
the selector's hard negatives use :func:`hf_bioner.inference.predict_records`, which builds
the same prompts without a pipeline. This script tags one seeded sample of each corpus's
evaluation split both ways, in the same decoding settings, and saves the number of units
whose predictions differ (0 expected) and the strict P/R/F1 of each path to
``benchmarks/results/evaluation_paths_<name>.json``.

    python benchmarks/evaluation_paths.py hf_bioner/default_model --name bundled \\
        --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import time

from common import as_predictions, entity_keys, eval_units, save_result, tag_records

from hf_bioner.decoding import step_dtype
from hf_bioner.inference import predict_records
from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.scoring import score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result: evaluation_paths_<name>.json")
    parser.add_argument("--corpora", default="ncbi_disease,bc5cdr,jnlpba,cmeee")
    parser.add_argument("--limit", type=int, default=200, help="seeded units per corpus")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    model, tokenizer, config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    steps = prompts = step_dtype(model, "auto")  # prompts read as the pipeline reads them
    results, sizes = {}, {}
    for corpus in args.corpora.split(","):
        records, sizes[corpus] = eval_units(corpus, args.data_dir, args.limit)
        gold = [r["entities"] for r in records]
        started = time.perf_counter()
        direct = predict_records(model, tokenizer, records, config["scheme"], args.batch_size,
                                 constrained=config["scheme"] == "inline",
                                 prompt_style=config.get("prompt_style", "full"),
                                 step_dtype=steps, prefill_dtype=prompts)["predictions"]  # fmt: skip
        direct_s = time.perf_counter() - started
        started = time.perf_counter()
        found = tag_records(tagger, records, decode_batch_size=args.batch_size)
        piped = [as_predictions(r["entities"]) for r in found]
        piped_s = time.perf_counter() - started
        differ = [r["id"] for r, a, b in zip(records, direct, piped, strict=True)
                  if entity_keys(a) != entity_keys(b)]  # fmt: skip
        results[corpus] = {
            "units_differing": len(differ),
            "differing_ids": differ[:20],
            "predict_records": {**{k: score(direct, gold)[k] for k in ("precision", "recall", "f1")},
                                "seconds": round(direct_s, 1)},
            "pipeline": {**{k: score(piped, gold)[k] for k in ("precision", "recall", "f1")},
                         "seconds": round(piped_s, 1)},
        }  # fmt: skip
        print(corpus, results[corpus], flush=True)
    first = next(iter(results.values()))["pipeline"]
    save_result(
        f"evaluation_paths_{args.name}",
        {
            "model": args.model,
            "base_model": config["base_model"],
            "step_dtype": str(steps or model.dtype).removeprefix("torch."),
            "batch_size": args.batch_size,
            "data": sizes,
            "what": "predictions of predict_records and of the pipeline (tag_records) on the "
            "same seeded sample; units_differing should be 0; P/R/F1 of the first corpus "
            "(pipeline) at top level",
            **{k: first[k] for k in ("precision", "recall", "f1")},
            "corpora": results,
        },
    )


if __name__ == "__main__":
    main()
