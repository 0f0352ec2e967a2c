"""The README's results table, built from saved benchmark results (nothing is re-run).

Columns: the generator alone (``evaluate_model.py``), the generator with its selector
(``selector_ablation.py``, the same generated entities re-scored), optionally a peer
(``baseline_spacy.py`` or ``baseline_token_classifier.py``, scored on the same units) with
its tagging speed, and the paper's reported F1.

Each option takes one or more files, so a corpus evaluated in its own run (the full sets
are hours of CPU each) joins the others here. The pooled row is micro F1 over the corpora's
summed per-type counts. "sentences/s" of the generator is what ``evaluate_model.py``
measured (batched generation, no selector); "with selector" adds the selector's measured
milliseconds per entity for the entities it scored on that corpus.

    python benchmarks/results_table.py --eval eval_gemma-joint-inline-200.json \\
        --ablation selector_ablation_gemma-joint-inline.json --peer eval_minilm.json
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS

from hf_bioner.hub import PAPER_F1, read_eval_results
from hf_bioner.scoring import prf

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


def ablation_corpora(names: list[str]) -> tuple[dict, dict]:
    """Per-corpus selector results, and each corpus's selector cost in ms per entity."""
    corpora, ms = {}, {}
    for result in map(load, names):
        corpora.update(result["corpora"])
        ms.update(dict.fromkeys(result["corpora"], result["ms_per_entity"]))
    return corpora, ms


def peer_corpora(names: list[str]) -> dict:
    return {c: s for result in map(load, names) for c, s in result["corpora"].items()}


def pooled(per_corpus: list[dict]) -> dict | None:
    """Micro P/R/F1 over corpora from their per-type counts (None if any is missing)."""
    if not per_corpus or any(s is None or "per_type" not in s for s in per_corpus):
        return None
    counts = [t for s in per_corpus for t in s["per_type"].values()]
    if any("tp" not in t for t in counts):
        return None
    precision, recall, f1 = prf(
        *(sum(t[k] for t in counts) for k in ("tp", "predicted", "support"))
    )
    return {"precision": precision, "recall": recall, "f1": f1}


def speed(generator: dict, ablation: dict | None, ms_per_entity: float | None) -> str:
    """Sentences/s of the generator, and with the selector's measured cost added."""
    rate = generator.get("sentences_per_second")
    if not rate:
        return "–"
    if not ablation or ms_per_entity is None:
        return f"{rate:.2f}"
    units = ablation["units"]
    seconds = units / rate + ablation["predicted_entities"]["candidates"] * ms_per_entity / 1000
    return f"{rate:.2f} / {units / seconds:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="+", required=True, help="eval_*.json of the generator")
    parser.add_argument("--ablation", nargs="*", default=[], help="selector_ablation_*.json")
    parser.add_argument("--peer", nargs="*", default=[], help="eval_*.json of a peer tagger")
    parser.add_argument("--peer-name", default="peer", help="the peer's column title")
    args = parser.parse_args()
    merged = read_eval_results([RESULTS / name for name in args.eval])
    generator, sizes = merged["corpora"], merged["data"]
    ablation, ms = ablation_corpora(args.ablation)
    peer = peer_corpora(args.peer)

    print(f"| corpus | sentences | generator F1 (P / R) | + selector | our sentences/s "
          f"(generator / + selector) | {args.peer_name} F1 (P / R) | {args.peer_name} "
          f"sentences/s | paper F1 |")  # fmt: skip
    print("|---" * 8 + "|")
    for corpus, scores in generator.items():
        size = sizes[corpus]
        units = f"{size['units']}" + ("" if size["units"] == size["units_in_split"] else
                                      f" of {size['units_in_split']}")  # fmt: skip
        selected = ablation.get(corpus)
        peer_scores = peer.get(corpus)
        peer_speed = (peer_scores or {}).get("sentences_per_second")
        print(f"| {NAMES.get(corpus, corpus)} | {units} | {cell(scores)} "
              f"| {cell(selected and selected['with'])} | {speed(scores, selected, ms.get(corpus))} "
              f"| {cell(peer_scores)} | {peer_speed if peer_speed else '–'} "
              f"| {PAPER_F1.get(corpus, '–')} |")  # fmt: skip
    corpora = list(generator)
    with_selector = pooled([(ablation.get(c) or {}).get("with") for c in corpora])
    peer_pooled = pooled([peer.get(c) for c in corpora])
    print(f"| pooled | {sum(sizes[c]['units'] for c in corpora)} "
          f"| {cell(pooled([generator[c] for c in corpora]))} | {cell(with_selector)} | "
          f"| {cell(peer_pooled)} | | |")  # fmt: skip


if __name__ == "__main__":
    main()
