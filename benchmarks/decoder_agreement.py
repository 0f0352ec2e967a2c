"""Do two decoders write the same answers? Counted per answer, with the F1 of each setting.

Every constrained decoder here does greedy decoding over the same allowed tokens, so in full
precision they write the same answers. In bf16 (the default where bf16 is fast) each rounds
its own way: the drafted-tables decoder reads several tokens per pass, token-tables one, and
where two tokens nearly tie an answer can come out differently. This script tags the same
documents with each setting, one document per call (as a user tagging abstracts one at a
time: the calls where copy drafts are read), and reports how many sentence answers differ
between every pair of settings, and each setting's strict F1 on the corpus's types.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/decoder_agreement.py --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import itertools

from common import save_result
from default_call_speed import CORPORA, documents, scored

from hf_bioner.pipeline import DEFAULT_MODEL

# name -> pipeline options
SETTINGS = {
    "token-tables fp32": {"decoder": "token-tables", "step_dtype": "model"},
    "drafted-tables fp32": {"decoder": "drafted-tables", "step_dtype": "model"},
    "token-tables auto": {"decoder": "token-tables"},
    "drafted-tables auto": {"decoder": "drafted-tables"},
}


def tag_documents(tagger, docs: list[dict], options: dict) -> tuple[list, list[str]]:
    """Each document's entities and its sentences' answers, one call per document."""
    found, answers = [], []
    for doc in docs:
        result = tagger(doc["text"], return_answers=True, **options)
        found.append(result["entities"])
        answers += [answer["answer"] for answer in result["answers"]]
    return found, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data-dir")
    parser.add_argument("--documents", type=int, default=20, help="per corpus")
    parser.add_argument("--name", default="bundled", help="result: decoder_agreement_<name>.json")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    from hf_bioner.schema import type_set

    tagger = pipeline("bio-ner", model=args.model)
    results, sizes = {}, {}
    for corpus, split in CORPORA:
        docs = documents(corpus, split, args.data_dir, args.documents)
        labels = set(type_set(corpus).labels)
        tagger(docs[0]["text"][:200])  # warm: token tables, bf16 copies
        answers, entry = {}, {}
        for name, options in SETTINGS.items():
            found, answers[name] = tag_documents(tagger, docs, options)
            entry[name] = scored(found, 0.0, docs, labels)
            del entry[name]["seconds"], entry[name]["seconds_per_document"]
            print(corpus, name, entry[name], flush=True)
        entry["answers_differing"] = {
            f"{a} / {b}": sum(x != y for x, y in zip(answers[a], answers[b], strict=True))
            for a, b in itertools.combinations(SETTINGS, 2)
        }
        sizes[corpus] = {"split": split, "documents": len(docs),
                         "answers": len(answers[next(iter(SETTINGS))])}  # fmt: skip
        results[corpus] = entry
        print(corpus, entry["answers_differing"], flush=True)
    default = results["ncbi_disease"]["drafted-tables auto"]
    save_result(
        f"decoder_agreement_{args.name}",
        {
            "model": args.model,
            "torch_threads": torch.get_num_threads(),
            "documents_per_call": 1,
            "data": sizes,
            "precision": default["precision"],
            "recall": default["recall"],
            "f1": default["f1"],
            "settings": {name: str(options) for name, options in SETTINGS.items()},
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
