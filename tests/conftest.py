"""Shared fixtures: where the corpora are, and cached reads of them.

Tests that need the full corpora take the ``corpora_dir`` fixture. It looks in
``$HF_BIONER_DATA`` and then ``../shared/corpora`` beside the repository. Without corpora
those tests skip, with the reason, unless ``HF_BIONER_REQUIRE_CORPORA=1`` (set by CI), which
turns the skip into a failure.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from hf_bioner.models import PACKAGED_MODELS

SMOLLM2 = PACKAGED_MODELS["smollm2-135m"]
REPO = Path(__file__).resolve().parent.parent
FIXTURE_CORPORA = REPO / "tests" / "fixtures" / "corpora"


def find_corpora() -> Path | None:
    candidates = [os.environ.get("HF_BIONER_DATA"), REPO.parent / "shared" / "corpora"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "ncbi_disease").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    found = find_corpora()
    if found is None:
        reason = "full corpora not found (set HF_BIONER_DATA or put them in ../shared/corpora)"
        if os.environ.get("HF_BIONER_REQUIRE_CORPORA") == "1":
            pytest.fail(reason + " and HF_BIONER_REQUIRE_CORPORA=1")
        pytest.skip(reason)
    return found


@functools.cache
def cached_records(name: str, split: str, data_dir: str, unit: str = "sentence") -> tuple:
    """Corpus records read once per test session (reading GENIA takes seconds)."""
    from hf_bioner.corpora import load_records

    return tuple(load_records(name, split, data_dir, unit))


@pytest.fixture(scope="session")
def corpus_records(corpora_dir):
    """``corpus_records(name, split, unit="sentence")`` -> tuple of records from the full corpora."""
    return lambda name, split, unit="sentence": cached_records(name, split, str(corpora_dir), unit)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A local model folder: real SmolLM2 tokenizer, tiny random Llama."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(SMOLLM2.gguf_folder(), gguf_file=SMOLLM2.gguf_file)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def tiny_config(tmp_path, base, **overrides):
    """A TrainConfig of a few seconds on the fixture corpora (options override)."""
    from hf_bioner.training import TrainConfig

    options = dict(
        output_dir=str(tmp_path / "run"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        base=base,
        corpora=["ncbi_disease", "cmeee"],
        data_dir=str(FIXTURE_CORPORA),
        max_steps=4,
        batch_size=2,
        eval_size=2,
        eval_steps=2,
        save_steps=2,
        logging_steps=1,
        learning_rate=1e-2,
        max_length=1024,
    )
    options.update(overrides)
    return TrainConfig(**options)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_base):
    """A few LoRA steps of a tiny model on English and Chinese fixtures, inline scheme."""
    from hf_bioner.training import train

    folder = tmp_path_factory.mktemp("bioner")
    train(tiny_config(folder, tiny_base, scheme="inline", max_steps=2, eval_size=0))
    return str(folder / "run")
