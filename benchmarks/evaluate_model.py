"""Strict P/R/F1 of a trained hf-bioner model on the evaluation split of its corpora.

Test split for NCBI-disease, BC5CDR, JNLPBA and GENIA, dev for CMeEE (its test is unlabelled).
Tags by batched greedy generation (``hf_bioner.inference``), constrained to valid answers and
free, side by side on the same units; decodes, scores, and saves
``benchmarks/results/eval_<name>.json`` with pooled and per-corpus micro P/R/F1, per-type
scores, decode problems and sentences/s.

    python benchmarks/evaluate_model.py runs/ncbi-smollm2 --name ncbi-smollm2 --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse

from common import eval_units, save_result

from hf_bioner.formats import write_jsonl
from hf_bioner.inference import predict_records
from hf_bioner.models import load_trained
from hf_bioner.scoring import score


def evaluate_corpus(
    model, tokenizer, config, records, batch_size, constrained
) -> tuple[dict, list]:
    """Scores, decode problems and speed on one corpus; also the predictions."""
    out = predict_records(model, tokenizer, records, config["scheme"], batch_size,
                          progress=True, constrained=constrained,
                          prompt_style=config.get("prompt_style", "full"))  # fmt: skip
    scores = score(out["predictions"], [r["entities"] for r in records])
    result = {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "per_type": scores["per_type"],
        "errors": scores["errors"],
        "units_with_decode_problems": sum(1 for p in out["problems"] if p),
        "units_cut": sum(out["cut"]),  # answer budget spent: entities after the cut missing
        "sentences_per_second": round(len(records) / out["seconds"], 2),
        "generated_tokens_per_sentence": round(
            sum(len(tokenizer(o, add_special_tokens=False).input_ids) for o in out["outputs"])
            / max(len(records), 1),
            1,
        ),
        "examples": [
            {"text": r["text"], "output": o}
            for r, o in list(zip(records, out["outputs"], strict=True))[:3]
        ],
    }
    return result, out["predictions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result name: eval_<name>.json")
    parser.add_argument("--corpora", help="comma-separated (default: the model's own)")
    parser.add_argument(
        "--limit", type=int, help="evaluate a seeded sample of this many units per corpus"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--decoding",
        choices=["constrained", "free", "both"],
        default="both",
        help="constrained needs an inline model; both: side by side in one run",
    )
    parser.add_argument("--data-dir")
    parser.add_argument(
        "--save-predictions",
        metavar="JSONL",
        help="also write every unit's gold and predicted entities (first decoding) here, "
        "for benchmarks/selector_ablation.py to rescore without generating again",
    )
    args = parser.parse_args()
    model, tokenizer, config = load_trained(args.model, merge=True)
    corpora = args.corpora.split(",") if args.corpora else config["corpora"]
    decodings = ["constrained", "free"] if args.decoding == "both" else [args.decoding]
    if config["scheme"] != "inline":
        decodings = ["free"]
    data, sizes = {}, {}
    for name in corpora:
        data[name], sizes[name] = eval_units(name, args.data_dir, args.limit)
    results, saved = {}, []
    for decoding in decodings:
        per_corpus, all_preds, all_gold = {}, [], []
        for name, records in data.items():
            result, preds = evaluate_corpus(model, tokenizer, config, records, args.batch_size,
                                            decoding == "constrained")  # fmt: skip
            per_corpus[name] = result
            if decoding == decodings[0]:
                saved += [{**r, "predicted": p} for r, p in zip(records, preds, strict=True)]
            all_preds += preds
            all_gold += [r["entities"] for r in records]
            shown = ("precision", "recall", "f1", "sentences_per_second",
                     "generated_tokens_per_sentence")  # fmt: skip
            print(decoding, name, {k: result[k] for k in shown})
        pooled = score(all_preds, all_gold)
        results[decoding] = {
            "precision": pooled["precision"],
            "recall": pooled["recall"],
            "f1": pooled["f1"],
            "corpora": per_corpus,
        }
    main_decoding = decodings[0]
    if args.save_predictions:
        write_jsonl(saved, args.save_predictions)
    save_result(
        f"eval_{args.name}",
        {
            "model": args.model,
            "base_model": config["base_model"],
            "trained_on": config["corpora"],
            "scheme": config["scheme"],
            "data": sizes,
            "what": "strict micro P/R/F1 pooled over all evaluated units; per corpus inside",
            "main_decoding": main_decoding,
            "precision": results[main_decoding]["precision"],
            "recall": results[main_decoding]["recall"],
            "f1": results[main_decoding]["f1"],
            "decodings": results,
        },
    )


if __name__ == "__main__":
    main()
