"""The hf-bioner corpora as an importable `datasets` builder.

Modern `datasets` no longer runs loading scripts from the Hub, so this is a plain builder
class: import it and build, with the corpus as the config name::

    from dataset_scripts.bioner_corpora import BioNerCorpora
    builder = BioNerCorpora(config_name="ncbi_disease", data_dir="../shared/corpora",
                            cache_dir="/tmp/hf-datasets")
    builder.download_and_prepare()
    dataset = builder.as_dataset()        # DatasetDict: train / dev / test

``data_dir`` is the corpora folder (the layout of ``hf_bioner.corpora.download``); without it,
the corpora are downloaded from their public sources into the hf-bioner cache. Records follow
``hf_bioner.schema``: character offsets, ``end`` exclusive, nested entities kept. To publish a
corpus as Parquet with a dataset card use ``hf-bioner corpora export NAME --out DIR``.
"""

from __future__ import annotations

import datasets

from hf_bioner.corpora import CORPORA, load_records
from hf_bioner.corpora.document import UNITS
from hf_bioner.schema import record_features


class BioNerCorporaConfig(datasets.BuilderConfig):
    """One corpus; ``unit`` is ``"sentence"`` (default) or ``"document"``."""

    def __init__(self, unit: str = "sentence", **kwargs):
        super().__init__(**kwargs)
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; valid: {', '.join(UNITS)}")
        self.unit = unit


class BioNerCorpora(datasets.GeneratorBasedBuilder):
    """NCBI-disease, BC5CDR, JNLPBA, CMeEE (V1, V2 dev) and GENIA in one record schema."""

    BUILDER_CONFIG_CLASS = BioNerCorporaConfig
    BUILDER_CONFIGS = [
        BioNerCorporaConfig(name=name, description=spec.description)
        for name, spec in CORPORA.items()
    ]
    DEFAULT_CONFIG_NAME = "ncbi_disease"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=CORPORA[self.config.name].description,
            features=record_features(),
            homepage="https://github.com/hf-bioner/hf-bioner",
        )

    def _split_generators(self, dl_manager):
        # The hf-bioner readers locate (or download) and checksum the original files.
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"split": split})
            for split in CORPORA[self.config.name].splits
        ]

    def _generate_examples(self, split: str):
        for record in load_records(self.config.name, split, self.config.data_dir, self.config.unit):
            yield record["id"], record
