"""Instruction data: records -> (prompt, completion) pairs, and mixing corpora into one set.

The prompt names the entity types with a short definition each, in the language of the
corpus (English for English corpora, Chinese for Chinese), says how to answer in the chosen
tagging scheme, and ends with the sentence. The ``short`` prompt style names the types only:
a model trained on a corpus has learned its types and the answer format, and on a CPU every
prompt token costs as much as an answer token (in training and in tagging). Zero-shot types
always get the ``full`` prompt, whose definitions are all the model knows of them. The completion is the sentence encoded by
:func:`hf_bioner.tagging.encode`. These are TRL's ``prompt``/``completion`` columns, so the
trainer puts the loss on the completion only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence

from hf_bioner.schema import BioNerInputError, Record, TypeSet, type_set
from hf_bioner.tagging import EMPTY_TARGET, SCHEMES, encode, inexpressible

MIX_STRATEGIES = ("proportional", "uniform", "temperature")
PROMPT_STYLES = ("full", "short")

# Short on purpose: on a CPU the prompt costs as much compute per token as the answer, and
# the types' definitions already carry the meaning.
ANSWER_FORMATS = {
    ("en", "paper"): "Answer one line per type found: 'type: sentence' with its entities in [ ].",
    (
        "en",
        "inline",
    ): "Answer with the sentence, entities wrapped in type tags: <{example}>...</{example}>.",
    ("zh", "paper"): "每种出现的类型写一行“类型: 句子”，实体用[ ]括起。",
    ("zh", "inline"): "照抄句子，实体用类型标签括起：<{example}>...</{example}>。",
}
TEMPLATES = {
    "en": "Tag the biomedical entities.\nTypes:\n{types}\n{how} If none: {empty}\nSentence: {text}\nAnswer:\n",
    "zh": "标注医学实体。\n类型：\n{types}\n{how}没有实体则回答{empty}\n句子：{text}\n答案：\n",
}

SHORT_TEMPLATES = {
    "en": "Tag {names}.\nSentence: {text}\nAnswer:\n",
    "zh": "标注{names}。\n句子：{text}\n答案：\n",
}
NAME_SEPARATORS = {"en": ", ", "zh": "、"}


def check_prompt_style(style: str) -> None:
    if style not in PROMPT_STYLES:
        raise BioNerInputError(f"unknown prompt style {style!r}; valid: {', '.join(PROMPT_STYLES)}")


def instruction(text: str, types: TypeSet, scheme: str = "paper", style: str = "full") -> str:
    """The prompt for one sentence: types (with definitions in the ``full`` style), answer
    format (``full`` only), the sentence."""
    if scheme not in SCHEMES:
        raise BioNerInputError(f"unknown scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    check_prompt_style(style)
    if style == "short":
        names = NAME_SEPARATORS[types.language].join(types.names)
        return SHORT_TEMPLATES[types.language].format(names=names, text=text)
    listing = "\n".join(f"- {t.name}: {t.definition}" for t in types.types)
    how = ANSWER_FORMATS[types.language, scheme].format(example=types.types[0].name)
    return TEMPLATES[types.language].format(types=listing, how=how, empty=EMPTY_TARGET, text=text)


def prompt_completion(
    record: Record, scheme: str = "paper", types: TypeSet | None = None, style: str = "full"
) -> dict:
    """One training row: ``prompt``, ``completion`` and where it came from."""
    types = types or type_set(record["corpus"])
    target = encode(
        record["text"],
        record["entities"],
        scheme=scheme,
        type_names=types.display_names(),
        type_order=types.labels,
    )
    return {
        "prompt": instruction(record["text"], types, scheme, style),
        "completion": target,
        "id": record["id"],
        "corpus": record["corpus"],
        "language": record["language"],
        "inexpressible": len(inexpressible(record["entities"], scheme)),
    }


def mix_sizes(
    sizes: Mapping[str, int],
    strategy: str = "proportional",
    temperature: float = 2.0,
    cap: int | None = None,
) -> dict[str, int]:
    """How many rows to take from each corpus.

    ``proportional`` keeps every row; ``uniform`` takes as many from each corpus as the
    smallest has; ``temperature`` samples corpus *i* with probability proportional to
    ``n_i ** (1 / temperature)`` (T=1 is proportional, large T approaches uniform), scaled so the
    largest corpus keeps all its rows, which up-weights small corpora by repetition. ``cap``
    limits every corpus to at most that many rows.
    """
    if strategy not in MIX_STRATEGIES:
        raise BioNerInputError(f"unknown mix {strategy!r}; valid: {', '.join(MIX_STRATEGIES)}")
    if not sizes or any(n <= 0 for n in sizes.values()):
        empty = [name for name, n in sizes.items() if n <= 0]
        raise BioNerInputError(f"nothing to mix: no rows from {', '.join(empty) or 'any corpus'}")
    if strategy == "proportional":
        counts = dict(sizes)
    elif strategy == "uniform":
        counts = dict.fromkeys(sizes, min(sizes.values()))
    else:
        weights = {name: n ** (1.0 / temperature) for name, n in sizes.items()}
        largest = max(sizes, key=sizes.get)
        scale = sizes[largest] / weights[largest]
        counts = {name: max(1, math.ceil(w * scale)) for name, w in weights.items()}
    return {name: min(n, cap) if cap else n for name, n in counts.items()}


def mix_rows(
    parts: Mapping[str, Sequence[dict]],
    strategy: str = "proportional",
    temperature: float = 2.0,
    cap: int | None = None,
    seed: int = 0,
) -> tuple[list[dict], dict[str, int]]:
    """Mix per-corpus rows into one shuffled list; also returns the rows taken per corpus.

    A corpus asked for more rows than it has is repeated (each row once before any twice).
    """
    rng = random.Random(seed)
    counts = mix_sizes(
        {name: len(rows) for name, rows in parts.items()}, strategy, temperature, cap
    )
    mixed: list[dict] = []
    for name, rows in parts.items():
        order = list(rows)
        rng.shuffle(order)
        mixed += [order[i % len(order)] for i in range(counts[name])]
    rng.shuffle(mixed)
    return mixed, counts


def rows_from_records(
    records: Iterable[Record], scheme: str = "paper", style: str = "full"
) -> list[dict]:
    """Prompt/completion rows of many records (type set looked up per corpus)."""
    cache: dict[str, TypeSet] = {}
    rows = []
    for record in records:
        types = cache.setdefault(record["corpus"], type_set(record["corpus"]))
        rows.append(prompt_completion(record, scheme, types, style))
    return rows
