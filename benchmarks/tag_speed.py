"""Tagging speed of a trained model, three ways on the same sentences in one run.

1. ``pipeline``: ``pipeline("bio-ner")`` as users call it (sentence split, constrained
   generation scoring only the allowed tokens, decoding, the selector when the model has
   one; one-token steps in bf16 where that is fast); ``pipeline_no_selector``: the same
   without the selector; ``pipeline_model_dtype_steps``: every step in the model's own dtype
   (exactly the logits processor's answers); then, also without the
   selector, the other constrained decoders: ``pipeline_logits_processor`` (``model.generate``
   with the constraint as a logits processor, full vocabulary every step) and, with
   ``--copy-drafts``, ``pipeline_copy_drafts`` (speculative, one sentence at a time);
2. ``naive``: plain greedy ``model.generate`` on the same prompts, one batch of the given
   size at a time, unconstrained, then decoding;
3. ``limit``: one teacher-forced forward pass over prompt + gold answer per batch: what
   reading the answer costs, the floor for any decoder that must emit it.

Reports sentences/s and answer tokens/s for each, their ratios to naive and to the limit,
and strict F1 of every decoder, saved as ``tag_speed_<name>.json``.

    python benchmarks/tag_speed.py runs/model --name gemma-joint --corpus ncbi_disease --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import random
import time

from common import as_predictions, save_result, teacher_forced_seconds

from hf_bioner.corpora import load_records
from hf_bioner.inference import predict_records
from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.prompts import prompt_completion
from hf_bioner.schema import type_set
from hf_bioner.scoring import score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result name: tag_speed_<name>.json")
    parser.add_argument("--corpus", default="ncbi_disease")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir")
    parser.add_argument("--dtype", help="load the model in this torch dtype (e.g. bfloat16)")
    parser.add_argument("--copy-drafts", action="store_true",
                        help="also time copy-aware speculative decoding (slow on a CPU)")  # fmt: skip
    args = parser.parse_args()

    model, tokenizer, config = load_trained(args.model, merge=True, dtype=args.dtype)
    scheme, types = config["scheme"], type_set(args.corpus)
    records = load_records(args.corpus, args.split, args.data_dir)
    records = random.Random(0).sample(records, min(args.limit, len(records)))
    gold = [r["entities"] for r in records]
    rows = [prompt_completion(r, scheme, types) for r in records]
    answer_tokens = sum(len(tokenizer(r["completion"])["input_ids"]) for r in rows)

    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    pipeline_settings = {
        "pipeline": {},
        "pipeline_no_selector": {"use_selector": False},
        "pipeline_model_dtype_steps": {"use_selector": False, "step_dtype": "model"},
        "pipeline_logits_processor": {"use_selector": False, "decoder": "logits-processor"},
    }
    if args.copy_drafts:
        pipeline_settings["pipeline_copy_drafts"] = {
            "use_selector": False,
            "decoder": "copy-drafts",
        }
    timed = {}
    for name, options in pipeline_settings.items():
        if name == "pipeline" and tagger.selector is None:
            continue
        # Each record is one sentence: tag it with its own corpus's types, as in evaluation.
        started = time.perf_counter()
        found = tagger([r["text"] for r in records], corpus=args.corpus,
                       decode_batch_size=args.batch_size, **options)  # fmt: skip
        timed[name] = (time.perf_counter() - started, [as_predictions(e) for e in found])
        print(name, round(timed[name][0], 1), "s")

    started = time.perf_counter()
    naive_preds = predict_records(model, tokenizer, records, scheme, args.batch_size)["predictions"]
    naive_s = time.perf_counter() - started
    limit_s = teacher_forced_seconds(
        model, tokenizer, [r["prompt"] + r["completion"] for r in rows], args.batch_size
    )

    def row(seconds: float, preds=None) -> dict:
        result = {
            "seconds": round(seconds, 2),
            "sentences_per_second": round(len(records) / seconds, 2),
            "answer_tokens_per_second": round(answer_tokens / seconds, 1),
        }
        if preds is not None:
            s = score(preds, gold)
            result.update(precision=s["precision"], recall=s["recall"], f1=s["f1"])
        return result

    settings = {name: row(seconds, preds) for name, (seconds, preds) in timed.items()}
    settings["naive"] = row(naive_s, naive_preds)
    settings["limit"] = row(limit_s)
    main = next(iter(timed))
    for name, values in settings.items():
        print(name, values)
    save_result(
        f"tag_speed_{args.name}",
        {
            "model": args.model,
            "base_model": config["base_model"],
            "dtype": str(model.dtype).removeprefix("torch."),
            "auto_step_dtype": str(tagger._step_dtype("auto") or model.dtype),
            "scheme": scheme,
            "data": {
                "corpus": args.corpus,
                "split": args.split,
                "sentences": len(records),
                "gold_answer_tokens": answer_tokens,
                "batch_size": args.batch_size,
            },  # fmt: skip
            "main_setting": main,
            "precision": settings[main]["precision"],
            "recall": settings[main]["recall"],
            "f1": settings[main]["f1"],
            "settings": settings,
            "ratios": {
                f"{name}_vs_{base}": round(
                    settings[name]["sentences_per_second"] / settings[base]["sentences_per_second"],
                    3,
                )
                for name in timed
                for base in ("naive", "limit")
            },  # fmt: skip
        },
    )


if __name__ == "__main__":
    main()
