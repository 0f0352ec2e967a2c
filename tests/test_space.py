"""The Gradio Space, driven in a real headless Chromium (Debian's) with the bundled model.

The app runs as it would on a Space: a separate process on 127.0.0.1 with analytics off.
The browser types English, Chinese and mixed text, clicks Tag, and reads what a person
sees: the type filter, the legend, the nested highlights and the entity table. Types must
read as names ("Disease (疾病)") there, while the download keeps the stable codes ("dis").
Screenshots go to each test's temp folder.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from hf_bioner.schema import readable_type_name
from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
ENGLISH = "Mutations in BRCA1 cause breast cancer and ovarian cancer."
CHINESE = "患者出现发热、咳嗽，诊断为肺炎。"
MIXED_ENGLISH = "BRCA1 and BRCA2 mutations increase the risk of breast and ovarian cancer."
MIXED_CHINESE = "患者有2型糖尿病，服用二甲双胍。"
# The bundled model's codes: English corpora (NCBI-disease, BC5CDR, JNLPBA) and CMeEE.
ENGLISH_CODES = {"Disease", "Chemical", "protein", "DNA", "RNA", "cell_type", "cell_line"}
CMEEE_CODES = {"dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic"}
# How a CMeEE type reads: an English name, then the Chinese category in brackets.
CMEEE_NAME = re.compile(r"^[A-Z][a-z]+( [a-z]+)* \([\u4e00-\u9fff]+\)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    port = free_port()
    log = tmp_path_factory.mktemp("space") / "app.log"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    env.pop("BIONER_MODEL", None)  # the bundled default model
    with open(log, "w") as out:
        app = subprocess.Popen([sys.executable, str(REPO / "spaces" / "app.py")], env=env,
                               stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if app.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
                time.sleep(1)
        yield url
    finally:
        app.terminate()
        app.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page (default filters) once the model is loaded."""
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    page.goto(app_url)
    page.wait_for_selector("#status:has-text('Model ready')", timeout=600_000)
    yield page
    page.close()


@dataclass
class Row:
    """One row of the entity table."""

    name: str
    code: str
    word: str
    start: int
    end: int


def tag(page, text: str) -> None:
    """Type ``text``, click Tag, and wait until its highlights are drawn."""
    page.fill("#input-text textarea", text)
    page.click("#tag-button")
    page.wait_for_function(
        "s => { const d = document.querySelector('#nested .bioner-text');"
        " return d && d.dataset.text === s; }",
        arg=text,
        timeout=300_000,
    )
    page.wait_for_timeout(500)  # let the table and the legend finish drawing


def set_threshold(page, value: float) -> None:
    box = page.locator("#threshold input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def entities_shown(page) -> list[tuple[str, str, str]]:
    """(code, name, text) of each highlight: its code, the type name it shows, its text."""
    shown = []
    for mark in page.locator("#nested mark.bioner-entity").all():
        name = mark.locator(":scope > sup.bioner-type").inner_text()
        shown.append((mark.get_attribute("data-type"), name, mark.inner_text()))
    return shown


def table_rows(page) -> list[Row]:
    rows = []
    for row in page.locator("#table [role=row].virtual-row").all():
        cells = [c.inner_text().strip() for c in row.locator("[role=gridcell]").all()]
        rows.append(Row(cells[0], cells[1], cells[2], int(cells[3]), int(cells[4])))
    return rows


def legend(page) -> list[str]:
    items = page.locator("#highlighted [data-testid='highlighted-text:category-legend'] button")
    return [item.inner_text().strip() for item in items.all()]


def type_filter(page) -> dict[str, str]:
    """The type checkboxes: the name a person reads -> the code the filter passes on."""
    boxes = page.locator("#types label")
    return {b.inner_text().strip(): b.locator("input").get_attribute("name") for b in boxes.all()}


def check_what_a_person_reads(page, text: str) -> list[Row]:
    """The highlights, the table and the legend show readable names for the same codes."""
    shown = entities_shown(page)
    assert shown, f"no entity highlighted in {text!r}"
    for code, name, mark_text in shown:
        assert name == readable_type_name(code)
        assert mark_text.endswith(name)  # the name follows the entity's text
    rows = table_rows(page)
    assert len(rows) >= len(shown)
    for row in rows:
        assert text[row.start : row.end] == row.word
        assert row.name == readable_type_name(row.code)
    assert sorted(legend(page)) == sorted({row.name for row in rows})
    return rows


def test_space_tags_english_and_chinese_in_a_browser(page, tmp_path):
    # The page says where the model runs (this machine has no GPU).
    assert page.inner_text("#status").endswith("with its selector, on cpu).")
    choices = type_filter(page)
    assert choices["Disease (疾病)"] == "dis" and choices["Drug (药物)"] == "dru"
    assert choices["Protein"] == "protein" and choices["Cell line"] == "cell_line"
    assert set(choices.values()) == ENGLISH_CODES | CMEEE_CODES
    assert all(name == readable_type_name(code) for name, code in choices.items())
    assert not CMEEE_CODES & set(choices)  # no bare code to decipher
    for name, sentence in [("english", ENGLISH), ("chinese", CHINESE)]:
        tag(page, sentence)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        rows = check_what_a_person_reads(page, sentence)
    assert all(CMEEE_NAME.match(name) for name in legend(page)), legend(page)

    # Ticking a readable name filters the entities of its code, and only those.
    codes = {row.code for row in rows}
    assert len(codes) >= 2, f"one type only in {CHINESE!r}: the filter would hide nothing"
    code = min(codes, key=lambda c: sum(row.code == c for row in rows))
    page.locator("#types").get_by_label(readable_type_name(code), exact=True).check()
    page.wait_for_function(
        "c => { const m = [...document.querySelectorAll('#nested mark.bioner-entity')];"
        " return m.length > 0 && m.every(e => e.dataset.type === c); }",
        arg=code,
        timeout=60_000,
    )
    page.wait_for_timeout(500)
    filtered = table_rows(page)
    assert filtered == [row for row in rows if row.code == code]
    assert legend(page) == [readable_type_name(code)]

    # A file of documents, tagged for download as JSON Lines: the codes, not the names.
    upload = tmp_path / "notes.txt"
    upload.write_text(ENGLISH + "\n\n" + CHINESE + "\n", encoding="utf-8")
    page.get_by_role("tab", name="File").click()
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    page.click("#file-button")
    page.wait_for_selector("#file-note:has-text('2 documents tagged')", timeout=300_000)
    page.screenshot(path=str(tmp_path / "file.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#download a").first.click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["text"] for d in documents] == [ENGLISH, CHINESE]
    entities = [(d["text"], e) for d in documents for e in d["entities"]]
    assert entities, "the download has no entity to check"
    for text, e in entities:
        assert text[e["start"] : e["end"]] == e["word"]
        assert e["entity_group"] in ENGLISH_CODES | CMEEE_CODES
    assert (tmp_path / "english.png").stat().st_size > 10_000


def test_space_mixed_english_and_chinese_text_gets_each_sentences_types(page, tmp_path):
    """Language is detected per sentence: the Chinese sentence of an English text gets
    CMeEE's types (drug, disease), never the English corpora's (protein, Chemical)."""
    text = f"{MIXED_ENGLISH} {MIXED_CHINESE}"
    set_threshold(page, 0)  # every entity the model found, whatever its selector score
    tag(page, text)
    page.screenshot(path=str(tmp_path / "mixed.png"), full_page=True)
    rows = check_what_a_person_reads(page, text)
    boundary = text.index(MIXED_CHINESE)
    english = [row for row in rows if row.end <= boundary]
    chinese = [row for row in rows if row.start >= boundary]
    assert len(english) + len(chinese) == len(rows), "an entity crosses the two sentences"
    assert english and chinese, f"both sentences need entities to check: {rows}"
    assert {row.code for row in english} <= ENGLISH_CODES, english
    assert {row.code for row in chinese} <= CMEEE_CODES, chinese
    assert all(CMEEE_NAME.match(row.name) for row in chinese), chinese
    assert not any(CMEEE_NAME.match(row.name) for row in english), english

    # What the bundled model finds there (checked): the drug, and the disease or its head.
    def names_over(word: str) -> set[str]:
        start = text.index(word)
        return {row.name for row in chinese if row.start < start + len(word) and row.end > start}

    assert names_over("二甲双胍") == {"Drug (药物)"}, chinese
    assert names_over("2型糖尿病") == {"Disease (疾病)"}, chinese
