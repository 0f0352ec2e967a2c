"""Training runs side by side: strict F1 of several evaluated models on the corpora they share.

Reads saved ``eval_*.json`` files (nothing is re-run) and prints one markdown row per run and
decoding: the run's training corpora and scheme, then F1 (P / R) and generated tokens per
sentence on each evaluated corpus. Used for the training issue's comparisons (one corpus vs
the bilingual joint mix, ``paper`` vs ``inline``).

    python benchmarks/compare_runs.py eval_gemma-ncbi-inline-200.json eval_gemma-joint-inline-200.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from results_table import NAMES, cell, load

from hf_bioner.hub import markdown_table


def trained_on(result: dict) -> str:
    """The corpora the evaluated model was trained on (saved with the result, or in the
    model's config when the model folder is here)."""
    corpora = result.get("trained_on")
    config = Path(__file__).resolve().parents[1] / result["model"] / "hf_bioner_config.json"
    if corpora is None and config.exists():
        corpora = json.loads(config.read_text())["corpora"]
    names = (NAMES.get(c, c).removesuffix(" (dev)") for c in corpora or ())
    return ", ".join(names) or "?"


def runs_table(results: Mapping[str, dict], corpora: Sequence[str] | None = None) -> str:
    """One row per run (``results``: a label and its ``eval_*.json``) and decoding; columns:
    ``corpora`` (default: every corpus a run was evaluated on)."""
    if corpora is None:
        corpora = list(dict.fromkeys(c for r in results.values()
                                     for d in r["decodings"].values() for c in d["corpora"]))  # fmt: skip
    rows = []
    for label, result in results.items():
        for decoding, scores in result["decodings"].items():
            cells = []
            for corpus in corpora:
                found = scores["corpora"].get(corpus)
                tokens = (found or {}).get("generated_tokens_per_sentence")
                cells.append(cell(found) + (f", {tokens}" if tokens is not None else ""))
            rows.append([label, trained_on(result), result["scheme"], decoding, *cells])
    header = ["run", "trained on", "scheme", "decoding",
              *(f"{NAMES.get(c, c)} F1 (P / R), tokens" for c in corpora)]  # fmt: skip
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="eval_*.json files in benchmarks/results")
    args = parser.parse_args()
    print(runs_table({name.removeprefix("eval_").removesuffix(".json"): load(name)
                      for name in args.results}))  # fmt: skip


if __name__ == "__main__":
    main()
