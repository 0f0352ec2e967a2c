"""pipeline("bio-ner") on a tiny model trained here (real tokenizer, real TRL training)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hf_bioner  # noqa: F401  (registers the bio-ner task)
from hf_bioner.schema import BioNerInputError
from tests.conftest import FIXTURE_CORPORA, REPO
from tests.known_answers import whole_sentence_tagger

ENGLISH = "BRCA1 mutations cause breast cancer. Ovarian cancer is rarer.\n\nAtaxia is not."
CHINESE = "患者有糖尿病。术后复查血常规。"


@pytest.fixture(scope="module")
def tagger(tiny_model):
    from transformers import pipeline

    return pipeline("bio-ner", model=tiny_model)


@pytest.fixture(scope="module")
def known_model(tiny_base, tmp_path_factory):
    """A model that tags every sentence whole (tests/known_answers.py): entities to check."""
    return whole_sentence_tagger(tmp_path_factory.mktemp("known"), tiny_base)


@pytest.fixture(scope="module")
def known_tagger(known_model):
    from transformers import pipeline

    return pipeline("bio-ner", model=known_model)


def test_pipeline_loads_by_task_name_and_tags_with_exact_offsets(known_tagger):
    from hf_bioner.pipeline import BioNerPipeline

    assert isinstance(known_tagger, BioNerPipeline) and known_tagger.scheme == "inline"
    entities = known_tagger(ENGLISH, max_new_tokens=48)
    # Each sentence, whole, in ENGLISH's own offsets (counted by hand), in order.
    assert entities == [
        {"entity_group": "Disease", "start": 0, "end": 36,
         "word": "BRCA1 mutations cause breast cancer.", "score": None},
        {"entity_group": "Disease", "start": 37, "end": 61,
         "word": "Ovarian cancer is rarer.", "score": None},
        {"entity_group": "Disease", "start": 63, "end": 77, "word": "Ataxia is not.",
         "score": None},
    ]  # fmt: skip


def test_sentences_languages_and_type_sets(tagger):
    english = tagger.units(ENGLISH)
    assert [u["sentence"] for u in english] == [
        "BRCA1 mutations cause breast cancer.",
        "Ovarian cancer is rarer.",
        "Ataxia is not.",
    ]
    assert ENGLISH[english[1]["offset"] :].startswith("Ovarian")
    chinese = tagger.units(CHINESE)
    assert {u["type_set"].language for u in chinese} == {"zh"}
    assert "句子：患者有糖尿病。" in chinese[0]["prompt"]
    forced = tagger.units(CHINESE, language="en")
    assert {u["type_set"].language for u in forced} == {"en"}
    one_corpus = tagger.units(ENGLISH, corpus="ncbi_disease")
    assert len(one_corpus) == 3
    zero_shot = tagger.units("IL-2 binds its receptor.", types={"Gene": "a gene or protein"})
    assert "- Gene: a gene or protein" in zero_shot[0]["prompt"]


def test_a_bad_text_in_a_batch_loses_nothing_else(known_tagger):
    with pytest.warns(UserWarning, match="a text of type int: expected a string, got int"):
        results = known_tagger([ENGLISH, 42, "", CHINESE], max_new_tokens=64)
    assert len(results) == 4 and results[1] is None and results[2] is None
    assert [e["word"] for e in results[0]] == [
        "BRCA1 mutations cause breast cancer.", "Ovarian cancer is rarer.", "Ataxia is not."
    ]  # fmt: skip
    # CHINESE's two sentences, whole, each with the one CMeEE type the known model writes
    # (临床表现, sym: each token of a tag depends on the token before alone, so every
    # sentence of a type set gets the same tag).
    assert [(e["start"], e["end"], e["word"], e["entity_group"]) for e in results[3]] == [
        (0, 7, "患者有糖尿病。", "sym"), (7, 15, "术后复查血常规。", "sym")
    ]  # fmt: skip


def test_bad_options_fail_clearly(tagger):
    with pytest.raises(BioNerInputError, match="unknown entity type.*Gene"):
        tagger(ENGLISH, types=["Gene"])
    with pytest.raises(BioNerInputError, match="language must be 'en' or 'zh'"):
        tagger(ENGLISH, language="fr")
    with pytest.raises(BioNerInputError, match="not trained on 'genia'"):
        tagger(ENGLISH, corpus="genia")
    with pytest.raises(BioNerInputError, match="unknown bio-ner option"):
        tagger(ENGLISH, colour="red")
    with pytest.raises(BioNerInputError, match="decoder must be one of"):
        tagger(ENGLISH, decoder="beam")
    with pytest.raises(
        BioNerInputError, match="step_dtype must be 'auto', 'model', 'int8' or a float dtype"
    ):
        tagger(ENGLISH, step_dtype="float99")
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


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hf_bioner.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, cwd=REPO)  # fmt: skip


def test_tag_cli_texts_files_and_formats(known_model, tmp_path):
    printed = run_cli("tag", "--model", known_model, "Ataxia is rare.", "患者有糖尿病。")
    assert printed.returncode == 0, printed.stderr
    # One line per entity: id, start, end, type, text; each text is one sentence, tagged whole.
    lines = [line.split("\t") for line in printed.stdout.splitlines()]
    assert [(f[0], f[1], f[2], f[-1]) for f in lines] == [
        ("1", "0", "15", "Ataxia is rare."), ("2", "0", "7", "患者有糖尿病。")
    ]  # fmt: skip
    # --corpus names the type sets prompted: CMeEE's alone (no English one named, so it is
    # used for English too), and the English sentence, tagged whole, gets CMeEE's type.
    chosen = run_cli("tag", "--model", known_model, "--corpus", "cmeee", "--format", "jsonl",
                     "Ataxia is rare.")  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert [e["entity_group"] for e in json.loads(chosen.stdout)["entities"]] == ["sym"]

    pubtator = FIXTURE_CORPORA / "ncbi_disease" / "NCBItestset_corpus.txt"
    out = tmp_path / "tagged.jsonl"
    result = run_cli("tag", "--model", known_model, "--input", str(pubtator), "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    from hf_bioner.corpora.pubtator import read_pubtator

    docs = read_pubtator(pubtator)
    assert [r["id"] for r in rows] == [d.doc_id for d in docs]
    assert [r["text"] for r in rows] == [d.text for d in docs]
    for row in rows:
        assert row["entities"], f"document {row['id']}: no entity"
        assert all(row["text"][e["start"] : e["end"]] == e["word"] for e in row["entities"])
        assert row["text"].startswith(row["entities"][0]["word"])  # the first sentence, whole

    back = tmp_path / "tagged.pubtator"
    result = run_cli("tag", "--model", known_model, "--input", str(out), "--output", str(back),
                     "--format", "pubtator")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [d.text for d in read_pubtator(back)] == [r["text"] + " " for r in rows]

    piped = run_cli("tag", "--model", known_model, "--dtype", "bfloat16", "--format", "jsonl",
                    stdin="Ataxia.\n\nLupus.\n")  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    piped_rows = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [r["text"] for r in piped_rows] == ["Ataxia.", "Lupus."]
    assert [[e["word"] for e in r["entities"]] for r in piped_rows] == [["Ataxia."], ["Lupus."]]


def test_tag_cli_errors_are_one_line(tiny_model, tmp_path):
    missing = run_cli("tag", "--model", tiny_model, "--input", str(tmp_path / "nope.txt"))
    assert "Loading" not in missing.stderr  # checked before any model loads
    assert missing.returncode == 2 and missing.stderr.strip().endswith(
        "nope.txt: no such file or folder"
    )
    not_a_model = run_cli("tag", "--model", str(tmp_path), "Ataxia.")
    assert not_a_model.returncode == 2 and "not an hf-bioner model" in not_a_model.stderr
    assert len(not_a_model.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Ataxia."}\n{"id": 2}\n')
    result = run_cli("tag", "--model", tiny_model, "--input", str(bad), "--format", "jsonl")
    assert result.returncode == 0 and "1 of 2 documents failed" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["entities"] is not None and rows[1]["entities"] is None
    assert rows[1]["error"] == "expected a string, got NoneType"
    unknown_corpus = run_cli("tag", "--model", tiny_model, "--corpus", "ncbi_disease,genia",
                             "Ataxia.")  # fmt: skip
    assert unknown_corpus.returncode == 2
    assert unknown_corpus.stderr.strip().splitlines()[-1] == (
        "hf-bioner: error: this model was not trained on 'genia'; it knows ncbi_disease, cmeee"
    )
    table_with_output = run_cli("tag", "--model", tiny_model, "--format", "table", "--output",
                                str(tmp_path / "x"), "Ataxia.")  # fmt: skip
    assert table_with_output.returncode == 2 and "--format table prints" in table_with_output.stderr


def test_tag_cli_folders_every_format_resume_and_processes(known_model, tmp_path):
    import bioc
    from bioc import biocjson, biocxml

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Ataxia is rare.\n\n患者有糖尿病。\n")
    (folder / "sub" / "b.jsonl").write_text('{"id": "x", "text": "Lupus nephritis."}\nnot json\n')
    (folder / "c.txt").write_bytes(b"\xff\xfe broken")  # not UTF-8: one error row, not a crash
    (folder / "ignored.bin").write_bytes(b"\x00")
    out = tmp_path / "all.jsonl"
    result = run_cli("tag", "--model", known_model, "--input", str(folder), "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a.txt:1", "a.txt:3", str(folder / "c.txt"), "b.jsonl:x",
                                       "b.jsonl:2"]  # fmt: skip
    assert [r["entities"] is None for r in rows] == [False, False, True, False, True]
    tagged = [[e["word"] for e in r["entities"]] for r in rows if r["entities"] is not None]
    assert tagged == [["Ataxia is rare."], ["患者有糖尿病。"], ["Lupus nephritis."]]
    assert "not UTF-8" in rows[2]["error"] and "invalid JSON" not in rows[4]["error"]

    # Resume: a cut-off run (last line half written) is completed, nothing tagged twice.
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:10])
    result = run_cli("tag", "--model", known_model, "--input", str(folder), "--output", str(out),
                     "--resume")  # fmt: skip
    assert result.returncode == 0 and "(2 already there)" in result.stderr
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in again] == [r["id"] for r in rows]

    texts = ["BRCA1 mutations cause breast cancer.", "患者有糖尿病。", "Lupus."]
    by_format = {}
    for fmt, name in [("bioc", "t.xml"), ("bioc-json", "t.json"), ("brat", "brat"),
                      ("pubtator", "t.pubtator")]:  # fmt: skip
        target = tmp_path / name
        result = run_cli("tag", "--model", known_model, *texts, "--format", fmt, "--output",
                         str(target))  # fmt: skip
        assert result.returncode == 0, result.stderr
        by_format[fmt] = target
    with open(by_format["bioc"], "rb") as f:
        xml = biocxml.load(f)
    with open(by_format["bioc-json"]) as f:
        js = biocjson.load(f)
    for collection in (xml, js):
        assert [d.passages[0].text for d in collection.documents] == texts
        for doc in collection.documents:
            passage = doc.passages[0]
            assert [a.text for a in passage.annotations] == [passage.text]  # tagged whole
            for a in passage.annotations:
                loc = a.total_span
                assert passage.text[loc.offset : loc.end] == a.text
    assert isinstance(xml, bioc.BioCCollection)
    for doc_id, text in zip("123", texts, strict=True):
        assert (by_format["brat"] / f"{doc_id}.txt").read_text() == text
        lines = (by_format["brat"] / f"{doc_id}.ann").read_text().splitlines()
        assert len(lines) == 1  # the sentence, tagged whole
        for line in lines:
            _tid, span, word = line.split("\t")
            _type, start, end = span.split()
            assert (int(start), int(end), word) == (0, len(text), text)

    # Two processes on shards give the same rows, in input order, as one process.
    two = tmp_path / "two.jsonl"
    result = run_cli("tag", "--model", known_model, "--input", str(folder), "--output", str(two),
                     "--num-proc", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in two.read_text().splitlines()] == again


def test_two_processes_resume_a_sharded_run_where_it_stopped(known_model, tmp_path):
    """--num-proc 2 --resume, after a run stopped with shard 0 written and shard 1 not: shard
    0's rows are kept as they are (one is marked by hand, and the mark survives), shard 1 is
    tagged, the merge is in input order; --resume on a merged output missing its last
    document tags only that one."""
    from hf_bioner.shards import shard_path

    texts = ["Ataxia is rare.", "患者有糖尿病。", "Lupus nephritis.", "Gout.", "糖尿病。"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                              for i, t in enumerate(texts)))  # fmt: skip
    out = tmp_path / "out.jsonl"
    first = run_cli("tag", "--model", known_model, "--input", str(source), "--format", "jsonl",
                    "--shard", "0/2", "--output", str(shard_path(out, 0, 2)))  # fmt: skip
    assert first.returncode == 0, first.stderr
    done = [json.loads(line) for line in shard_path(out, 0, 2).read_text().splitlines()]
    assert [row["id"] for row in done] == ["d0", "d2", "d4"]  # documents 0, 2, 4
    done[1]["entities"] = []  # a mark: re-tagging would bring its entity back
    shard_path(out, 0, 2).write_text("".join(json.dumps(row) + "\n" for row in done))

    result = run_cli("tag", "--model", known_model, "--input", str(source), "--output", str(out),
                     "--num-proc", "2", "--resume")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["d0", "d1", "d2", "d3", "d4"]
    assert [[e["word"] for e in row["entities"]] for row in rows] == [
        ["Ataxia is rare."], ["患者有糖尿病。"], [], ["Gout."], ["糖尿病。"]]  # fmt: skip
    assert not shard_path(out, 0, 2).exists() and not shard_path(out, 1, 2).exists()

    # The merged output is dealt back into shards: nothing is tagged again (the mark stays),
    # and a document missing from it (the last one, cut off) is tagged.
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-1]))
    again = run_cli("tag", "--model", known_model, "--input", str(source), "--output", str(out),
                    "--num-proc", "2", "--resume")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows


def test_long_sentences_are_cut_into_bounded_units():
    from hf_bioner.pipeline import bounded_units

    text = "word " * 300 + "end"
    pieces = bounded_units(text, 0, len(text), limit=100)
    assert all(e - s <= 100 for s, e in pieces)
    assert " ".join(text[s:e] for s, e in pieces) == text
    chinese = "糖" * 250
    assert bounded_units(chinese, 0, 250, limit=100) == [(0, 100), (100, 200), (200, 250)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.sampled_from([*"ab cd.。糖尿病\u0301\u3000！😀\t\n<>/\x00", "Lupus ", "<Disease>"]),
            max_size=20,
        ).map("".join),
        min_size=1,
        max_size=3,
    )
)
def test_any_text_gets_valid_offsets_or_none(known_tagger, texts):
    """Odd Unicode, control characters, mixed scripts, tag-like text: offsets stay exact."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = known_tagger(texts)
    assert len(results) == len(texts)
    for text, entities in zip(texts, results, strict=True):
        if not text.strip():
            assert entities is None
            continue
        # The known model opens a tag at the start of every sentence; only a sentence that
        # starts with "<" may be copied instead.
        if not text.strip().startswith("<"):
            assert entities, f"no entity in {text!r}"
        for e in entities:
            assert (
                0 <= e["start"] < e["end"] <= len(text) and text[e["start"] : e["end"]] == e["word"]
            )


# ---------------------------------------------------------------- one answer per span, mixed text

MIXED = (
    "BRCA1 and BRCA2 mutations increase the risk of breast and ovarian cancer. "
    "患者有2型糖尿病，服用二甲双胍。Tamoxifen reduces the risk."
)


def bundled_type_sets():
    from hf_bioner.model_format import type_sets_from_config
    from hf_bioner.pipeline import DEFAULT_MODEL

    return type_sets_from_config(json.loads((DEFAULT_MODEL / "hf_bioner_config.json").read_text()))


def test_covering_type_sets_prompt_each_distinct_type_once():
    from hf_bioner.schema import covering_type_sets

    sets = bundled_type_sets()
    english = [s for s in sets.values() if s.language == "en"]
    assert [s.labels for s in english] == [
        ["Disease"],
        ["Chemical", "Disease"],
        ["protein", "DNA", "RNA", "cell_type", "cell_line"],
    ]
    # NCBI-disease's {Disease} is inside BC5CDR's set: prompted once, through BC5CDR.
    assert covering_type_sets(english) == [sets["bc5cdr"], sets["jnlpba"]]
    # Of two identical sets the first stays; unrelated sets all stay.
    assert covering_type_sets([sets["jnlpba"], sets["jnlpba"]]) == [sets["jnlpba"]]
    assert covering_type_sets([sets["cmeee"]]) == [sets["cmeee"]]


def test_several_corpora_prompt_each_named_set_of_a_sentences_language(tagger):
    # The tiny model knows NCBI-disease (English) and CMeEE (Chinese): each sentence gets the
    # named set of its own language, with that corpus named (its thresholds apply).
    both = tagger.units(MIXED, corpus=["ncbi_disease", "cmeee"])
    assert [(u["sentence"][:9], u["corpus"]) for u in both] == [
        ("BRCA1 and", "ncbi_disease"), ("患者有2型糖尿病，", "cmeee"), ("Tamoxifen", "ncbi_disease"),
    ]  # fmt: skip
    # Where no named set is of the sentence's language, the named ones are used, as with one.
    assert {u["corpus"] for u in tagger.units(ENGLISH, corpus=["cmeee"])} == {"cmeee"}
    with pytest.raises(BioNerInputError, match="not trained on 'genia'"):
        tagger(ENGLISH, corpus=["ncbi_disease", "genia"])
    with pytest.raises(BioNerInputError, match="corpus must be a corpus name or a list"):
        tagger(ENGLISH, corpus=[])
    # A set named twice is prompted once.
    reordered = tagger.units(CHINESE, corpus=["cmeee", "ncbi_disease", "cmeee"], language="zh")
    assert [u["corpus"] for u in reordered] == ["cmeee", "cmeee"]  # two sentences, one set


def test_mixed_document_gets_each_sentences_own_language(tagger):
    prepared = tagger.units(MIXED)
    by_sentence = {}
    for unit in prepared:
        by_sentence.setdefault(unit["sentence"], set()).add(unit["type_set"].language)
    assert by_sentence == {
        "BRCA1 and BRCA2 mutations increase the risk of breast and ovarian cancer.": {"en"},
        "患者有2型糖尿病，服用二甲双胍。": {"zh"},
        "Tamoxifen reduces the risk.": {"en"},
    }
    for unit in prepared:
        assert MIXED[unit["offset"] : unit["offset"] + len(unit["sentence"])] == unit["sentence"]


def test_same_span_with_two_types_gets_one_answer_by_each_rule():
    from hf_bioner.arbiter import one_type_per_span
    from hf_bioner.schema import type_set

    # Two sentences: the first about molecular biology, the second about drug toxicity.
    text = "Tamoxifen binds IL-2 in T cells. Tamoxifen caused hepatitis with cisplatin."
    second = text.index("Tamoxifen caused")
    bc5cdr, jnlpba = type_set("bc5cdr"), type_set("jnlpba")

    def unit(offset, types, rank):
        return {"offset": offset, "type_set": types, "rank": rank}

    def entity(word, label, score, offset=0):
        start = text.index(word, offset)
        return {"entity_group": label, "start": start, "end": start + len(word),
                "word": word, "score": score}  # fmt: skip

    found = [
        (entity("Tamoxifen", "Chemical", 0.6), unit(0, bc5cdr, 0)),
        (entity("Tamoxifen", "protein", 0.7), unit(0, jnlpba, 1)),
        (entity("IL-2", "protein", 0.9), unit(0, jnlpba, 1)),
        (entity("T cells", "cell_type", 0.8), unit(0, jnlpba, 1)),
        (entity("Tamoxifen", "Chemical", 0.6, second), unit(second, bc5cdr, 0)),
        (entity("Tamoxifen", "protein", 0.7, second), unit(second, jnlpba, 1)),
        (entity("hepatitis", "Disease", 0.9, second), unit(second, bc5cdr, 0)),
        (entity("cisplatin", "Chemical", 0.9, second), unit(second, bc5cdr, 0)),
        (entity("hepatitis", "DNA", 0.2, second), unit(second, jnlpba, 1)),  # below threshold
    ]
    thresholds = {"Chemical": 0.3, "protein": 0.65, "Disease": 0.5, "DNA": 0.5, "cell_type": 0.5}

    def winners(rule):
        kept = one_type_per_span(found, rule, thresholds)
        return [(e["word"], e["entity_group"]) for e, _ in kept if e["word"] == "Tamoxifen"]

    # Each sentence's other entities vote: JNLPBA's kind first, BC5CDR's second.
    assert winners("sentence-vote") == [("Tamoxifen", "protein"), ("Tamoxifen", "Chemical")]
    assert winners("max-probability") == [("Tamoxifen", "protein")] * 2
    assert winners("max-margin") == [("Tamoxifen", "Chemical")] * 2  # 0.3 above vs 0.05
    assert winners("first-type-set") == [("Tamoxifen", "Chemical")] * 2
    # A threshold per entity (``limits``, what the pipeline passes: the one it was held to)
    # wins over its type's: the first Chemical Tamoxifen held to 0.59 is 0.01 above, so the
    # protein (0.05 above) wins there; the second keeps its type's 0.3.
    first_chemical = (found[0][0]["start"], found[0][0]["end"], "Chemical")
    kept = one_type_per_span(found, "max-margin", thresholds, limits={first_chemical: 0.59})
    assert [(e["word"], e["entity_group"]) for e, _ in kept if e["word"] == "Tamoxifen"] == [
        ("Tamoxifen", "protein"), ("Tamoxifen", "Chemical")
    ]  # fmt: skip
    kept = one_type_per_span(found, "sentence-vote", thresholds)
    assert len(kept) == len(found) - 3  # two Tamoxifen conflicts and the hepatitis one
    # Without selector scores every entity votes; ties go to the type set prompted first.
    for e, _ in found:
        e["score"] = None
    assert winners("sentence-vote") == [("Tamoxifen", "protein"), ("Tamoxifen", "Chemical")]
    with pytest.raises(BioNerInputError, match="unknown conflict rule 'vote'"):
        one_type_per_span(found, "vote")


def test_num_threads_is_applied_for_the_call_and_restored(tagger):
    import torch

    before = torch.get_num_threads()
    tagger("Ataxia is rare.", max_new_tokens=4, num_threads=1)
    assert torch.get_num_threads() == before
    with pytest.raises(BioNerInputError, match="num_threads must be a positive integer"):
        tagger("Ataxia is rare.", num_threads=0)


# ---------------------------------------------------------------- nothing cut silently

DENSE_ENGLISH = " ".join(["tumor suppressor"] * 130)  # 2,209 characters, no punctuation
DENSE_CHINESE = "肿瘤抑制基因突变导致乳腺癌" * 70  # 910 characters, no punctuation


def test_dense_unpunctuated_text_is_tagged_to_its_end(known_tagger):
    from hf_bioner.pipeline import MAX_UNIT_CHARS

    for text in (DENSE_ENGLISH, DENSE_CHINESE):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no unit may be reported cut
            result = known_tagger(text, return_incomplete=True)
        assert result["incomplete"] == []
        # The known model tags each piece whole, so the entities are the pieces: together
        # they must run from the first character to the last, with only spaces between.
        pieces = [(e["start"], e["end"]) for e in result["entities"]]
        assert len(pieces) >= len(text) // MAX_UNIT_CHARS > 0
        assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
        for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False):
            assert text[end:start].strip() == ""
        assert all(end - start <= MAX_UNIT_CHARS for start, end in pieces)


def test_a_spent_answer_budget_is_warned_and_reported_per_unit(known_tagger):
    texts = [DENSE_ENGLISH, "Ataxia is rare.", DENSE_CHINESE]
    with pytest.warns(
        UserWarning,
        match=r"text 'tumor suppressor tumor suppres...': characters 0-\d+ were not fully tagged",
    ):
        results = known_tagger(texts, max_new_tokens=8, return_incomplete=True)
    english, short, chinese = results
    # Every piece of the long texts was cut; its open tag was dropped, nothing invented.
    assert english["incomplete"][0]["start"] == 0
    assert english["incomplete"][-1]["end"] == len(DENSE_ENGLISH)
    assert chinese["incomplete"][-1]["end"] == len(DENSE_CHINESE)
    # Each cut unit names the types it was asked for: its corpus's whole type set.
    assert {tuple(unit["types"]) for unit in english["incomplete"]} == {("Disease",)}
    assert {tuple(unit["types"]) for unit in chinese["incomplete"]} == {
        ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic")
    }
    assert english["entities"] == [] and chinese["entities"] == []
    # The short sentence's answer (tag, 4 tokens, close) also needs more than 8 tokens.
    assert short["incomplete"] == [{"start": 0, "end": 15, "types": ["Disease"]}]


def test_tag_stream_rows_name_what_was_not_fully_tagged(known_tagger, tmp_path):
    from hf_bioner.batch_tagging import tag_stream
    from hf_bioner.writers import JsonlWriter

    documents = [{"id": "dense", "text": DENSE_ENGLISH}, {"id": "bad", "text": ""}]
    warned = []
    with JsonlWriter(tmp_path / "out.jsonl") as writer:
        counts = tag_stream(known_tagger, documents, writer, {"max_new_tokens": 8},
                            warn=warned.append)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert counts["incomplete"] == 1 and counts["errors"] == 1
    assert rows[0]["entities"] == [] and rows[0]["incomplete"][-1]["end"] == len(DENSE_ENGLISH)
    assert "incomplete" not in rows[1] and rows[1]["error"] == "the text is empty"
    assert warned[0].startswith("document dense: characters 0-")


# ---------------------------------------------------------------- transformers' contract


def test_any_batching_of_chunks_gives_the_same_results(known_tagger):
    """Pipeline.__call__ drives preprocess / _forward / postprocess: chunks of several texts
    share a batch, one chunk at a time (no collation) or lazily from a generator."""
    texts = [ENGLISH, "Ataxia is rare.", CHINESE]
    expected = known_tagger(texts, max_new_tokens=64)
    assert [len(entities) for entities in expected] == [3, 1, 2]
    for batch_size in (1, 2, 7):
        assert known_tagger(texts, batch_size=batch_size, max_new_tokens=64) == expected
    lazily = known_tagger((t for t in texts), batch_size=4, max_new_tokens=64)
    assert not isinstance(lazily, list) and list(lazily) == expected
    assert known_tagger(tuple(texts), max_new_tokens=64) == expected
    assert known_tagger([]) == []


def test_options_given_to_pipeline_hold_until_a_call_sets_them(known_model):
    from transformers import pipeline

    english_only = pipeline("bio-ner", model=known_model, corpus="ncbi_disease",
                            max_new_tokens=64)  # fmt: skip
    # CHINESE prompted with NCBI-disease's English type set: its sentences tagged Disease.
    assert {e["entity_group"] for e in english_only(CHINESE)} == {"Disease"}
    assert {e["entity_group"] for e in english_only(CHINESE, corpus="cmeee")} == {"sym"}


def test_a_text_given_as_one_sentence_and_a_text_without_prompts(known_tagger):
    whole = known_tagger(ENGLISH, split_sentences=False, max_new_tokens=64)
    assert [(e["start"], e["end"]) for e in whole] == [(0, len(ENGLISH))]
    # No Chinese type set has the type Disease: no prompt, no entity, the result in place.
    results = known_tagger([CHINESE, "Ataxia is rare."], types=["Disease"], max_new_tokens=64)
    assert results == [[], [{"entity_group": "Disease", "start": 0, "end": 15,
                             "word": "Ataxia is rare.", "score": None}]]  # fmt: skip
