"""pipeline("bio-ner") on a tiny model trained here (real tokenizer, real TRL training)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hf_bioner  # noqa: F401  (registers the bio-ner task)
from hf_bioner.schema import BioNerInputError
from hf_bioner.training import TrainConfig, train
from tests.conftest import FIXTURE_CORPORA, REPO

ENGLISH = "BRCA1 mutations cause breast cancer. Ovarian cancer is rarer.\n\nAtaxia is not."
CHINESE = "患者有糖尿病。术后复查血常规。"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_base):
    """A few LoRA steps of a tiny model on English and Chinese fixtures, inline scheme."""
    folder = tmp_path_factory.mktemp("bioner")
    train(
        TrainConfig(
            output_dir=str(folder / "model"),
            checkpoint_dir=str(folder / "checkpoints"),
            base=tiny_base,
            corpora=["ncbi_disease", "cmeee"],
            scheme="inline",
            data_dir=str(FIXTURE_CORPORA),
            max_steps=2,
            batch_size=2,
            eval_size=0,
            max_length=1024,
        )
    )
    return str(folder / "model")


@pytest.fixture(scope="module")
def tagger(tiny_model):
    from transformers import pipeline

    return pipeline("bio-ner", model=tiny_model)


def test_pipeline_loads_by_task_name_and_tags_with_exact_offsets(tagger):
    from hf_bioner.pipeline import BioNerPipeline

    assert isinstance(tagger, BioNerPipeline) and tagger.scheme == "inline"
    entities = tagger(ENGLISH, max_new_tokens=48)
    assert isinstance(entities, list)
    for e in entities:
        assert set(e) == {"entity_group", "start", "end", "word", "score"}
        assert ENGLISH[e["start"] : e["end"]] == e["word"] and e["entity_group"] == "Disease"
    keys = [(e["start"], -e["end"]) for e in entities]
    assert keys == sorted(keys)


def test_sentences_languages_and_type_sets(tagger):
    english = tagger.preprocess(ENGLISH)
    assert [u["sentence"] for u in english["units"]] == [
        "BRCA1 mutations cause breast cancer.",
        "Ovarian cancer is rarer.",
        "Ataxia is not.",
    ]
    assert ENGLISH[english["units"][1]["offset"] :].startswith("Ovarian")
    chinese = tagger.preprocess(CHINESE)
    assert {u["type_set"].language for u in chinese["units"]} == {"zh"}
    assert "句子：患者有糖尿病。" in chinese["units"][0]["prompt"]
    forced = tagger.preprocess(CHINESE, language="en")
    assert {u["type_set"].language for u in forced["units"]} == {"en"}
    zero_shot = tagger.preprocess("IL-2 binds its receptor.", types={"Gene": "a gene or protein"})
    assert "- Gene: a gene or protein" in zero_shot["units"][0]["prompt"]


def test_a_bad_text_in_a_batch_loses_nothing_else(tagger):
    with pytest.warns(UserWarning, match="text 1: expected a string, got int"):
        results = tagger([ENGLISH, 42, "", CHINESE], max_new_tokens=32)
    assert len(results) == 4 and results[1] is None and results[2] is None
    assert isinstance(results[0], list) and isinstance(results[3], list)
    assert all(CHINESE[e["start"] : e["end"]] == e["word"] for e in results[3])


def test_bad_options_fail_clearly(tagger):
    with pytest.raises(BioNerInputError, match="unknown entity type.*Gene"):
        tagger(ENGLISH, types=["Gene"])
    with pytest.raises(BioNerInputError, match="language must be 'en' or 'zh'"):
        tagger(ENGLISH, language="fr")
    with pytest.raises(BioNerInputError, match="unknown bio-ner option"):
        tagger(ENGLISH, colour="red")
    with pytest.raises(BioNerInputError, match="the text is empty"):
        tagger("   ")


def test_registration_waits_for_transformers(tiny_model):
    """`import hf_bioner` stays light; the task exists once transformers.pipelines loads."""
    code = (
        "import sys, hf_bioner; assert 'transformers' not in sys.modules;"
        "from transformers import pipeline;"
        f"p = pipeline('bio-ner', model={tiny_model!r}); print(type(p).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "BioNerPipeline"
