"""The default call as a user makes it, before and after this project's speed levers.

``pipeline("bio-ner")(documents)``: no ``corpus=``, so every trained type set of the text's
language is prompted, types are arbitrated and the selector filters. Two settings tag the
same documents in one run, with the same generator loaded once:

``before``
    the call as it was: the ``allowed-tokens`` decoder, batches of 16 sentences, prompts read
    in the model's dtype (fp32), the selector as saved (LoRA unmerged), and one-token steps
    and the selector in bf16 by the rule of the time (:func:`bf16_then`: a CPU with AMX or
    AVX-512 BF16), else in the model's dtype;
``token-tables``
    today's default with the decoder that was the default before copy drafts;
``after``
    today's default: the ``drafted-tables`` decoder, the device's batch size
    (:func:`hf_bioner.device.tag_batch_size`), prompts and steps in bf16 where bf16 is fast
    (on smoothed int8 projections where only int8 dot products are), the selector merged and
    in the prompts' dtype;
``int8``
    today's default with everything in int8 (``step_dtype="int8"``: prompts too, and the
    selector) whatever the CPU: on one with int8 dot products and no AMX, ``after`` itself;
``every-set``
    today's default with every trained type set of a sentence's language prompted, none
    skipped as covered (``corpus=`` naming all the model's corpora): for English,
    NCBI-disease's prompt beside BC5CDR's and JNLPBA's, what its notion of a disease costs.

Documents: NCBI-disease test abstracts and CMeEE dev records (a seeded sample of each), given
in one call (a list), or with ``--per-call`` one document per call, as a user tagging
abstracts one at a time calls it (each call then holds only one document's sentences).
Reported per setting and corpus: seconds per document and strict F1, where the default
call's entities are kept only if their type is one of the corpus's (the default call also
finds chemicals and proteins, which NCBI-disease does not annotate), and the ratio of the
two settings' seconds.

``selector`` (with ``--selector DIR``)
    today's default with another selector (e.g. one retrained in a new input format) in place
    of the model's own, loaded as the pipeline loads one (merged, bf16 where bf16 is fast,
    smoothed int8 where only int8 dot products are).

``--settings`` runs only the named ones of ``before``, ``token-tables``, ``after``,
``int8`` and ``every-set``.

``code at REV`` (with ``--before-code DIR``)
    the default call of the code as it was at an earlier revision (a ``git worktree`` of it in
    DIR), run in a child process that imports ``hf_bioner`` from DIR: the call a user made
    then, whatever its settings were, on the same documents and thread count.

    python benchmarks/default_call_speed.py --data-dir ../shared/corpora --documents 20
    git worktree add /tmp/before 5cdb1cb
    python benchmarks/default_call_speed.py --data-dir ../shared/corpora --before-code /tmp/before
    python benchmarks/default_call_speed.py --data-dir ../shared/corpora --before-code /tmp/before \
        --settings after --selector runs/selector-sentence-first --per-call
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import as_predictions, save_result

# Imported from the code under test: in a --child process, the code at an earlier revision.
from hf_bioner.models import load_trained
from hf_bioner.pipeline import DEFAULT_MODEL, BioNerPipeline
from hf_bioner.scoring import score

CORPORA = (("ncbi_disease", "test"), ("cmeee", "dev"))
CODE_BEFORE = "code_before"  # the setting --before-code adds
OTHER_SELECTOR = "selector"  # the setting --selector adds
SETTINGS = ("before", "token-tables", "after", "int8", "every-set")


def revision(folder: str) -> str:
    """The commit a worktree is at (what --before-code measured)."""
    return subprocess.run(["git", "-C", folder, "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


def bf16_then() -> bool:
    """Whether the call as it was ran its steps and selector in bf16 on this CPU: the rule of
    the time took AVX-512 BF16 as fast as AMX (``hf_bioner.device.cpu_has_bf16`` now asks
    for AMX: without it bf16 was measured slower than fp32)."""
    from hf_bioner.device import cpu_flags

    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def documents(corpus: str, split: str, data_dir: str | None, count: int) -> list[dict]:
    from hf_bioner.corpora import load_records

    records = load_records(corpus, split, data_dir, unit="document")
    return random.Random(0).sample(records, min(count, len(records)))


def call(tagger, texts: list[str], per_call: bool, **options) -> list:
    """The entities of ``texts``: one call for all, or one call per text."""
    if per_call:
        return [tagger(text, **options) for text in texts]
    return tagger(texts, **options)


def tag(tagger, docs: list[dict], labels: set[str], per_call: bool, **options) -> dict:
    """Seconds per document and strict F1 (entities of the corpus's types) of one setting."""
    started = time.perf_counter()
    found = call(tagger, [d["text"] for d in docs], per_call, **options)
    return scored(found, time.perf_counter() - started, docs, labels)


def tag_with_code(code: Path, model: str, docs: list[dict], labels: set[str],
                  per_call: bool) -> dict:  # fmt: skip
    """:func:`tag` of the default call in a child process that imports ``hf_bioner`` from
    ``code`` (a worktree of an earlier revision), with this process's thread count."""
    import torch

    with tempfile.TemporaryDirectory() as folder:
        texts, out = Path(folder) / "texts.json", Path(folder) / "found.json"
        texts.write_text(json.dumps([d["text"] for d in docs], ensure_ascii=False))
        env = {**os.environ, "PYTHONPATH": str(code)}
        subprocess.run([sys.executable, __file__, "--child", str(texts), str(out), "--model",
                        model, "--threads", str(torch.get_num_threads()),
                        *(["--per-call"] if per_call else [])],
                       check=True, env=env, cwd=Path(__file__).parent)  # fmt: skip
        child = json.loads(out.read_text())
    return scored(child["found"], child["seconds"], docs, labels)


def child(texts_file: str, out_file: str, model_folder: str, threads: int,
          per_call: bool) -> None:  # fmt: skip
    """The child of :func:`tag_with_code`: load, warm, time one default call, save."""
    import torch

    import hf_bioner

    torch.set_num_threads(threads)
    print(f"child: hf_bioner from {Path(hf_bioner.__file__).parent}", flush=True)
    texts = json.loads(Path(texts_file).read_text())
    model, tokenizer, _config = load_trained(model_folder, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer)
    tagger(texts[0][:200])  # warm, as the parent warms its own
    started = time.perf_counter()
    found = call(tagger, texts, per_call)
    seconds = time.perf_counter() - started
    Path(out_file).write_text(json.dumps({"found": found, "seconds": seconds}))


def scored(found: list[list[dict]], seconds: float, docs: list[dict], labels: set[str]) -> dict:
    """Seconds per document and strict scores of a setting's entities."""
    predictions = [[e for e in as_predictions(entities) if e["type"] in labels]
                   for entities in found]  # fmt: skip
    scores = score(predictions, [d["entities"] for d in docs])
    return {
        "seconds": round(seconds, 2),
        "seconds_per_document": round(seconds / len(docs), 3),
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
    }


def speedups(results: dict, slower: str, faster: str) -> dict:
    """Seconds of ``slower`` over seconds of ``faster`` per corpus (empty unless both ran)."""
    if slower not in results or faster not in results:
        return {}
    return {corpus: round(results[slower][corpus]["seconds"]
                          / results[faster][corpus]["seconds"], 2)
            for corpus, _ in CORPORA}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data-dir")
    parser.add_argument("--documents", type=int, default=20, help="per corpus")
    parser.add_argument("--name", default="bundled", help="result: default_call_speed_<name>.json")
    parser.add_argument("--before-code", metavar="DIR",
                        help="a worktree of an earlier revision: adds its default call")  # fmt: skip
    parser.add_argument("--selector", metavar="DIR",
                        help="adds today's default call with this selector instead of the "
                        "model's")  # fmt: skip
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated, of {', '.join(SETTINGS)} (default: all)")  # fmt: skip
    parser.add_argument("--per-call", action="store_true",
                        help="one document per call (default: all in one call)")  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("TEXTS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.model, args.threads, args.per_call)
        return

    import torch

    from hf_bioner.device import tag_batch_size
    from hf_bioner.quantization import INT8
    from hf_bioner.schema import type_set
    from hf_bioner.selector import EntitySelector

    model, tokenizer, _config = load_trained(args.model, merge=True)
    old_selector = EntitySelector.load(f"{args.model}/selector")
    old_selector.config.bf16 = bf16_then()
    before = BioNerPipeline(model=model, tokenizer=tokenizer, selector=old_selector)
    after = BioNerPipeline(model=model, tokenizer=tokenizer)
    int8_throughout = after
    if "int8" in args.settings.split(","):  # its own selector, in int8
        int8_selector = EntitySelector.load(f"{args.model}/selector").for_inference(INT8)
        int8_throughout = BioNerPipeline(model=model, tokenizer=tokenizer, selector=int8_selector)
    settings = {
        "before": (
            before,
            {
                "decoder": "allowed-tokens",
                "prefill_dtype": "model",
                "decode_batch_size": 16,
                "step_dtype": "bfloat16" if bf16_then() else "model",
            },
        ),
        "token-tables": (after, {"decoder": "token-tables"}),
        "after": (after, {}),
        "int8": (int8_throughout, {"step_dtype": "int8"}),
        "every-set": (after, {"corpus": list(after.type_sets)}),
    }
    chosen = args.settings.split(",")
    unknown = sorted(set(chosen) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {', '.join(unknown)}: choose from {', '.join(SETTINGS)}")
    settings = {name: settings[name] for name in SETTINGS if name in chosen}
    if args.selector:
        other = BioNerPipeline(model=model, tokenizer=tokenizer, selector=args.selector)
        settings[OTHER_SELECTOR] = (other, {})
    results: dict = {}
    sizes = {}
    for corpus, split in CORPORA:
        docs = documents(corpus, split, args.data_dir, args.documents)
        labels = set(type_set(corpus).labels)
        sizes[corpus] = {"split": split, "documents": len(docs),
                         "characters": sum(len(d["text"]) for d in docs)}  # fmt: skip
        after(docs[0]["text"][:200])  # warm: token tables, bf16 copies
        if OTHER_SELECTOR in settings:
            settings[OTHER_SELECTOR][0](docs[0]["text"][:200])
        for name, (tagger, options) in settings.items():
            results.setdefault(name, {})[corpus] = tag(tagger, docs, labels, args.per_call,
                                                       **options)  # fmt: skip
            print(name, corpus, results[name][corpus], flush=True)
        if args.before_code:
            code = Path(args.before_code)
            results.setdefault(CODE_BEFORE, {})[corpus] = tag_with_code(
                code, args.model, docs, labels, args.per_call
            )
            print(CODE_BEFORE, corpus, results[CODE_BEFORE][corpus], flush=True)
    ratios = speedups(results, "before", "after")
    every_set_ratios = speedups(results, "every-set", "after")
    int8_ratios = speedups(results, "before", "int8")
    code_ratios = speedups(results, CODE_BEFORE, "after")
    selector_ratios = {
        name: speedups(results, name, OTHER_SELECTOR) for name in (CODE_BEFORE, "after")
    }
    headline = OTHER_SELECTOR if args.selector else "after"
    pooled = {name: round(sum(r["seconds"] for r in per.values())
                          / sum(s["documents"] for s in sizes.values()), 3)
              for name, per in results.items()}  # fmt: skip
    save_result(
        f"default_call_speed_{args.name}",
        {
            "model": args.model,
            "torch_threads": torch.get_num_threads(),
            "documents_per_call": 1 if args.per_call else "all",
            "after_batch_size": tag_batch_size(after.device),
            "after_step_dtype": str(after._step_dtype("auto") or model.dtype),
            "before_bf16": bf16_then(),
            "after_prompts_per_call": after._batch_size,
            "data": sizes,
            **{k: results[headline]["ncbi_disease"][k] for k in ("precision", "recall", "f1")},
            "headline_setting": headline,
            "settings": results,
            "seconds_per_document": pooled,
            **({"speedup_before_over_after": ratios} if ratios else {}),
            **({"slowdown_every_set_over_after": every_set_ratios} if every_set_ratios else {}),
            **({"speedup_before_over_int8": int8_ratios} if int8_ratios else {}),
            **(
                {
                    "selector": args.selector,
                    "speedup_over_selector": {k: v for k, v in selector_ratios.items() if v},
                }
                if args.selector
                else {}
            ),
            **(
                {
                    "before_code": revision(args.before_code),
                    "speedup_code_before_over_after": code_ratios,
                }
                if args.before_code
                else {}
            ),
        },
    )


if __name__ == "__main__":
    main()
