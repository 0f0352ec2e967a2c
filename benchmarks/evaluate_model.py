"""Strict P/R/F1 of a trained hf-bioner model on the evaluation split of its corpora.

Test split for NCBI-disease, BC5CDR, JNLPBA and GENIA, dev for CMeEE (its test is unlabelled).
Tags through the pipeline users call (``pipeline("bio-ner")`` with ``corpus=``, each unit one
sentence), constrained to valid answers and free, side by side on the same units; decodes, scores, and saves
``benchmarks/results/eval_<name>.json`` with pooled and per-corpus micro P/R/F1, per-type
scores, decode problems and sentences/s.

    python benchmarks/evaluate_model.py runs/ncbi-smollm2 --name ncbi-smollm2 --limit 200 --data-dir ../shared/corpora

A full evaluation set is hours of CPU: with ``--save-predictions FILE --resume`` each chunk of
units is appended to FILE as soon as it is tagged, and a later run reuses the units already
there (same id and text), so an evaluation cut short continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time

from common import as_predictions, eval_units, save_result, saved_rows, tag_records

from hf_bioner.formats import write_jsonl
from hf_bioner.models import load_trained
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.scoring import score

CHUNK_UNITS = 128  # units tagged between two appends to the predictions file


def tag_units(tagger, records, batch_size, constrained, saved: dict[str, dict], sink=None,
              options: dict | None = None) -> list[dict]:  # fmt: skip
    """Prediction rows of the records (in their order): saved rows reused, the others tagged
    in chunks of similar length, each chunk written to ``sink`` as soon as it is done.

    Tagging is the user's call (:func:`common.tag_records`): the generator's entities as they
    are, ``selector_ablation.py`` scores the saved ones with the selector.
    """
    rows = {r["id"]: saved[r["id"]] for r in records
            if r["id"] in saved and saved[r["id"]]["text"] == r["text"]}  # fmt: skip
    options = {"step_dtype": "auto", **(options or {})}  # decoder, step and prefill dtypes
    steps, prompts = tagger._dtypes(options["step_dtype"], options.get("prefill_dtype"))
    steps_name, prompts_name = (str(dtype or tagger.model.dtype).removeprefix("torch.")
                                for dtype in (steps, prompts))  # fmt: skip
    todo = sorted((r for r in records if r["id"] not in rows), key=lambda r: len(r["text"]))
    for start in range(0, len(todo), CHUNK_UNITS):
        chunk = todo[start : start + CHUNK_UNITS]
        started = time.perf_counter()
        results = tag_records(tagger, chunk, constrained=constrained, progress=True,
                              decode_batch_size=batch_size, **options)  # fmt: skip
        seconds = (time.perf_counter() - started) / len(chunk)
        for record, result in zip(chunk, results, strict=True):
            (answer,) = result["answers"]  # one sentence, one type set: one prompt
            row = {**record, "predicted": as_predictions(result["entities"]),
                   "output": answer["answer"],
                   "problems": answer["problems"], "cut": answer["cut"], "seconds": seconds,
                   "step_dtype": steps_name, "prefill_dtype": prompts_name}  # fmt: skip
            rows[record["id"]] = row
            if sink is not None:
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        if sink is not None:
            sink.flush()
        print(f"tagged {len(rows)} of {len(records)} units", flush=True)
    return [rows[r["id"]] for r in records]


def corpus_result(rows: list[dict], tokenizer) -> dict:
    """Scores, decode problems and speed of one corpus's prediction rows."""
    scores = score([r["predicted"] for r in rows], [r["entities"] for r in rows])
    seconds = sum(r["seconds"] for r in rows)
    tokens = sum(len(tokenizer(r["output"], add_special_tokens=False).input_ids) for r in rows)
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "per_type": scores["per_type"],
        "errors": scores["errors"],
        "units_with_decode_problems": sum(1 for r in rows if r["problems"]),
        "units_cut": sum(r["cut"] for r in rows),  # answer budget spent: later entities missing
        "sentences_per_second": round(len(rows) / seconds, 2) if seconds else None,
        "generated_tokens_per_sentence": round(tokens / max(len(rows), 1), 1),
        "examples": [{"text": r["text"], "output": r["output"]} for r in rows[:3]],
    }


def evaluate_decoding(tagger, data: dict[str, list], decoding: str, batch_size: int,
                      saved: dict, sink, options=None) -> tuple[dict, list[dict]]:  # fmt: skip
    """Pooled and per-corpus results of one decoding over every corpus, and its rows."""
    per_corpus, all_rows = {}, []
    for name, records in data.items():
        rows = tag_units(tagger, records, batch_size, decoding == "constrained", saved, sink,
                         options)  # fmt: skip
        per_corpus[name] = result = corpus_result(rows, tagger.tokenizer)
        all_rows += rows
        shown = ("precision", "recall", "f1", "sentences_per_second",
                 "generated_tokens_per_sentence")  # fmt: skip
        print(decoding, name, {k: result[k] for k in shown})
    pooled = score([r["predicted"] for r in all_rows], [r["entities"] for r in all_rows])
    result = {k: pooled[k] for k in ("precision", "recall", "f1")} | {"corpora": per_corpus}
    return result, all_rows


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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the units already in --save-predictions, and append each chunk to it as "
        "it is tagged (one decoding only)",
    )
    parser.add_argument(
        "--step-dtype",
        default="auto",
        help="dtype of the constrained one-token steps: auto (as the pipeline on this machine: "
        "bf16 for an fp32 model where bf16 is fast, smoothed int8 on a CPU with VNNI and no "
        "AMX), "
        "model (the model's own), int8, or a dtype name",
    )
    parser.add_argument("--prefill-dtype",
                        help="dtype the prompts are read in (default: as --step-dtype)")  # fmt: skip
    parser.add_argument("--decoder", help="a decoder of hf_bioner.decoding.DECODERS "
                        "(default: the pipeline's)")  # fmt: skip
    args = parser.parse_args()
    if args.resume and (not args.save_predictions or args.decoding == "both"):
        parser.error("--resume needs --save-predictions and one --decoding")
    model, tokenizer, config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    corpora = args.corpora.split(",") if args.corpora else config["corpora"]
    decodings = ["constrained", "free"] if args.decoding == "both" else [args.decoding]
    if config["scheme"] != "inline":
        decodings = ["free"]
    data, sizes = {}, {}
    for name in corpora:
        data[name], sizes[name] = eval_units(name, args.data_dir, args.limit)
    options = {
        "step_dtype": args.step_dtype,
        "prefill_dtype": args.prefill_dtype or args.step_dtype,
    }
    if args.decoder:
        options["decoder"] = args.decoder
    tagger._sanitize_parameters(**options)  # a bad option fails before anything is tagged
    saved = saved_rows(args.save_predictions) if args.resume else {}
    if args.resume:  # drop a cut-off last line before appending after it
        write_jsonl(saved.values(), args.save_predictions)
    sink = open(args.save_predictions, "a", encoding="utf-8") if args.resume else None  # noqa: SIM115
    results, kept = {}, []
    for decoding in decodings:
        first = decoding == decodings[0]  # the decoding whose predictions are saved
        results[decoding], rows = evaluate_decoding(
            tagger, data, decoding, args.batch_size, saved if first else {},
            sink if first else None, options,
        )  # fmt: skip
        kept += rows if first else []
    main_decoding = decodings[0]
    if sink is not None:
        sink.close()
    if args.save_predictions:
        write_jsonl(kept, args.save_predictions)  # exactly the evaluated units, in order
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
            # a resumed evaluation may join rows tagged on machines that chose differently
            "step_dtype": sorted({r.get("step_dtype", "float32") for r in kept}),
            "pipeline_options": options,
            "precision": results[main_decoding]["precision"],
            "recall": results[main_decoding]["recall"],
            "f1": results[main_decoding]["f1"],
            "decodings": results,
        },
    )


if __name__ == "__main__":
    main()
