"""Shared by the benchmark scripts: where results go and what every result records."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the command, date and machine added."""
    from hf_bioner.device import machine

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"saved {path}")
    return path


def add_model_argument(parser) -> None:
    """The optional ``model`` argument of a script that times a trained model: a train
    output folder, by default the bundled model."""
    from hf_bioner.pipeline import DEFAULT_MODEL

    parser.add_argument("model", nargs="?", default=str(DEFAULT_MODEL),
                        help="an hf-bioner train output folder (default: the bundled model)")  # fmt: skip


def teacher_forced_seconds(model, tokenizer, texts: list[str], batch_size: int) -> float:
    """Seconds for forward passes over whole texts (prompt + gold answer), shortest together,
    batched like generation: the floor for any decoder that must emit those answers. The
    GPU is synchronised before and after, so its queued work is counted."""
    import time

    import torch

    texts = sorted(texts, key=len)
    tokenizer.padding_side = "left"
    sync = torch.cuda.synchronize if torch.cuda.is_available() else lambda: None
    sync()
    started = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True)
            model(**batch.to(model.device), logits_to_keep=1)
    sync()
    return time.perf_counter() - started


def eval_units(corpus: str, data_dir: str | None, limit: int | None,
               unit: str = "sentence", split: str | None = None) -> tuple[list, dict]:  # fmt: skip
    """The evaluation units of a corpus (a seeded sample of ``limit``) and their sizes;
    ``unit="document"`` gives whole documents; ``split`` another split than the evaluation
    one (a dev split, to choose a setting on text the reported figures do not use).

    Every benchmark that compares models on a corpus takes its units from here, so they
    score the same sentences (or documents).
    """
    import random

    from hf_bioner.corpora import evaluation_split, load_records

    split = split or evaluation_split(corpus)
    records = load_records(corpus, split, data_dir, unit=unit)
    sizes = {"split": split, "units_in_split": len(records)}
    if limit and limit < len(records):
        records = random.Random(0).sample(records, limit)
    sizes["units"] = len(records)
    return records, sizes


def record_parser(doc: str, folder: str, folder_help: str, record: str):
    """Arguments of a script that keeps a run's record in ``results/``: the run's folder, the
    record's name (``<record>_<name>.json``) and the command line that made the run."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(folder, help=folder_help)
    parser.add_argument("--name", required=True, help=f"result name: {record}<name>.json")
    parser.add_argument("--training-command", required=True, help="the command that made it")
    return parser


def saved_rows(path: str | None) -> dict[str, dict]:
    """``{id: row}`` of a predictions file written chunk by chunk; a last line cut short by a
    killed run is left out (its unit is tagged again)."""
    if not path or not Path(path).exists():
        return {}
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    complete = lines[:-1]  # the text after the last newline is empty or a cut-off line
    return {row["id"]: row for row in map(json.loads, filter(None, complete))}


def as_predictions(entities: list[dict]) -> list[dict]:
    """The pipeline's entities as the scorer reads them (``start, end, type, text``)."""
    return [{"start": e["start"], "end": e["end"], "type": e["entity_group"], "text": e["word"]}
            for e in entities]  # fmt: skip


def entity_keys(entities: list[dict]) -> set[tuple[int, int, str]]:
    """A unit's predicted entities as a set, to tell whether two runs predicted the same."""
    return {(e["start"], e["end"], e["type"]) for e in entities}


def tag_records(tagger, records: list[dict], **options) -> list[dict]:
    """The pipeline's results for evaluation records (each one sentence of a known corpus),
    in their order: the user's call with ``corpus=`` each record's own, ``split_sentences``
    off, the generator's entities as they are (no selector, every type of a span) and each
    prompt's answer (``return_answers``). ``options`` go to the call."""
    results: list[dict | None] = [None] * len(records)
    by_corpus: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_corpus.setdefault(record["corpus"], []).append(i)
    for corpus, ids in by_corpus.items():
        found = tagger([records[i]["text"] for i in ids], corpus=corpus, split_sentences=False,
                       use_selector=False, one_type_per_span=False, return_answers=True,
                       **options)  # fmt: skip
        for i, result in zip(ids, found, strict=True):
            results[i] = result
    return results
