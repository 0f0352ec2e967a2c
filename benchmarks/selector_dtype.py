"""The default call's F1 with its selector in each dtype, on the very same generated entities.

The selector reads whole sentences, as prompts are read, and the pipeline loads it in the
prompts' dtype (:func:`hf_bioner.decoding.step_dtype`: bf16 where bf16 is fast, smoothed int8
on a CPU with int8 dot products and no AMX). Whether that costs accuracy is a question about
the selector alone, so each corpus's documents are generated once (the machine's default
steps and prompts) and every selector scores those answers: the F1 differences are the
selector's. Reported per dtype and corpus: strict F1 of the default call (entities of the
corpus's types, as ``default_call_speed.py`` scores them) and the seconds spent scoring.

    python benchmarks/selector_dtype.py --data-dir ../shared/corpora \\
        --documents ncbi_disease=100,cmeee=300 --dtypes model,int8 --name epyc
"""

from __future__ import annotations

import argparse
import time

from common import as_predictions, save_result
from default_call_speed import documents

from hf_bioner.corpora import evaluation_split
from hf_bioner.models import load_trained
from hf_bioner.pipeline import DEFAULT_MODEL, BioNerPipeline
from hf_bioner.schema import type_set
from hf_bioner.scoring import score

CORPORA = ("ncbi_disease", "bc5cdr", "jnlpba", "cmeee")  # each on its evaluation split


class SharedAnswers(BioNerPipeline):
    """The pipeline with its generated answers kept in ``answers`` (a dict the pipelines
    compared share) by prompts and options, so pipelines that differ only in their selector
    generate once; it also counts the seconds its selector spends."""

    def __init__(self, *args, answers: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers = answers
        self.scoring_seconds = 0.0

    def _generate(self, units, *options):
        key = (tuple(u["prompt"] for u in units), *map(str, options))
        if key not in self.answers:
            self.answers[key] = super()._generate(units, *options)
        return self.answers[key]

    def _score(self, pairs):
        started = time.perf_counter()
        super()._score(pairs)
        self.scoring_seconds += time.perf_counter() - started


def parse_documents(value: str) -> dict[str, int]:
    """``corpus=count,...`` as a dict, corpora checked against :data:`CORPORA`."""
    sizes = {}
    for item in value.split(","):
        corpus, _, count = item.partition("=")
        if corpus not in CORPORA or not count.isdigit():
            raise argparse.ArgumentTypeError(
                f"expected corpus=count with corpus in {', '.join(CORPORA)}, not {item!r}"
            )
        sizes[corpus] = int(count)
    return sizes


def main() -> None:
    from hf_bioner.selector import EntitySelector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data-dir")
    parser.add_argument("--documents", type=parse_documents,
                        default=parse_documents("ncbi_disease=100,cmeee=300"),
                        help="corpus=count,... (a seeded sample of each corpus's "
                        "evaluation split)")  # fmt: skip
    parser.add_argument("--dtypes", default="model,int8",
                        help="selector dtypes, as step_dtype names them (model, int8, "
                        "bfloat16); the first also generates")  # fmt: skip
    parser.add_argument("--name", required=True, help="result: selector_dtype_<name>.json")
    args = parser.parse_args()

    model, tokenizer, _config = load_trained(args.model, merge=True)
    probe = BioNerPipeline(model=model, tokenizer=tokenizer, selector=None, arbiter=None)
    generation_dtype = probe._step_dtype("auto")
    taggers, answers = {}, {}
    for name in args.dtypes.split(","):
        selector = EntitySelector.load(f"{args.model}/selector")
        selector.for_inference(probe._step_dtype(name))
        if name == "model":
            selector.config.bf16 = False  # the model's own dtype: no bf16 autocast either
        taggers[name] = SharedAnswers(model=model, tokenizer=tokenizer, selector=selector,
                                      answers=answers)  # fmt: skip
    results: dict = {}
    sizes = {}
    for corpus, count in args.documents.items():
        split = evaluation_split(corpus)
        docs = documents(corpus, split, args.data_dir, count)
        labels = set(type_set(corpus).labels)
        sizes[corpus] = {"split": split, "documents": len(docs)}
        for name, tagger in taggers.items():
            tagger.scoring_seconds = 0.0
            found = [tagger(d["text"]) for d in docs]  # one document per call
            predictions = [[e for e in as_predictions(entities) if e["type"] in labels]
                           for entities in found]  # fmt: skip
            scores = score(predictions, [d["entities"] for d in docs])
            results.setdefault(name, {})[corpus] = {
                "precision": scores["precision"],
                "recall": scores["recall"],
                "f1": scores["f1"],
                "entities": sum(len(p) for p in predictions),
                "scoring_seconds": round(tagger.scoring_seconds, 2),
            }
            print(name, corpus, results[name][corpus], flush=True)
    first = next(iter(results))
    save_result(
        f"selector_dtype_{args.name}",
        {
            "model": args.model,
            "generation_dtype": str(generation_dtype or model.dtype),
            "data": sizes,
            **{k: results[first][next(iter(sizes))][k] for k in ("precision", "recall", "f1")},
            "headline_setting": first,
            "settings": results,
        },
    )


if __name__ == "__main__":
    main()
