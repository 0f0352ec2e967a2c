"""The README's result tables and the bundled model's card, written from ``benchmarks/results``.

Each table of the README that reports benchmark figures stands between two markers,
``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``, and is rendered here from the result
files named in :data:`TABLES` (nothing is re-run). The bundled model's card,
``model_cards/bioner-gemma-270m.md``, is rendered by :func:`hf_bioner.hub.bundled_model_card`
from the same files; its evaluation table and the README's share
:func:`hf_bioner.hub.evaluation_rows` and :func:`hf_bioner.hub.markdown_table`.

    python benchmarks/readme_tables.py            # print every table, by name
    python benchmarks/readme_tables.py --write    # rewrite README.md and the card
    python benchmarks/readme_tables.py --check    # exit 1, with a diff, where they differ

``tests/test_readme_tables.py`` runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from common import RESULTS
from compare_runs import runs_table
from results_table import NAMES, cell, load, results_table

from hf_bioner.hub import (
    BUNDLED_CARD,
    BUNDLED_RESULTS,
    CORPUS_NAMES,
    bundled_model_card,
    markdown_table,
)
from hf_bioner.scoring import prf

README = Path(__file__).resolve().parents[1] / "README.md"
CORPORA = ("ncbi_disease", "bc5cdr", "jnlpba", "cmeee")  # the README's order
MARKERS = re.compile(
    r"(?P<open><!-- results:(?P<name>[a-z0-9-]+) -->\n).*?(?P<close><!-- /results:(?P=name) -->)",
    re.S,
)


def percent(value: float) -> str:
    return f"{100 * value:.1f}"


def scores3(scores: dict) -> str:
    """F1 (P / R) as fractions with three decimals, as training logs its dev evaluations."""
    return f"{scores['f1']:.3f} ({scores['precision']:.3f} / {scores['recall']:.3f})"


def bundled_full_sets(results: Path) -> str:
    """The bundled model on every unit of the evaluation sets, beside spaCy and the paper."""
    return results_table(
        [results / f"eval_{BUNDLED_RESULTS}-{c}.json" for c in CORPORA],
        [results / f"selector_ablation_{BUNDLED_RESULTS}-{c}.json" for c in CORPORA],
        [results / f"eval_spacy-{c}.json" for c in CORPORA],
        peer_name="spaCy",
    )


def previous_bundled(results: Path) -> str:
    """The previous bundled model (LoRA r16) on 200 sentences per corpus, beside MiniLM."""
    return results_table([results / "eval_gemma-joint-inline-200.json"],
                         [results / "selector_ablation_gemma-joint-inline.json"],
                         [results / "eval_minilm.json"], peer_name="MiniLM", speeds=False)  # fmt: skip


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def bundled_training(results: Path) -> str:
    """The bundled model's dev F1 during training, pooled and per corpus, each session's end
    named."""
    record = load(results / f"train_{BUNDLED_RESULTS}.json")
    ends = {s["steps"][1]: f"{ORDINALS[i]} session's end"
            for i, s in enumerate(record.get("sessions", [])[:-1])}  # fmt: skip
    ends[record["steps"]] = "end"
    rows = [[f"{p['step']} ({ends[p['step']]})" if p["step"] in ends else p["step"], scores3(p),
             *(f"{p['corpora'][c]:.3f}" for c in CORPORA)]
            for p in record["dev_f1_curve"]]  # fmt: skip
    return markdown_table(["step", "pooled F1 (P / R)", *(CORPUS_NAMES[c] for c in CORPORA)], rows)


def spacy(results: Path) -> str:
    """spaCy's CNN NER per corpus on the full evaluation sets: F1, speed, how training ended."""
    rows = []
    for corpus in CORPORA:
        result = load(results / f"eval_spacy-{corpus}.json")
        scores, sizes = result["corpora"][corpus], result["data"][corpus]
        training = scores["training"]
        ended = f"{training['train_seconds']:.0f} s, "
        if training["stopped"] == "patience":
            ended += "stopped by patience"
        else:
            ended += f"{result['training']['max_minutes']:g}-minute budget"
            if training["best_epoch"] == training["epochs"]:
                ended += f", still improving at epoch {training['epochs']}"
            else:
                ended += f" (best epoch {training['best_epoch']} of {training['epochs']})"
        name = f"{CORPUS_NAMES[corpus]} ({sizes['units']:,} {sizes['split']})"
        rows.append([name, cell(scores), f"{scores['sentences_per_second']:.0f}", ended])
    return markdown_table(["corpus", "spaCy F1 (P / R)", "sentences/s", "training"], rows)


TAG_SPEED_RESULTS = f"{BUNDLED_RESULTS}-drafted"  # the newest run of tag_speed.py
SPEED_SETTINGS = {
    "pipeline": "pipeline as users call it (drafted-tables decoding, bf16 prompts and steps, selector)",
    "pipeline_no_selector": "pipeline without the selector",
    "pipeline_model_dtype_steps": 'the same with fp32 steps (`step_dtype="model"`)',
    "pipeline_logits_processor": "constraint as a logits processor in `model.generate`",
    "naive": "naive batched greedy `model.generate` (unconstrained)",
    "limit": "limit: one teacher-forced pass over prompt + gold answer",
}


def tag_speed(results: Path) -> str:
    """The bundled model's tagging speed per setting, against naive generation and the
    teacher-forced limit."""
    settings = load(results / f"tag_speed_{TAG_SPEED_RESULTS}.json")["settings"]
    naive, limit = (settings[k]["sentences_per_second"] for k in ("naive", "limit"))
    rows = []
    for key, setting in settings.items():
        rate = setting["sentences_per_second"]
        f1 = f"{setting['f1']:.3f}" if "f1" in setting else ""
        rows.append([SPEED_SETTINGS.get(key, key), f"{rate:.2f}", f1, f"{rate / naive:.2f}x",
                     f"{rate / limit:.2f}x"])  # fmt: skip
    return markdown_table(["setting", "sentences/s", "F1", "vs naive", "vs limit"], rows)


RECIPE_SETTINGS = {
    "today": "today (LoRA r16, full vocabulary, full prompts)",
    "completion-vocabulary": "completion vocabulary",
    "short-prompts": "short prompts",
    "completion-vocabulary+short-prompts": "both (LoRA r16)",
    "new-lora-r64": "both, LoRA r64",
    "new-full-non-embedding": "both, full fine-tuning of the non-embedding weights",
}


def recipe_speed(results: Path) -> str:
    """Training speed and memory of the CPU recipe's levers, one setting per process."""
    rows = [[RECIPE_SETTINGS.get(r["setting"], r["setting"]), r["useful_tokens_per_second"],
             f"{r['useful_speedup_vs_today']:.2f}x", f"{r['peak_rss_mib'] / 1024:.1f} GiB"]
            for r in load(results / "train_speed_recipe.json")["results"]]  # fmt: skip
    return markdown_table(["setting", "useful tokens/s", "vs today", "peak memory"], rows)


RECIPE_RUNS = ("train_recipe-lora-r64-40min.json", "train_recipe-full-40min.json")
EARLY_STEP = 100


def recipe_runs(results: Path) -> str:
    """LoRA r64 against full fine-tuning, each stopped after 40 minutes: dev F1 at step
    100 and at the stop (the better in bold)."""
    runs = [load(results / name) for name in RECIPE_RUNS]
    best = max(run["f1"] for run in runs)
    rows = []
    for run in runs:
        config = run["training_config"]
        rate = f"lr {config['learning_rate']:.0e}".replace("e-0", "e-")
        recipe = (f"LoRA r{config['lora_r']}, alpha {config['lora_alpha']}, {rate}"
                  if config["lora"] else
                  f"full fine-tune of the non-embedding weights, {rate}")  # fmt: skip
        (early,) = (p["f1"] for p in run["dev_f1_curve"] if p["step"] == EARLY_STEP)
        stop = f"{run['f1']:.3f}"
        rows.append([recipe, run["steps"], f"{early:.3f}",
                     f"**{stop}**" if run["f1"] == best else stop])  # fmt: skip
    header = ["recipe", f"steps in {runs[0]['training_config']['max_minutes']:g} minutes",
              f"dev strict F1 at step {EARLY_STEP}", "at the stop"]  # fmt: skip
    return markdown_table(header, rows)


CONFLICT_RULES = {
    "per_corpus": "per-corpus view (`corpus=`)",
    "all_types": "every type kept (`one_type_per_span=False`)",
    "arbiter": "type arbiter (the default)",
    "max-margin": "furthest above its threshold (the default without an arbiter)",
    "max-probability": "highest selector probability",
    "sentence-vote": "the set with more of the sentence's other entities",
    "first-type-set": "the first set in the config (BC5CDR)",
}


def type_conflicts(results: Path) -> str:
    """The previous model's rules for a span given two types, scored on each corpus's own
    types; the pipeline's rule (``pipeline_rule``) in bold."""
    result = load(results / "type_conflicts_gemma-joint-inline.json")
    default_rule, order = result["pipeline_rule"].split("/")
    corpora = list(result["results"])
    rows = []
    for rule, label in CONFLICT_RULES.items():
        key = rule if rule in ("per_corpus", "all_types") else f"{rule}/{order}"
        found = [result["results"][c][key] for c in corpora]
        several = [str(f["spans_with_several_types"]) for f in found]
        # F1 from the counts: the saved F1 is rounded to four decimals (0.4525 is 0.45247).
        row = [label, *(percent(prf(f["tp"], f["n_pred"], f["n_gold"])[2]) for f in found)]
        if rule == default_rule:
            row = [f"**{c}**" for c in row]
        rows.append([*row, " / ".join(several) if any(s != "0" for s in several) else "0"])
    header = ["rule", *(f"{NAMES[c]} F1" for c in corpora), "spans with several types"]
    return markdown_table(header, rows)


TRAINING_RUNS = {
    "gemma-ncbi-inline": "eval_gemma-ncbi-inline-200.json",
    "gemma-ncbi-paper": "eval_gemma-ncbi-paper-200.json",
    "gemma-cmeee-inline": "eval_gemma-cmeee-inline-200.json",
    "gemma-genia-inline": "eval_gemma-genia-inline-200.json",
    "gemma-joint-inline (previous bundled)": "eval_gemma-joint-inline-200.json",
}


def training_choices(results: Path) -> str:
    """One corpus vs the joint mix, ``paper`` vs ``inline``: LoRA r16 runs on 200 sentences."""
    runs = {label: load(results / name) for label, name in TRAINING_RUNS.items()}
    return runs_table(runs, corpora=["ncbi_disease", "cmeee", "genia"])


# The README's result tables, by marker name, in the README's order.
TABLES: dict[str, Callable[[Path], str]] = {
    "recipe-speed": recipe_speed,
    "recipe-runs": recipe_runs,
    "type-conflicts": type_conflicts,
    "bundled-full-sets": bundled_full_sets,
    "bundled-training": bundled_training,
    "previous-bundled": previous_bundled,
    "spacy": spacy,
    "tag-speed": tag_speed,
    "training-choices": training_choices,
}


def render_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` (the README) with every marked table rendered again from ``results``."""
    found = []

    def render(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise ValueError(f"README marker for an unknown table {name!r}; known: {list(TABLES)}")
        found.append(name)
        return f"{match['open']}\n{TABLES[name](results)}\n\n{match['close']}"

    rendered = MARKERS.sub(render, text)
    wrong = [name for name in TABLES if found.count(name) != 1]
    if wrong:
        raise ValueError(f"the README needs each of these tables once between its markers, "
                         f"<!-- results:NAME --> and <!-- /results:NAME -->: {wrong}")  # fmt: skip
    return rendered


def renderings(readme: Path = README, results: Path = RESULTS,
               card: Path | None = BUNDLED_CARD) -> dict[Path, str]:  # fmt: skip
    """What the README (and the bundled model's card, unless ``card`` is None) should hold."""
    wanted = {readme: render_readme(readme.read_text(encoding="utf-8"), results)}
    if card is not None:
        wanted[card] = bundled_model_card(results)
    return wanted


def differences(readme: Path = README, results: Path = RESULTS,
                card: Path | None = BUNDLED_CARD) -> str:  # fmt: skip
    """A unified diff from the files to their rendering; empty when they agree."""
    return "".join(
        line
        for path, text in renderings(readme, results, card).items()
        for line in difflib.unified_diff(
            path.read_text(encoding="utf-8").splitlines(keepends=True),
            text.splitlines(keepends=True),
            str(path),
            f"{path} rendered from {results}",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the README and the card")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 with a diff where the README or the card differ")  # fmt: skip
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the result files")
    parser.add_argument("--card", type=Path, default=BUNDLED_CARD, help="the bundled model's card")
    parser.add_argument("--no-card", action="store_true", help="the README only")
    args = parser.parse_args(argv)
    card = None if args.no_card else args.card
    if args.check:
        diff = differences(args.readme, args.results, card)
        if diff:
            sys.stdout.write(diff)
            print("out of date: run python benchmarks/readme_tables.py --write", file=sys.stderr)
            return 1
        return 0
    if args.write:
        for path, text in renderings(args.readme, args.results, card).items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        return 0
    for name, table in TABLES.items():
        print(f"<!-- results:{name} -->\n{table(args.results)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
