"""Choose the adapter a training run ships: strict F1 of its checkpoints on held-out text.

A long run's dev curve swings from one evaluation to the next (a 50-sentence sample per
corpus, measured inside training), so the adapter to ship is chosen here, after training,
on a larger sample that no candidate learnt and that is not an evaluation set: dev for the
corpora scored on test, and for CMeEE (scored on dev) the training sentences a capped run
left out (``hf_bioner.training.data.seen_training_ids``); a run that learnt all of CMeEE has
none, so its choice is made on the English corpora alone (``--corpora``). Every candidate
tags the same units.

Candidates are adapter files (e.g. the checkpoints kept by a stash loop) and, with
``--average``, the uniform mean of several of them: the LoRA A and B matrices averaged apart,
so the result is again one adapter of the same rank. The candidate with the best mean of
the per-corpus F1s wins (each corpus has its own bar); all are saved to
``benchmarks/results/checkpoint_choice_<name>.json``, after each candidate, and
``--resume`` skips the candidates already there.

    python benchmarks/choose_checkpoint.py /work/runs/cmp/lora-r64 --name lora-r64 \\
        --adapters stash/step-2400.safetensors,stash/step-2509.safetensors \\
        --average stash/step-2440.safetensors,stash/step-2480.safetensors,stash/step-2509.safetensors \\
        --per-corpus 100 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import common

from hf_bioner.corpora import held_out_records, tuning_split
from hf_bioner.models import load_trained, load_trained_config
from hf_bioner.pipeline import BioNerPipeline
from hf_bioner.scoring import score
from hf_bioner.training.data import seen_training_ids
from hf_bioner.training.trainer import corpus_f1

ADAPTER_FILE = "adapter_model.safetensors"


def held_out_units(run: Path, data_dir: str | None, per_corpus: int,
                   corpora: list[str] | None = None) -> tuple[list, dict]:  # fmt: skip
    """A seeded sample of held-out units per corpus of the run (or of ``corpora``), and where
    each came from."""
    trained = load_trained_config(run)["corpora"]
    unknown = [corpus for corpus in corpora or [] if corpus not in trained]
    if unknown:
        raise SystemExit(f"{run} was not trained on {', '.join(unknown)} (it was on "
                         f"{', '.join(trained)})")  # fmt: skip
    corpora = corpora or trained
    needed = any(tuning_split(corpus) == "train" for corpus in corpora)
    learnt = seen_training_ids(run, data_dir) if needed else set()
    units, sizes = [], {}
    for corpus in corpora:
        split = tuning_split(corpus)
        if split == "train" and not learnt:
            raise SystemExit(f"{run}: no training summary, so {corpus}'s learnt text is unknown")
        records = held_out_records(corpus, data_dir, learnt)
        if not records:
            raise SystemExit(f"{corpus}: the run learnt every sentence of its {split} split")
        sample = random.Random(0).sample(records, min(per_corpus, len(records)))
        sizes[corpus] = {"split": split, "held_out_units": len(records), "units": len(sample)}
        units += sample
    return units, sizes


def candidate_name(adapter: Path) -> str:
    """``step-2400`` for a stashed file, ``checkpoint-2400`` for one inside a checkpoint."""
    return adapter.parent.name if adapter.name == ADAPTER_FILE else adapter.stem


def average_adapters(files: list[Path], target: Path) -> Path:
    """The uniform mean of adapter files of one run (same rank and modules)."""
    from safetensors.torch import load_file, save_file

    tensors = [load_file(f) for f in files]
    save_file({key: sum(t[key] for t in tensors) / len(tensors) for key in tensors[0]}, target)
    return target


def candidate_folder(run: Path, adapter: Path, folder: Path) -> Path:
    """A model folder like the run's output with another adapter in it (links, no copies)."""
    folder.mkdir(parents=True)
    for item in run.iterdir():
        if item.is_file() and item.name != ADAPTER_FILE:
            (folder / item.name).symlink_to(item.resolve())
    (folder / ADAPTER_FILE).symlink_to(adapter.resolve())
    return folder


def evaluate(folder: Path, units: list, batch_size: int) -> dict:
    """Pooled and per-corpus strict scores of one candidate on the units."""
    model, tokenizer, _config = load_trained(folder, merge=True)
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    started = time.perf_counter()
    # Full-precision steps, as the earlier choices were measured.
    results = common.tag_records(tagger, units, decode_batch_size=batch_size, progress=True,
                                 step_dtype="model")  # fmt: skip
    predictions = [common.as_predictions(r["entities"]) for r in results]
    pooled = score(predictions, [u["entities"] for u in units])
    by_corpus = corpus_f1(predictions, units)
    return {key: pooled[key] for key in ("precision", "recall", "f1")} | {
        "corpus_f1": by_corpus,
        "mean_corpus_f1": round(sum(by_corpus.values()) / len(by_corpus), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run's hf-bioner train output folder")
    parser.add_argument("--name", required=True, help="result name: checkpoint_choice_<name>")
    parser.add_argument("--adapters", default="", help="comma-separated adapter files")
    parser.add_argument("--average", default="", help="comma-separated adapter files to average")
    parser.add_argument("--per-corpus", type=int, default=100, help="held-out units per corpus")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--corpora", default="",
                        help="comma-separated corpora to choose on (default: the run's); a "
                             "run that learnt all of CMeEE has no held-out CMeEE text")  # fmt: skip
    parser.add_argument("--data-dir")
    parser.add_argument("--resume", action="store_true", help="keep candidates already scored")
    args = parser.parse_args()
    run = Path(args.run)
    candidates = {candidate_name(Path(f)): Path(f) for f in args.adapters.split(",") if f}
    averaged = [Path(f) for f in args.average.split(",") if f]
    if averaged:
        candidates["average-of-" + "-".join(map(candidate_name, averaged))] = averaged
    if not candidates:
        parser.error("give --adapters and/or --average")
    corpora = [name for name in args.corpora.split(",") if name]
    units, sizes = held_out_units(run, args.data_dir, args.per_corpus, corpora)
    path = common.RESULTS / f"checkpoint_choice_{args.name}.json"
    scored = json.loads(path.read_text())["candidates"] if args.resume and path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in candidates.items():
            if name in scored:
                continue
            if isinstance(source, list):
                adapter = average_adapters(source, Path(tmp) / f"{name}.safetensors")
                label: str | list[str] = [str(f) for f in source]
            else:
                adapter, label = source, str(source)
            scored[name] = evaluate(candidate_folder(run, adapter, Path(tmp) / name), units,
                                    args.batch_size)  # fmt: skip
            scored[name]["adapter"] = label
            print(name, {k: scored[name][k] for k in ("f1", "mean_corpus_f1", "corpus_f1")})
            chosen = max(scored, key=lambda n: scored[n]["mean_corpus_f1"])
            common.save_result(
                f"checkpoint_choice_{args.name}",
                {
                    "run": str(run),
                    "data": sizes,
                    "what": "strict micro P/R/F1 of each candidate adapter on held-out units",
                    "chosen": chosen,
                    "precision": scored[chosen]["precision"],
                    "recall": scored[chosen]["recall"],
                    "f1": scored[chosen]["f1"],
                    "candidates": scored,
                },
            )


if __name__ == "__main__":
    main()
