"""A peer a user would pick instead: a spaCy NER pipeline per corpus, trained and scored here.

spaCy's default CPU ``ner`` component (a ``HashEmbedCNN`` tok2vec under a
``TransitionBasedParser``, spaCy's default config) on ``spacy.blank("en")``, or
``spacy.blank("zh")`` with character segmentation for CMeEE, trained from scratch with
spaCy's own training API on the corpus's whole training split. The number of epochs is
chosen by strict F1 on a selection set (early stopping with ``--patience``, within
``--max-minutes`` per corpus); the best epoch's weights are then scored with the same
strict metric on every unit of the same evaluation split as the other benchmarks
(``common.eval_units``: test; CMeEE dev), against the original nested gold.

The selection set is the corpus's dev split, except where dev *is* the evaluation split
(CMeEE): there every 10th training sentence is held out for selection instead, so no
choice is made on the sentences that are scored.

spaCy's ``ner`` tags flat spans on its own tokens. Training entities it cannot represent
are counted per corpus, not silently lost:

* ``misaligned``: an entity edge falls inside a spaCy token (``doc.char_span`` is None). Its
  tokens are marked *missing* in training (no loss on them), not taught as outside;
* ``overlapping``: nested or overlapping entities (CMeEE) and same-span entities of
  another type; the longest non-overlapping spans are kept (``spacy.util.filter_spans``).

The same counts over the evaluation gold (``eval_gold``) say how many gold entities spaCy
cannot predict at all. ``sentences_per_second`` times ``nlp.pipe`` over the evaluation
texts (tokenization included), with ``--threads`` processes (``n_process``, spaCy's way to
use several cores; one BLAS thread each).

    python benchmarks/baseline_spacy.py --data-dir ../shared/corpora --max-minutes 30
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

from common import eval_units, save_result

from hf_bioner.corpora import corpus_spec, evaluation_split, load_records
from hf_bioner.schema import Record
from hf_bioner.scoring import score

CORPORA = ["ncbi_disease", "bc5cdr", "jnlpba", "cmeee"]
HOLD_OUT_EVERY = 10  # selection sentences taken from train where dev is the evaluation split
COUNTS = ("entities", "kept", "misaligned", "overlapping")


def blank_pipeline(corpus: str):
    """A blank spaCy pipeline for the corpus's language with the default ``ner`` component."""
    import spacy

    nlp = spacy.blank(corpus_spec(corpus).language)  # "zh" segments characters by default
    nlp.add_pipe("ner")
    return nlp


def reference_doc(nlp, record: Record) -> tuple:
    """The record as a spaCy doc with the entities spaCy can learn, and what was left out.

    Misaligned entities become *missing* tokens (unknown, no loss) unless a kept entity
    covers them; overlapping ones are dropped in favour of the longest (token count, then
    earliest).
    """
    from spacy.util import filter_spans

    doc = nlp.make_doc(record["text"])
    unique = sorted({(e["start"], e["end"], e["type"]) for e in record["entities"]})
    aligned, misaligned = [], []
    for start, end, label in unique:
        span = doc.char_span(start, end, label=label)
        if span is None:
            misaligned.append(doc.char_span(start, end, alignment_mode="expand"))
        else:
            aligned.append(span)
    kept = filter_spans(aligned)
    covered = {i for span in kept for i in range(span.start, span.end)}
    missing = filter_spans(
        s for s in misaligned if s is not None and covered.isdisjoint(range(s.start, s.end))
    )
    doc.set_ents(kept, missing=missing, default="outside")
    counts = Counter(
        entities=len(unique),
        kept=len(kept),
        misaligned=len(misaligned),
        overlapping=len(aligned) - len(kept),
    )
    return doc, counts


def reference_docs(nlp, records: list[Record]) -> tuple[list, dict]:
    """Reference docs of many records and their summed counts (every key present)."""
    docs, total = [], Counter({k: 0 for k in COUNTS})
    for record in records:
        doc, counts = reference_doc(nlp, record)
        docs.append(doc)
        total.update(counts)
    return docs, {k: total[k] for k in COUNTS}


def selection_split(
    corpus: str, train: list[Record], data_dir: str | None
) -> tuple[list[Record], list[Record], str]:
    """Training records, selection records and where the selection came from."""
    if evaluation_split(corpus) != "dev":
        return train, load_records(corpus, "dev", data_dir), "dev"
    every = max(2, min(HOLD_OUT_EVERY, len(train)))  # tiny sets still hold one out
    held = [r for i, r in enumerate(train) if i % every == every - 1]
    kept = [r for i, r in enumerate(train) if i % every != every - 1]
    return kept, held, f"train, every {every}th sentence held out"


def tag(nlp, texts: list[str], processes: int = 1) -> tuple[list[list[dict]], float]:
    """Entities of each text as character spans, and the seconds ``nlp.pipe`` took."""
    started = time.perf_counter()
    docs = list(nlp.pipe(texts, n_process=processes))
    seconds = time.perf_counter() - started
    predictions = [
        [
            {"start": e.start_char, "end": e.end_char, "type": e.label_, "text": e.text}
            for e in doc.ents
        ]
        for doc in docs
    ]
    return predictions, seconds


def strict_f1(nlp, records: list[Record]) -> float:
    """Strict micro F1 of the pipeline on records, against their full gold."""
    predictions, _ = tag(nlp, [r["text"] for r in records])
    return score(predictions, [r["entities"] for r in records])["f1"]


def train(nlp, examples: list, selection: list[Record], args) -> dict:
    """Train epochs until the selection F1 stops improving or time runs out; keep the best.

    Minibatches grow from 4 to 32 examples (``compounding``), dropout 0.1, spaCy's default
    optimizer (Adam, learning rate 0.001). The weights of the best epoch are restored.
    """
    from spacy.util import compounding, fix_random_seed, minibatch

    fix_random_seed(args.seed)
    rng = random.Random(args.seed)
    optimizer = nlp.initialize(lambda: examples)
    deadline = time.perf_counter() + args.max_minutes * 60
    sizes = compounding(4.0, 32.0, 1.001)  # one schedule across epochs
    curve, best, best_bytes, stale, stopped = [], -1.0, None, 0, "max_epochs"
    started = time.perf_counter()
    for epoch in range(1, args.max_epochs + 1):
        rng.shuffle(examples)
        losses: dict = {}
        for batch in minibatch(examples, size=sizes):
            nlp.update(batch, drop=args.dropout, sgd=optimizer, losses=losses)
            if time.perf_counter() > deadline:
                break
        f1 = strict_f1(nlp, selection)
        curve.append(
            {
                "epoch": epoch,
                "loss": round(float(losses.get("ner", 0.0)), 1),
                "f1": f1,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"  epoch {epoch}: loss {curve[-1]['loss']} selection F1 {f1:.4f}", flush=True)
        if f1 > best:
            best, best_bytes, stale = f1, nlp.to_bytes(), 0
        else:
            stale += 1
        if time.perf_counter() > deadline:
            stopped = "max_minutes"
            break
        if stale >= args.patience:
            stopped = "patience"
            break
    nlp.from_bytes(best_bytes)
    best_epoch = max(curve, key=lambda c: c["f1"])["epoch"]
    return {
        "epochs": len(curve),
        "best_epoch": best_epoch,
        "best_selection_f1": best,
        "stopped": stopped,
        "train_seconds": round(time.perf_counter() - started, 1),
        "curve": curve,
    }


def train_and_score(corpus: str, args) -> tuple[dict, tuple[list, list]]:
    """Train one corpus's pipeline, score it on the full evaluation split."""
    from spacy.training import Example

    nlp = blank_pipeline(corpus)
    train_records, selection, selection_from = selection_split(
        corpus, load_records(corpus, "train", args.data_dir), args.data_dir
    )
    references, train_counts = reference_docs(nlp, train_records)
    examples = [Example(nlp.make_doc(d.text), d) for d in references]
    training = train(nlp, examples, selection, args)
    if args.save_dir:
        nlp.to_disk(Path(args.save_dir) / corpus)

    records, sizes = eval_units(corpus, args.data_dir, None)
    _, eval_counts = reference_docs(nlp, records)
    predictions, seconds = tag(nlp, [r["text"] for r in records], args.threads)
    gold = [r["entities"] for r in records]
    result = score(predictions, gold)
    return {
        "data": sizes,
        "train_sentences": len(train_records),
        "selection": {"from": selection_from, "sentences": len(selection)},
        "train_entities": train_counts,
        "eval_gold": eval_counts,
        "training": training,
        "model_bytes": len(nlp.to_bytes()),
        "precision": result["precision"],
        "recall": result["recall"],
        "f1": result["f1"],
        "per_type": result["per_type"],
        "tag_seconds": round(seconds, 2),
        "sentences_per_second": round(len(records) / seconds, 1),
    }, (predictions, gold)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="spacy", help="saved as results/eval_NAME.json")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--data-dir")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=20.0,
        help="training budget per corpus (selection scoring included)",
    )
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument(
        "--patience",
        type=int,
        default=3,
        help="epochs without a better selection F1 before stopping",
    )
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1, help="nlp.pipe processes for tagging")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", help="also save each trained pipeline to SAVE_DIR/CORPUS")
    return parser.parse_args(argv)


def main() -> None:
    import spacy
    from threadpoolctl import threadpool_limits

    args = parse_args()
    per_corpus, pooled_pred, pooled_gold = {}, [], []
    with threadpool_limits(1):
        for corpus in args.corpora.split(","):
            print(corpus, flush=True)
            per_corpus[corpus], (pred, gold) = train_and_score(corpus, args)
            pooled_pred += pred
            pooled_gold += gold
            print(
                corpus,
                {
                    k: per_corpus[corpus][k]
                    for k in ("precision", "recall", "f1", "sentences_per_second")
                },
            )
    pooled = score(pooled_pred, pooled_gold)
    save_result(
        f"eval_{args.name}",
        {
            "model": "spaCy default CPU ner (HashEmbedCNN + TransitionBasedParser), "
            "trained from scratch, one per corpus",
            "spacy": spacy.__version__,
            "training": {
                k: getattr(args, k)
                for k in ("max_minutes", "max_epochs", "patience", "dropout", "seed")
            },
            "threads": args.threads,
            "data": {c: r["data"] for c, r in per_corpus.items()},
            "what": "strict micro P/R/F1 pooled over all evaluated units; per corpus inside",
            "precision": pooled["precision"],
            "recall": pooled["recall"],
            "f1": pooled["f1"],
            "corpora": per_corpus,
        },
    )


if __name__ == "__main__":
    main()
