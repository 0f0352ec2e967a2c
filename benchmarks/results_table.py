"""The README's results table, built from saved benchmark results (nothing is re-run).

Columns: the generator alone (``evaluate_model.py``), the generator with its selector
(``selector_ablation.py``, same generated entities), the MiniLM token-classifier baseline
(``baseline_token_classifier.py``, same evaluation sentences), and the paper's reported F1.

    python benchmarks/results_table.py --eval eval_gemma-joint-inline-200.json \\
        --ablation selector_ablation_gemma-joint-inline.json --baseline eval_minilm.json
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS

PAPER_F1 = {"ncbi_disease": 90.82, "bc5cdr": 88.86, "jnlpba": 75.33, "cmeee": 68.69}
NAMES = {"ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR", "jnlpba": "JNLPBA",
         "cmeee": "CMeEE (dev)", "genia": "GENIA"}  # fmt: skip


def load(name: str | None) -> dict | None:
    return json.loads((RESULTS / name).read_text()) if name else None


def cell(scores: dict | None) -> str:
    if not scores:
        return "–"
    return (
        f"{100 * scores['f1']:.1f} ({100 * scores['precision']:.1f} / {100 * scores['recall']:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", required=True, help="eval_*.json of the generator")
    parser.add_argument("--ablation", help="selector_ablation_*.json")
    parser.add_argument("--baseline", help="eval_*.json of the token-classifier baseline")
    args = parser.parse_args()
    generator, ablation, baseline = load(args.eval), load(args.ablation), load(args.baseline)
    per_corpus = generator["decodings"][generator["main_decoding"]]["corpora"]
    print("| corpus | sentences | generator F1 (P / R) | + selector | MiniLM baseline | paper F1 |")
    print("|---|---|---|---|---|---|")
    for corpus, scores in per_corpus.items():
        with_selector = ablation["corpora"].get(corpus, {}).get("with") if ablation else None
        base = baseline["corpora"].get(corpus) if baseline else None
        units = generator["data"][corpus]["units"]
        print(f"| {NAMES.get(corpus, corpus)} | {units} | {cell(scores)} | {cell(with_selector)} "
              f"| {cell(base)} | {PAPER_F1.get(corpus, '–')} |")  # fmt: skip
    pooled_selector = {k: ablation[k] for k in ("precision", "recall", "f1")} if ablation else None
    print(f"| pooled | {sum(d['units'] for d in generator['data'].values())} | {cell(generator)} "
          f"| {cell(pooled_selector)} | {cell(baseline)} | |")  # fmt: skip


if __name__ == "__main__":
    main()
