"""A results table of a generator, built from saved benchmark results (nothing is re-run).

Columns: the generator alone (``evaluate_model.py``), the generator with its selector
(``selector_ablation.py``, the same generated entities re-scored), optionally a peer
(``baseline_spacy.py`` or ``baseline_token_classifier.py``, scored on the same units) with
its tagging speed, and the paper's reported F1. The README's tables of the bundled and the
previous bundled model are this table (``readme_tables.py`` writes them).

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
from collections.abc import Sequence
from pathlib import Path

from common import RESULTS

from hf_bioner.hub import evaluation_rows, markdown_table, read_ablation_results, read_eval_results
from hf_bioner.scoring import prf

NAMES = {"ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR", "jnlpba": "JNLPBA",
         "cmeee": "CMeEE (dev)", "genia": "GENIA"}  # fmt: skip


def load(name: str | Path) -> dict:
    """A result file: a name in ``benchmarks/results`` or a path."""
    return json.loads((RESULTS / name).read_text())


def cell(scores: dict | None) -> str:
    if not scores:
        return "–"
    return (
        f"{100 * scores['f1']:.1f} ({100 * scores['precision']:.1f} / {100 * scores['recall']:.1f})"
    )


def peer_corpora(names: Sequence[str | Path]) -> dict:
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


def results_table(evals: Sequence[str | Path], ablations: Sequence[str | Path] = (),
                  peers: Sequence[str | Path] = (), peer_name: str = "peer",
                  speeds: bool = True) -> str:  # fmt: skip
    """The table of the generator's ``eval_*.json`` (one file, or one per corpus), with the
    selector's ``selector_ablation_*.json`` and a peer's ``eval_*.json`` (names in
    ``benchmarks/results``, or paths); ``speeds=False`` leaves out the sentences/s columns."""
    results = read_eval_results([RESULTS / name for name in evals])
    ablation = read_ablation_results([RESULTS / name for name in ablations]) or {}
    peer = peer_corpora(peers)
    rows = evaluation_rows(results, ablation)
    header = ["corpus", "sentences", "generator F1 (P / R)", "+ selector"]
    header += ["our sentences/s (generator / + selector)"] * speeds
    if peers:
        header += [f"{peer_name} F1 (P / R)"] + [f"{peer_name} sentences/s"] * speeds
    header.append("paper F1")
    lines = []
    for row in rows:
        corpus = row["corpus"]
        selected = (ablation.get("corpora") or {}).get(corpus)
        line = [NAMES.get(corpus, corpus), row["sentences"], cell(row["generator"]),
                cell(row["selector"])]  # fmt: skip
        if speeds:
            line.append(speed(row["generator"], selected, ablation["ms_per_entity"].get(corpus)
                              if ablation else None))  # fmt: skip
        if peers:
            rate = (peer.get(corpus) or {}).get("sentences_per_second")
            line += [cell(peer.get(corpus))] + [rate or "–"] * speeds
        lines.append([*line, row["paper_f1"] or "–"])
    corpora = [row["corpus"] for row in rows]
    with_selector = pooled([row["selector"] for row in rows])
    if with_selector is None and set(ablation.get("corpora") or ()) == set(corpora):
        with_selector = ablation["pooled"]  # one ablation file over exactly these corpora
    line = ["pooled", str(sum(row["sizes"]["units"] for row in rows)),
            cell(pooled([row["generator"] for row in rows])), cell(with_selector)]  # fmt: skip
    line += [""] * speeds
    if peers:
        line += [cell(pooled([peer.get(c) for c in corpora]))] + [""] * speeds
    lines.append([*line, ""])
    return markdown_table(header, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="+", required=True, help="eval_*.json of the generator")
    parser.add_argument("--ablation", nargs="*", default=[], help="selector_ablation_*.json")
    parser.add_argument("--peer", nargs="*", default=[], help="eval_*.json of a peer tagger")
    parser.add_argument("--peer-name", default="peer", help="the peer's column title")
    parser.add_argument("--no-speeds", action="store_true", help="leave out sentences/s")
    args = parser.parse_args()
    print(results_table(args.eval, args.ablation, args.peer, args.peer_name, not args.no_speeds))


if __name__ == "__main__":
    main()
