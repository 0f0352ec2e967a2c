"""The Gradio Space, driven in a real headless Chromium (Debian's) with the bundled model.

The app runs as it would on a Space: a separate process on 127.0.0.1 with analytics off.
The browser types an English and a Chinese sentence, clicks Tag, and reads what a person
sees: the nested highlights and the entity table. Screenshots go to the test's temp folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
ENGLISH = "Mutations in BRCA1 cause breast cancer and ovarian cancer."
CHINESE = "患者出现发热、咳嗽，诊断为肺炎。"


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


def entities_shown(page) -> list[tuple[str, str]]:
    """(type, text) of each highlighted entity, its type label taken off the text."""
    shown = []
    for mark in page.locator("#nested mark.bioner-entity").all():
        label = mark.get_attribute("data-type")
        text = mark.inner_text()
        shown.append((label, text))
    return shown


def test_space_tags_english_and_chinese_in_a_browser(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.goto(app_url)
        page.wait_for_selector("#status:has-text('Model ready')", timeout=600_000)
        for name, sentence in [("english", ENGLISH), ("chinese", CHINESE)]:
            page.fill("#input-text textarea", sentence)
            page.click("#tag-button")
            page.wait_for_function(
                "s => { const d = document.querySelector('#nested .bioner-text');"
                " return d && d.dataset.text === s; }",
                arg=sentence,
                timeout=300_000,
            )
            page.wait_for_timeout(500)  # let the table and highlights finish drawing
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            shown = entities_shown(page)
            assert shown, f"no entity highlighted in {sentence!r}"
            rows = page.locator("#table [role=row].virtual-row").all()
            table = [[c.inner_text().strip() for c in row.locator("[role=gridcell]").all()]
                     for row in rows]  # fmt: skip
            assert len(table) >= len(shown)
            for label, text in shown:
                # The mark's text ends with its type label (a <sup>): the rest is the entity.
                assert text.endswith(label)
            for entity_type, word, start, end, _score in (r[:5] for r in table):
                assert sentence[int(start) : int(end)] == word and entity_type
            assert any(sentence[int(r[2]) : int(r[3])] == r[1] for r in table)
        # A file of documents, tagged for download as JSON Lines.
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
        rows = [json.loads(line) for line in lines]
        assert [r["text"] for r in rows] == [ENGLISH, CHINESE]
        for row in rows:
            assert all(row["text"][e["start"] : e["end"]] == e["word"] for e in row["entities"])
        browser.close()
    assert (tmp_path / "english.png").stat().st_size > 10_000
