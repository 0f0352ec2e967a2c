"""The contrastive entity selector: candidates, training, calibration, saving, the pipeline."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random

import pytest

from hf_bioner.corpora import load_records
from hf_bioner.schema import BioNerInputError, type_set
from hf_bioner.selector import (
    EntitySelector,
    SelectorConfig,
    auc,
    best_threshold,
    contrastive_loss,
    fit_platt,
    fit_thresholds,
    reliability_table,
    train_selector,
)
from hf_bioner.selector.candidates import SampleConfig, boundary_variants, build_candidates
from tests.conftest import FIXTURE_CORPORA
from tests.known_answers import whole_sentence_tagger

TYPE_SETS = {name: type_set(name) for name in ("ncbi_disease", "bc5cdr", "jnlpba", "cmeee")}


def fixture_records(corpus: str) -> list:
    return load_records(corpus, "train", str(FIXTURE_CORPORA))


@pytest.mark.parametrize("corpus", ["ncbi_disease", "bc5cdr", "jnlpba", "cmeee"])
def test_negatives_never_equal_a_gold_entity_and_stay_in_the_text(corpus):
    records = fixture_records(corpus)
    rows = build_candidates(records, TYPE_SETS, SampleConfig(boundary_per_gold=5))
    kinds = {r["kind"] for r in rows}
    assert {"gold", "boundary"} <= kinds
    if len(TYPE_SETS[corpus].labels) > 1:
        assert "type" in kinds
    gold = {(r["text"], e["start"], e["end"], e["type"]) for r in records for e in r["entities"]}
    for row in rows:
        text = row["text"]
        assert 0 <= row["start"] < row["end"] <= len(text)
        span = text[row["start"] : row["end"]]
        assert span == span.strip(), f"candidate edge on whitespace: {span!r}"
        key = (text, row["start"], row["end"], row["type"])
        assert (key in gold) == (row["label"] == 1)
    # Each negative of a group differs from its own gold span.
    by_group = {}
    for row in rows:
        by_group.setdefault(row["group"], []).append(row)
    for members in by_group.values():
        golds = [m for m in members if m["kind"] == "gold"]
        assert len(golds) == 1
        g = golds[0]
        for m in members:
            if m is not g:
                assert (m["start"], m["end"], m["type"]) != (g["start"], g["end"], g["type"])


def test_boundary_moves_are_words_in_english_and_characters_in_chinese():
    text = "Mutations in BRCA1 cause breast cancer in women."
    start = text.index("breast")
    spans = boundary_variants(text, start, start + len("breast cancer"), "en", max_shift=1)
    words = {text[s:e] for s, e in spans}
    assert "cancer" in words and "cause breast cancer" in words
    assert "breast cancer in" in words and "breast" in words
    assert all(len(text[s:e].split()) <= 4 for s, e in spans)
    chinese = "患者有糖尿病。"
    spans = boundary_variants(chinese, 3, 6, "zh", max_shift=1)
    assert {chinese[s:e] for s, e in spans} >= {"有糖尿病", "尿病", "糖尿病。", "糖尿"}
    assert all(0 <= s < e <= len(chinese) for s, e in spans)


def test_generated_false_positives_become_hard_negatives():
    record = fixture_records("ncbi_disease")[0]
    gold = record["entities"][0]
    fake = {"start": 0, "end": 1, "type": "Disease"}
    rows = build_candidates([record], TYPE_SETS, SampleConfig(), [[gold, fake]])
    generated = [r for r in rows if r["kind"] == "generated"]
    assert [(r["start"], r["end"], r["label"]) for r in generated] == [(0, 1, 0)]


def brute_force_best_f1(probabilities, labels, n_gold):
    best = 0.0
    for threshold in [0.0, *sorted(set(probabilities)), 2.0]:
        kept = [y for p, y in zip(probabilities, labels, strict=True) if p >= threshold]
        best = max(best, 2 * sum(kept) / (len(kept) + n_gold))
    return best


def test_threshold_maximises_strict_f1():
    rng = random.Random(3)
    for _ in range(50):
        labels = [rng.random() < 0.6 for _ in range(rng.randint(1, 30))]
        probabilities = [round(rng.random(), 1) for _ in labels]  # ties on purpose
        n_gold = sum(labels) + rng.randint(0, 5)
        chosen = best_threshold(probabilities, [int(y) for y in labels], n_gold)
        assert chosen["f1"] == pytest.approx(brute_force_best_f1(probabilities, labels, n_gold))
        kept = [y for p, y in zip(probabilities, labels, strict=True) if p >= chosen["threshold"]]
        assert 2 * sum(kept) / (len(kept) + n_gold) == pytest.approx(chosen["f1"])
    # A constructed case: dropping the two low-scored wrong ones is best.
    chosen = best_threshold([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0], 2)
    assert chosen["threshold"] == 0.8 and chosen["f1"] == 1.0 and chosen["f1_without"] < 1.0


def calibration_candidates(corpus: str, type_: str, scores_and_labels) -> list[dict]:
    return [{"text": "t", "start": 0, "end": 1, "type": type_, "label": label, "group": -1,
             "kind": "predicted", "language": "en", "corpus": corpus}
            for _, label in scores_and_labels]  # fmt: skip


def test_a_type_two_corpora_share_gets_each_corpus_its_own_threshold():
    # Disease in NCBI-disease: right entities score high, 10 wrong ones low (dropping them
    # pays). In BC5CDR: the wrong ones score highest, so no threshold pays (0.0: keep all).
    # Chemical is BC5CDR's alone: its pooled threshold is its only one.
    ncbi = [(0.9, 1)] * 30 + [(0.1, 0)] * 10
    bc5cdr = [(0.9, 0)] * 10 + [(0.5, 1)] * 30
    chemical = [(0.8, 1)] * 30 + [(0.2, 0)] * 5
    candidates = (calibration_candidates("ncbi_disease", "Disease", ncbi)
                  + calibration_candidates("bc5cdr", "Disease", bc5cdr)
                  + calibration_candidates("bc5cdr", "Chemical", chemical))  # fmt: skip
    probabilities = [p for p, _ in ncbi + bc5cdr + chemical]
    n_gold = {("ncbi_disease", "Disease"): 30, ("bc5cdr", "Disease"): 30,
              ("bc5cdr", "Chemical"): 30}  # fmt: skip
    config = SelectorConfig(type_thresholds={"stale": 0.7}, corpus_thresholds={"x": {"y": 1}})
    fitted = fit_thresholds(config, candidates, probabilities, n_gold)
    assert config.corpus_thresholds == {"ncbi_disease": {"Disease": 0.9},
                                        "bc5cdr": {"Disease": 0.0}}  # fmt: skip
    assert config.type_thresholds == {"Chemical": 0.8, "Disease": 0.5}  # earlier ones dropped
    assert fitted["corpus_thresholds"]["ncbi_disease"]["Disease"]["f1"] == 1.0
    assert fitted["corpus_thresholds"]["bc5cdr"]["Disease"]["f1"] == pytest.approx(60 / 70)
    # Where an entity came from decides its threshold; elsewhere the type's, then the overall.
    assert config.threshold_of("Disease", "ncbi_disease") == 0.9
    assert config.threshold_of("Disease", "bc5cdr") == 0.0
    assert config.threshold_of("Disease") == 0.5
    assert config.threshold_of("Chemical", "bc5cdr") == 0.8
    assert config.threshold_of("protein", "jnlpba") == config.threshold
    # A corpus with fewer than min_support candidates of the type keeps the pooled one.
    fit_thresholds(config, candidates[15:], probabilities[15:], n_gold)  # 25 NCBI left
    assert config.corpus_thresholds == {"bc5cdr": {"Disease": 0.0}}


def test_platt_auc_and_reliability():
    logits = [-3, -2, -1, 0, 1, 2, 3, 4]
    labels = [0, 0, 0, 1, 0, 1, 1, 1]
    a, b = fit_platt(logits, labels)
    assert a > 0
    assert auc(logits, labels) == pytest.approx(15 / 16)
    assert auc([1, 1], [0, 1]) == 0.5
    table = reliability_table([0.05, 0.15, 0.95, 1.0], [0, 0, 1, 1])
    assert table["bins"] == [
        {"bin": "0.0-0.1", "count": 1, "mean_probability": 0.05, "observed": 0.0},
        {"bin": "0.1-0.2", "count": 1, "mean_probability": 0.15, "observed": 0.0},
        {"bin": "0.9-1.0", "count": 2, "mean_probability": 0.975, "observed": 1.0},
    ]
    # ECE: 1/4 * |0.05 - 0| + 1/4 * |0.15 - 0| + 2/4 * |0.975 - 1| = 0.0125 + 0.0375 + 0.0125
    assert table["ece"] == 0.0625


def test_contrastive_loss_prefers_gold_close_to_the_anchor():
    import torch

    anchor = torch.tensor([1.0, 0.0])
    labels = torch.tensor([1, 0, 0])
    groups = torch.tensor([0, 0, -1])
    good = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    bad = torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    assert contrastive_loss(good, anchor, labels, groups, 0.1) < contrastive_loss(
        bad, anchor, labels, groups, 0.1
    )


@pytest.fixture(scope="module")
def tiny_selector_rows():
    records = fixture_records("ncbi_disease")[:6] + fixture_records("cmeee")[:6]
    return build_candidates(records, TYPE_SETS, SampleConfig(boundary_per_gold=2))


def test_training_lowers_the_loss_and_saving_round_trips(tiny_base, tiny_selector_rows, tmp_path):
    config = SelectorConfig(backbone=tiny_base, lora_r=4, embedding_dim=16, epochs=6,
                            learning_rate=1e-2, head_learning_rate=1e-2)  # fmt: skip
    selector = EntitySelector(config)
    assert config.pooling == "last"  # a causal LM
    curve = train_selector(selector, tiny_selector_rows, TYPE_SETS, progress=False)
    first = sum(c["contrastive"] + c["bce"] for c in curve[:3])
    last = sum(c["contrastive"] + c["bce"] for c in curve[-3:])
    assert last < first
    selector.config.platt = (1.5, -0.2)
    selector.config.type_thresholds = {"Disease": 0.3}
    before = selector.score(tiny_selector_rows[:5], TYPE_SETS)
    selector.save(tmp_path / "selector")
    loaded = EntitySelector.load(tmp_path / "selector")
    assert loaded.config.platt == (1.5, -0.2) and loaded.config.type_thresholds == {"Disease": 0.3}
    assert loaded.score(tiny_selector_rows[:5], TYPE_SETS) == pytest.approx(before, abs=1e-5)
    # Made ready for scoring (what the pipeline does with a selector it loads): the LoRA
    # merged gives the same probabilities (up to bf16 autocast rounding where bf16 is fast);
    # cast to bf16, nearly the same.
    import torch
    from peft import PeftModel

    merged = EntitySelector.load(tmp_path / "selector").for_inference()
    assert not isinstance(merged.backbone, PeftModel)
    assert merged.score(tiny_selector_rows[:5], TYPE_SETS) == pytest.approx(before, abs=1e-3)
    halved = EntitySelector.load(tmp_path / "selector").for_inference(torch.bfloat16)
    assert next(halved.backbone.parameters()).dtype == torch.bfloat16
    assert halved.score(tiny_selector_rows[:5], TYPE_SETS) == pytest.approx(before, abs=0.05)
    # In int8 (what the pipeline loads on a CPU with VNNI and no AMX): nearly the same too.
    from hf_bioner.quantization import INT8, Int8Linear

    eight = EntitySelector.load(tmp_path / "selector")
    assert eight.can_run_int8()
    eight.for_inference(INT8)
    assert isinstance(eight.backbone.layers[0].self_attn.q_proj, Int8Linear)
    assert eight.backbone.layers[0].self_attn.q_proj.quantizer.smoothing is not None
    assert eight.score(tiny_selector_rows[:5], TYPE_SETS) == pytest.approx(before, abs=0.05)


def test_train_selector_job_and_the_pipeline_scores_entities(tiny_base, tmp_path):
    from transformers import pipeline

    from hf_bioner.selector import SelectorConfig
    from hf_bioner.selector.job import SelectorJob, run

    # The generator tags each sentence whole (tests/known_answers.py): no entity it finds in
    # the fixture sentences is a gold one, so the calibration is known.
    known = whole_sentence_tagger(tmp_path / "known", tiny_base)
    job = SelectorJob(
        generator=known,
        output=str(tmp_path / "selector"),
        data_dir=str(FIXTURE_CORPORA),
        train_sentences=4,
        hard_sentences=2,
        calibration_sentences=3,
        selector=SelectorConfig(backbone=tiny_base, lora_r=4, embedding_dim=16),
    )
    summary = run(job)
    # 4 train and 2 hard sentences per corpus; 3 calibration sentences from NCBI-disease's
    # 15 dev sentences, 1 from CMeEE's 7 training sentences (7 - 4 - 2): the splits are small.
    assert summary["sentences"] == {"train": 8, "hard": 4, "calibration": 3 + 1}
    # Hard and calibration sentences are ones the generator was not trained on: NCBI-disease
    # dev; CMeEE is evaluated on dev, so its come from the training split (here taken as
    # learnt: this generator does not say what it was trained on).
    assert summary["tuning_split"] == {
        "ncbi_disease": "dev",
        "cmeee": "train, learnt by the generator",
    }
    assert summary["candidates"]["gold"] > 0 and summary["candidates"]["boundary"] > 0
    # Calibration: one candidate per sentence (the sentence), none right. Every threshold
    # gives F1 0 (tp=0), so the lowest, 0, is kept; the saved selector applies it.
    calibration = summary["calibration"]
    assert (calibration["candidates"], calibration["correct"]) == (4, 0)
    assert calibration["threshold"] == {"threshold": 0.0, "f1": 0.0, "f1_without": 0.0,
                                        "precision": 0.0, "recall": 0.0}  # fmt: skip
    saved = json.loads((tmp_path / "selector" / "selector_config.json").read_text())
    assert saved["config"]["threshold"] == 0.0  # the default is 0.5
    assert saved["summary"]["calibration"]["threshold"] == calibration["threshold"]

    # Recalibration on one calibration sentence per corpus: the weights stay byte for byte,
    # the training summary stays, the calibration is new and the earlier one is kept.
    weights = {p.name: p.read_bytes() for p in (tmp_path / "selector").rglob("*.safetensors")}
    again = run(dataclasses.replace(job, calibration_sentences=1, recalibrate=True))
    assert again["sentences"] == {**summary["sentences"], "calibration": 2}
    assert again["earlier_calibration"] == saved["summary"]["calibration"]
    assert again["calibration"]["candidates"] == 2  # one sentence per corpus
    assert again["calibration_split"] == summary["tuning_split"]  # the same generator
    assert again["loss_curve"] == summary["loss_curve"]
    assert weights == {
        p.name: p.read_bytes() for p in (tmp_path / "selector").rglob("*.safetensors")
    }

    # The pipeline loads the selector given to it, scores every entity and filters. The
    # generator tags each sentence whole, so there are two entities.
    tagger = pipeline("bio-ner", model=known, selector=str(tmp_path / "selector"))
    text = "BRCA1 mutations cause breast cancer. 患者有糖尿病。"
    sentences = [(0, 36, "BRCA1 mutations cause breast cancer."), (37, 44, "患者有糖尿病。")]
    kept_all = tagger(text, threshold=0.0, max_new_tokens=64)
    assert [(e["start"], e["end"], e["word"]) for e in kept_all] == sentences
    # Probabilities of a sigmoid: strictly between 0 and 1 (rounded to 4 places).
    assert all(isinstance(e["score"], float) and 0 < e["score"] < 1 for e in kept_all)
    # Only a probability of exactly 1 reaches threshold 1: every entity is dropped.
    assert tagger(text, threshold=1.0, max_new_tokens=64) == []
    unscored = tagger(text, use_selector=False, max_new_tokens=64)
    assert [(e["start"], e["end"], e["word"]) for e in unscored] == sentences
    assert all(e["score"] is None for e in unscored)

    # A threshold calibrated for one corpus applies to what that corpus's type set finds:
    # NCBI-disease's Disease above 1 drops the English entity, not the Chinese one.
    path = tmp_path / "selector" / "selector_config.json"
    saved = json.loads(path.read_text())
    saved["config"]["corpus_thresholds"] = {"ncbi_disease": {"Disease": 1.01}}
    path.write_text(json.dumps(saved))
    tagger = pipeline("bio-ner", model=known, selector=str(tmp_path / "selector"))
    kept = tagger(text, max_new_tokens=64)
    assert [(e["start"], e["end"], e["word"]) for e in kept] == sentences[1:]
    assert len(tagger(text, threshold=0.0, max_new_tokens=64)) == 2  # a threshold given wins

    # A span that two prompts found (corpus= naming two sets that share its type) stays when
    # it passes either prompt's threshold: NCBI-disease's 1.01 alone drops it, BC5CDR's (the
    # overall 0.0) keeps it, once.
    entity = {"entity_group": "Disease", "start": 0, "end": 5, "word": "BRCA1", "score": 0.5}

    def found_by(corpus: str, rank: int) -> dict:
        unit = {"offset": 0, "sentence": text[:36], "corpus": corpus, "rank": rank}
        return {"entities": [dict(entity)], "unit": unit}

    assert tagger._entities([found_by("ncbi_disease", 0)], None, True) == []
    for order in ([("ncbi_disease", 0), ("bc5cdr", 1)], [("bc5cdr", 0), ("ncbi_disease", 1)]):
        assert tagger._entities([found_by(*prompt) for prompt in order], None, True) == [entity]
    # Where both prompts' copies pass, the one further above its own threshold is kept:
    # NCBI-disease's at 0.5 over 0.2 (0.3 above), not BC5CDR's at 0.6 over 0.4 (0.2 above).
    tagger.selector.config.corpus_thresholds = {"ncbi_disease": {"Disease": 0.2},
                                                "bc5cdr": {"Disease": 0.4}}  # fmt: skip
    ncbi, bc5cdr = found_by("ncbi_disease", 0), found_by("bc5cdr", 1)
    bc5cdr["entities"][0]["score"] = 0.6
    for chunks in ([ncbi, bc5cdr], [bc5cdr, ncbi]):
        assert [e["score"] for e in tagger._entities(chunks, None, True)] == [0.5]


def test_sentence_first_inputs_name_the_span_and_its_occurrence():
    from hf_bioner.selector import selector_input

    text = "Cancer of the breast and cancer of the ovary."
    disease = TYPE_SETS["ncbi_disease"].get("Disease")
    first_input = selector_input(text, 0, 6, disease, "en")
    # The context is the sentence alone, the same for every candidate of it.
    assert first_input.context == f"Sentence: {text}\n"
    assert first_input.question == (
        'Question: is "Cancer" exactly one Disease (disease, disorder or syndrome)?\nAnswer:'
    )
    # A span whose text occurs more than once is named with its occurrence.
    assert text[25:31] == "cancer" and text[32:38] == "of the"
    assert selector_input(text, 25, 31, disease, "en").question.startswith(
        'Question: is "cancer" exactly'
    )
    later = selector_input(text, 32, 38, disease, "en")
    assert later.context == first_input.context
    assert later.question.startswith('Question: is "of the" (occurrence 2) exactly one Disease')
    chinese = "糖尿病患者的糖尿病"
    dis = TYPE_SETS["cmeee"].get("dis")
    chinese_input = selector_input(chinese, 6, 9, dis, "zh")
    assert chinese_input.context == f"句子：{chinese}\n"
    assert chinese_input.question.startswith("问题：“糖尿病”（第2处）是一个完整的")
    # The first selectors' format: the span bracketed in the sentence, all of it context.
    old = selector_input(text, 0, 6, disease, "en", "bracketed")
    assert old.context.startswith("Sentence: [Cancer] of the breast") and old.question == ""
    with pytest.raises(ValueError, match="unknown selector input format"):
        selector_input(text, 0, 6, disease, "en", "marked")


def test_a_sentence_read_once_for_all_its_candidates_scores_as_each_read_whole(
    tiny_base, tiny_selector_rows
):
    import torch

    selector = EntitySelector(SelectorConfig(backbone=tiny_base, lora_r=2, embedding_dim=8,
                                             bf16=False))  # fmt: skip
    inputs = [selector.input_of(row, TYPE_SETS) for row in tiny_selector_rows]
    sentences = {i.context for i in inputs}
    assert selector.can_share(inputs) and 1 < len(sentences) < len(inputs) / 2
    with torch.no_grad():
        whole, shared = selector.encode(inputs), selector.encode_shared(inputs)
    torch.testing.assert_close(shared, whole, atol=1e-4, rtol=1e-4)
    # raw_logits reads them shared, in batches that split some sentences' candidates.
    with torch.no_grad():
        expected, _ = selector.logits_and_embeddings(inputs)
    assert selector.raw_logits(inputs, batch_size=7) == pytest.approx(expected.tolist(), abs=1e-4)


def test_a_selector_saved_before_input_formats_reads_bracketed_inputs(
    tiny_base, tiny_selector_rows, tmp_path
):
    selector = EntitySelector(SelectorConfig(backbone=tiny_base, lora_r=2, embedding_dim=8,
                                             input_format="bracketed", bf16=False))  # fmt: skip
    before = selector.score(tiny_selector_rows[:4], TYPE_SETS)
    folder = selector.save(tmp_path / "selector")
    config_file = folder / "selector_config.json"
    saved = json.loads(config_file.read_text())
    del saved["config"]["input_format"]  # as the first selectors saved it
    config_file.write_text(json.dumps(saved))
    loaded = EntitySelector.load(folder)
    assert loaded.config.input_format == "bracketed"
    read = loaded.input_of(tiny_selector_rows[0], TYPE_SETS)
    assert read.question == "" and "[" in read.context and not loaded.can_share([read])
    assert loaded.score(tiny_selector_rows[:4], TYPE_SETS) == pytest.approx(before, abs=1e-5)
    with pytest.raises(BioNerInputError, match="selector input format 'marked'"):
        EntitySelector(SelectorConfig(backbone=tiny_base, input_format="marked"))


def test_batches_hold_every_candidate_once_and_keep_groups_whole():
    from hf_bioner.selector import make_batches

    records = fixture_records("ncbi_disease")[:4]
    fake = [[{"start": 0, "end": 2, "type": "Disease"}] for _ in records]
    rows = build_candidates(records, TYPE_SETS, SampleConfig(), fake)
    batches = make_batches(rows, SelectorConfig(groups_per_batch=2, generated_per_batch=1))
    assert sorted(itertools.chain.from_iterable(batches)) == list(range(len(rows)))
    home = {}
    for b, batch in enumerate(batches):
        for i in batch:
            if rows[i]["group"] >= 0:
                assert home.setdefault(rows[i]["group"], b) == b


def test_an_encoder_from_pypi_can_be_the_backbone(tiny_selector_rows):
    selector = EntitySelector(SelectorConfig(backbone="minilm-l6", lora_r=2, embedding_dim=8))
    assert selector.config.pooling == "first"  # BERT-style: the [CLS] position
    probabilities = selector.score(tiny_selector_rows[:6], TYPE_SETS)
    assert len(probabilities) == 6 and all(0.0 < p < 1.0 for p in probabilities)


def test_a_pipeline_on_an_int8_cpu_keeps_an_encoder_selector_in_full_precision(
    tiny_base, tmp_path, monkeypatch
):
    """On a CPU with VNNI and no AMX the pipeline loads its selector in int8, which needs
    ``*_proj`` projections; MiniLM's are named query/key/value, so it stays in full precision
    (asked for by name, int8 is refused in one line) and the pipeline still loads and scores."""
    import hf_bioner.device as device
    from hf_bioner.models import load_trained
    from hf_bioner.pipeline import BioNerPipeline
    from hf_bioner.quantization import INT8

    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx512f", "avx512_vnni"}))
    minilm = EntitySelector(SelectorConfig(backbone="minilm-l6", lora_r=2, embedding_dim=8))
    assert not minilm.can_run_int8()
    with pytest.raises(BioNerInputError, match="MiniLM has none"):
        minilm.for_inference(INT8)
    minilm.save(tmp_path / "minilm")
    model, tokenizer, _ = load_trained(whole_sentence_tagger(tmp_path / "known", tiny_base))
    tagger = BioNerPipeline(model=model, tokenizer=tokenizer, selector=str(tmp_path / "minilm"),
                            device="cpu")  # fmt: skip
    assert tagger._step_dtype("auto") == INT8
    layer = tagger.selector.backbone.encoder.layer[0].attention.self.query
    assert type(layer).__name__ == "Linear"
    (entity,) = tagger("Breast cancer runs in families.", corpus="ncbi_disease", threshold=0.0)
    assert 0.0 < entity["score"] < 1.0


def test_selector_tunes_on_training_sentences_a_capped_generator_did_not_learn():
    from hf_bioner.selector.job import SelectorJob, corpus_samples

    job = SelectorJob(generator="unused", data_dir=str(FIXTURE_CORPORA), train_sentences=2,
                      hard_sentences=2, calibration_sentences=2)  # fmt: skip
    cmeee = load_records("cmeee", "train", str(FIXTURE_CORPORA))
    learnt = {r["id"] for r in cmeee[:3]}  # as if a capped run took these three
    train, hard, calibration, source = corpus_samples(job, "cmeee", learnt)
    assert source == "train, not learnt by the generator"
    assert {r["id"] for r in train} <= learnt and len(train) == 2
    assert len(hard) == len(calibration) == 2
    assert not {r["id"] for r in hard + calibration} & learnt
    # A generator that learnt every sentence leaves only learnt text, and says so.
    *samples, source = corpus_samples(job, "cmeee", {r["id"] for r in cmeee})
    assert source == "train, learnt by the generator"
    assert len({r["id"] for s in samples for r in s}) == 6  # still three disjoint samples
