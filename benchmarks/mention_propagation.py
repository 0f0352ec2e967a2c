"""Mention propagation chosen on development text: the default call's saved entities scored
without it and with it at several shortest names.

``default_call_evaluation.py --split dev`` saves the default call's entities for whole
development documents (tagged with ``propagate_mentions=False``); this script scores them
strictly as saved, and with :func:`hf_bioner.propagation.propagate_mentions` applied at each
``--min-chars``, per corpus, so that the setting the pipeline ships is chosen on text that
the reported test figures do not use. One result: ``results/mention_propagation_<name>.json``.

    python benchmarks/default_call_evaluation.py --data-dir ../shared/corpora \\
        --name gemma-joint-r64-pass2 --corpora ncbi_disease,bc5cdr --split dev --resume
    python benchmarks/mention_propagation.py --data-dir ../shared/corpora \\
        --run gemma-joint-r64-pass2 --corpora ncbi_disease,bc5cdr --split dev --name pass2-dev
"""

from __future__ import annotations

import argparse

from common import save_result, saved_rows
from default_call_evaluation import documents, propagated, strict_scores

from hf_bioner.paths import cache_dir
from hf_bioner.propagation import MIN_CHARS
from hf_bioner.schema import type_set


def scores(docs: list[dict], rows: dict[str, dict], labels: set[str], min_chars: int | None
           ) -> dict:  # fmt: skip
    """Strict scores of the ``labels`` entities, propagated at ``min_chars`` (None: as saved)."""

    def entities_of(doc: dict) -> list[dict]:
        entities = rows[doc["id"]]["entities"]
        return entities if min_chars is None else propagated(doc, entities, min_chars)

    result = strict_scores(docs, entities_of, labels)
    return {k: result[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--run", required=True,
                        help="the default_call_evaluation.py --name whose entities to score")  # fmt: skip
    parser.add_argument("--corpora", default="ncbi_disease,bc5cdr")
    parser.add_argument("--split", default="dev", help="the split that run tagged")
    parser.add_argument("--min-chars", default="2,3,4", help="shortest names propagated")
    parser.add_argument("--name", required=True, help="result: mention_propagation_<name>.json")
    args = parser.parse_args()

    settings = [None, *(int(n) for n in args.min_chars.split(","))]
    corpora, data = {}, {}
    for corpus in args.corpora.split(","):
        docs, data[corpus] = documents(corpus, args.data_dir, None, args.split)
        path = cache_dir() / "predictions" / f"default-call_{args.run}-{corpus}-{args.split}.jsonl"
        rows = saved_rows(str(path))
        missing = [d["id"] for d in docs if d["id"] not in rows]
        if missing:
            raise SystemExit(f"{path}: {len(missing)} of {len(docs)} documents not tagged yet")
        labels = set(type_set(corpus).labels)
        corpora[corpus] = {
            "none" if n is None else f"min_chars={n}": scores(docs, rows, labels, n)
            for n in settings
        }
        for setting, result in corpora[corpus].items():
            print(corpus, setting, {k: round(v, 4) for k, v in result.items()}, flush=True)
    shipped = f"min_chars={MIN_CHARS}"
    pooled = {setting: sum(corpora[c][setting]["f1"] for c in corpora) / len(corpora)
              for setting in next(iter(corpora.values()))}  # fmt: skip
    save_result(
        f"mention_propagation_{args.name}",
        {
            "model": f"the default call's saved entities of run {args.run}",
            "data": data,
            "shipped_setting": shipped,
            # The headline: the shipped setting, averaged over the corpora (macro F1).
            "precision": sum(corpora[c][shipped]["precision"] for c in corpora) / len(corpora),
            "recall": sum(corpora[c][shipped]["recall"] for c in corpora) / len(corpora),
            "f1": pooled[shipped],
            "mean_f1_by_setting": pooled,
            "corpora": corpora,
        },
    )


if __name__ == "__main__":
    main()
