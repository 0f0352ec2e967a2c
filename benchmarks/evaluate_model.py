"""Strict P/R/F1 of a trained hf-bioner model on the evaluation split of its corpora.

Test split for NCBI-disease, BC5CDR, JNLPBA and GENIA, dev for CMeEE (its test is unlabelled).
Tags by plain batched greedy generation (``hf_bioner.inference``), decodes, scores, and saves
``benchmarks/results/eval_<name>.json`` with per-corpus micro P/R/F1, per-type scores, decode
problems and sentences/s.

    python benchmarks/evaluate_model.py runs/ncbi-smollm2 --name ncbi-smollm2 --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import random

from common import save_result

from hf_bioner.corpora import load_records
from hf_bioner.inference import predict_records
from hf_bioner.models import load_trained
from hf_bioner.scoring import score

EVAL_SPLIT = {"cmeee": "dev", "cmeee_v2": "dev"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result name: eval_<name>.json")
    parser.add_argument("--corpora", help="comma-separated (default: the model's own)")
    parser.add_argument(
        "--limit", type=int, help="evaluate a seeded sample of this many units per corpus"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    model, tokenizer, config = load_trained(args.model)
    corpora = args.corpora.split(",") if args.corpora else config["corpora"]
    results = {}
    for name in corpora:
        split = EVAL_SPLIT.get(name, "test")
        records = load_records(name, split, args.data_dir)
        total = len(records)
        if args.limit and args.limit < total:
            records = random.Random(0).sample(records, args.limit)
        out = predict_records(
            model, tokenizer, records, config["scheme"], args.batch_size, progress=True
        )
        scores = score(out["predictions"], [r["entities"] for r in records])
        results[name] = {
            "split": split,
            "units": len(records),
            "units_in_split": total,
            "precision": scores["precision"],
            "recall": scores["recall"],
            "f1": scores["f1"],
            "per_type": scores["per_type"],
            "errors": scores["errors"],
            "units_with_decode_problems": sum(1 for p in out["problems"] if p),
            "sentences_per_second": round(len(records) / out["seconds"], 2),
            "examples": [
                {"text": r["text"], "output": o}
                for r, o in list(zip(records, out["outputs"], strict=True))[:3]
            ],
        }
        print(
            name,
            {k: results[name][k] for k in ("precision", "recall", "f1", "sentences_per_second")},
        )
    save_result(
        f"eval_{args.name}",
        {
            "model": args.model,
            "base_model": config["base_model"],
            "scheme": config["scheme"],
            "decoding": "greedy, unconstrained (hf_bioner.inference)",
            "corpora": results,
        },
    )


if __name__ == "__main__":
    main()
