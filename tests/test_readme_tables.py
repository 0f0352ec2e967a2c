"""The README's result tables and the bundled model's card are their rendering from
``benchmarks/results`` (``benchmarks/readme_tables.py``), and the check catches any drift."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import readme_tables  # noqa: E402

README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "results"
SCRIPT = REPO / "benchmarks" / "readme_tables.py"
# The bundled model's NCBI-disease row of the README's first results table.
NCBI_ROW = "| NCBI-disease | 878 | 85.1 (86.1 / 84.2) | 85.1 (86.1 / 84.2) | 2.97 / 2.07 |"


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO)  # fmt: skip


def test_the_readme_and_the_card_are_their_rendering_from_the_result_files():
    diff = readme_tables.differences(README, RESULTS, readme_tables.BUNDLED_CARD)
    assert diff == "", "run python benchmarks/readme_tables.py --write\n" + diff
    readme = README.read_text(encoding="utf-8")
    for name in readme_tables.TABLES:  # every table is between its markers, once
        assert readme.count(f"<!-- results:{name} -->") == 1
        assert readme.count(f"<!-- /results:{name} -->") == 1
    assert NCBI_ROW in readme


def test_the_check_finds_a_figure_edited_in_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    edited = NCBI_ROW.replace("85.1 (86.1", "85.2 (86.1", 1)
    readme.write_text(README.read_text(encoding="utf-8").replace(NCBI_ROW, edited, 1),
                      encoding="utf-8")  # fmt: skip
    found = check("--readme", str(readme), "--no-card")
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"-{edited}" in found.stdout and f"+{NCBI_ROW}" in found.stdout
    assert "readme_tables.py --write" in found.stderr
    # --write puts the figure back, and the copy is the README again.
    subprocess.run([sys.executable, str(SCRIPT), "--write", "--readme", str(readme), "--no-card"],
                   check=True, capture_output=True, timeout=300, cwd=REPO)  # fmt: skip
    assert readme.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")
    assert check("--readme", str(readme), "--no-card").returncode == 0


def test_the_check_finds_a_result_file_the_readme_and_card_no_longer_match(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    path = results / "eval_gemma-joint-r64-pass2-ncbi_disease.json"
    saved = json.loads(path.read_text())
    saved["decodings"][saved["main_decoding"]]["corpora"]["ncbi_disease"]["precision"] = 0.9
    path.write_text(json.dumps(saved))
    diff = readme_tables.differences(README, results, readme_tables.BUNDLED_CARD)
    assert f"-{NCBI_ROW}" in diff
    assert "+| NCBI-disease | 878 | 85.1 (90.0 / 84.2) |" in diff  # the README's table
    assert "+| NCBI-disease | test | 878 | 90.00 | 84.17 | 85.14 |" in diff  # the card's


def test_a_readme_without_a_tables_markers_is_refused():
    text = README.read_text(encoding="utf-8").replace("<!-- results:spacy -->", "", 1)
    with pytest.raises(ValueError, match=r"once between its markers.*: \['spacy'\]"):
        readme_tables.render_readme(text, RESULTS)
