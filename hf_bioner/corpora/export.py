"""Export a corpus as Parquet files with a dataset card, ready for ``push_to_hub``.

The folder it writes is a complete Hub dataset repository::

    OUT/README.md                 dataset card: YAML (configs, languages, tags) + description
    OUT/data/{split}.parquet      one file per split, the record schema of hf_bioner.schema

``datasets.load_dataset(OUT)`` reads it back (and so does the Hub after an upload).
"""

from __future__ import annotations

from pathlib import Path

from hf_bioner.corpora.loading import corpus_spec, load_corpus
from hf_bioner.schema import type_set

_CARD_BODY = """
# {name}

{description}

Converted by [hf-bioner](https://github.com/hf-bioner/hf-bioner) from the original files
into one record per {unit}, with character offsets (`end` exclusive) so that
`text[start:end] == entity["text"]`. `offset` is where the unit starts in its document.

## Splits

| split | units | mentions |
|---|---|---|
{rows}

## Entity types

{types}

## Fields

`id`, `doc_id`, `text`, `entities` (list of `start`, `end`, `type`, `text`), `language`,
`corpus`, `offset`.

## Source and license

See the original distribution of the corpus for its license and citation; this export
changes the format only, not the annotations.
"""


def export_corpus(
    name: str, out: str | Path, data_dir: str | Path | None = None, unit: str = "sentence"
) -> Path:
    """Write every split of corpus ``name`` as Parquet plus a dataset card into ``out``."""
    from huggingface_hub import DatasetCard, DatasetCardData

    spec = corpus_spec(name)
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    rows, configs = [], []
    for split in spec.splits:
        dataset = load_corpus(name, split, data_dir=data_dir, unit=unit)
        dataset.to_parquet(str(out / "data" / f"{split}.parquet"))
        mentions = sum(len(e) for e in dataset["entities"])
        rows.append(f"| {split} | {len(dataset)} | {mentions} |")
        configs.append({"split": split, "path": f"data/{split}.parquet"})
    card_data = DatasetCardData(
        language=[spec.language],
        task_categories=["token-classification"],
        task_ids=["named-entity-recognition"],
        tags=["biomedical", "ner", "nested-ner", "hf-bioner"],
        pretty_name=name,
        configs=[{"config_name": "default", "data_files": configs}],
    )
    types = "\n".join(f"- `{t.label}` ({t.name}): {t.definition}" for t in type_set(name).types)
    body = _CARD_BODY.format(
        name=name, description=spec.description, unit=unit, rows="\n".join(rows), types=types
    )
    card = DatasetCard(f"---\n{card_data.to_yaml()}\n---\n{body}")
    card.save(out / "README.md")
    return out
