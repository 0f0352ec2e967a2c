"""Type arbitration: which of several conflicting types a mention is, learned from gold mentions.

A model trained on several corpora of one language prompts each of their type sets, and
two sets may tag the same span with different types: BC5CDR's ``Chemical`` and JNLPBA's
``protein`` for "tamoxifen", ``Disease`` and ``cell_type`` for "breast cancer". Neither the
generator nor the selector can settle that: each prompt only knows its own types, and the
selector was trained against mistyped negatives within one corpus. The bundled model's
JNLPBA prompt tags most chemicals as ``protein``, so a rule on selector scores alone loses
about 9 F1 points on BC5CDR (``benchmarks/results/type_conflicts_*.json``).

What tells the types apart is mostly the name itself ("-mab", "-ine", "kinase", "IL-2",
"carcinoma") and, for abbreviations, the words around it ("infants with IUGR", "levels of
PGE2"); the gold mentions of the training corpora show both for every type. The arbiter is a
linear classifier over hashed character n-grams, words and shape of the mention and the words
beside it (the fastText recipe: an ``EmbeddingBag`` summing one weight row per feature),
trained with class-balanced cross-entropy so that corpus sizes do not decide. It needs no generator
output, trains in about a minute on a CPU core, and is saved as ``arbiter/`` beside the
generator; the pipeline asks it only when a span has more than one type.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_bioner.schema import BioNerInputError

ARBITER_DIR = "arbiter"
ARBITER_CONFIG = "arbiter_config.json"
ARBITER_WEIGHTS = "arbiter.safetensors"


@dataclass
class ArbiterConfig:
    """The arbiter's features and training (saved beside its weights)."""

    labels: list[str] = field(default_factory=list)
    buckets: int = 2**18  # hashed feature rows; collisions are rare at this size
    min_n: int = 2  # character n-gram lengths, over the lower-cased mention in < >
    max_n: int = 5
    context: int = 3  # words each side of the mention used as features (0: the name only)
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 0.05
    seed: int = 0
    corpora: list[str] = field(default_factory=list)
    training_mentions: dict[str, int] = field(default_factory=dict)
    dev_accuracy: float | None = None


def _bucket(feature: str, buckets: int) -> int:
    """A stable hash (Python's own ``hash`` changes from run to run)."""
    return zlib.crc32(feature.encode("utf-8")) % buckets


_WORD = re.compile(r"\w+")


def mention_features(sentence: str, start: int, end: int, config: ArbiterConfig) -> list[int]:
    """Hashed features of the mention ``sentence[start:end]``: character n-grams, its words
    and its shape, and the words beside it.

    The shape (letters to ``a``/``A``, digits to ``0``) carries what n-grams of a rare name
    miss: "IL-12" and "p53" look like gene products, "5-FU" like a drug. The neighbours
    (``config.context`` words each side, the nearest also on its own) type abbreviations.
    """
    mention = sentence[start:end]
    text = f"<{mention.lower()}>"
    features = [
        f"c:{text[i : i + n]}"
        for n in range(config.min_n, config.max_n + 1)
        for i in range(len(text) - n + 1)
    ]
    features += [f"w:{word}" for word in mention.lower().split()]
    shape = "".join("A" if c.isupper() else "a" if c.isalpha() else "0" if c.isdigit() else c
                    for c in mention)  # fmt: skip
    features.append(f"s:{shape[:12]}")
    if config.context:
        left = _WORD.findall(sentence[:start].lower())[-config.context :]
        right = _WORD.findall(sentence[end:].lower())[: config.context]
        features += [f"l:{w}" for w in left] + [f"r:{w}" for w in right]
        features += [f"l1:{w}" for w in left[-1:]] + [f"r1:{w}" for w in right[:1]]
    return [_bucket(f, config.buckets) for f in features]


class TypeArbiter:
    """Scores a mention's types; picks among the ones that were found for the same span."""

    def __init__(self, config: ArbiterConfig, model=None):
        import torch

        self.config = config
        self.model = model or torch.nn.EmbeddingBag(config.buckets, len(config.labels), mode="sum")
        self.index = {label: i for i, label in enumerate(config.labels)}

    def knows(self, label: str) -> bool:
        return label in self.index

    def probabilities(
        self, sentence: str, start: int, end: int, candidates: Sequence[str]
    ) -> dict[str, float]:
        """P(type | the mention ``sentence[start:end]``) over ``candidates`` (renormalised);
        unknown types get none."""
        import torch

        known = [label for label in candidates if label in self.index]
        if not known:
            return {}
        with torch.no_grad():
            features = torch.tensor(mention_features(sentence, start, end, self.config))
            logits = self.model(features.unsqueeze(0))[0]
            chosen = logits[[self.index[label] for label in known]]
            return dict(zip(known, torch.softmax(chosen, dim=0).tolist(), strict=True))

    def save(self, folder: str | Path) -> None:
        import torch
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # float16 halves the file (3.7 MB for 7 types) and changes no decision
        weight = self.model.weight.detach().to(torch.float16).contiguous()
        save_file({"weight": weight}, folder / ARBITER_WEIGHTS)
        (folder / ARBITER_CONFIG).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> TypeArbiter:
        import torch
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            config = ArbiterConfig(**json.loads((folder / ARBITER_CONFIG).read_text()))
            weight = load_file(folder / ARBITER_WEIGHTS)["weight"].float()
        except (OSError, TypeError, ValueError, KeyError) as error:
            raise BioNerInputError(f"{folder}: not a type arbiter ({error})") from None
        model = torch.nn.EmbeddingBag.from_pretrained(weight, freeze=True, mode="sum")
        return cls(config, model)


# ----------------------------------------------------------------------------- training


Mention = tuple[str, int, int, str]  # sentence, start, end, type


def gold_mentions(records: Iterable[dict]) -> list[Mention]:
    """(sentence, start, end, type) of every gold entity of ``records``."""
    return [(r["text"], e["start"], e["end"], e["type"]) for r in records for e in r["entities"]]


def _batches(examples: list[tuple[list[int], int]], size: int, rng: random.Random):
    import torch

    order = list(range(len(examples)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        chunk = [examples[i] for i in order[start : start + size]]
        offsets = torch.tensor([0] + [len(f) for f, _ in chunk[:-1]]).cumsum(0)
        features = torch.tensor([i for f, _ in chunk for i in f])
        yield features, offsets, torch.tensor([label for _, label in chunk])


def train_arbiter(
    mentions: Sequence[Mention],
    config: ArbiterConfig | None = None,
    dev: Sequence[Mention] = (),
    progress: bool = True,
) -> TypeArbiter:
    """Fit the arbiter on gold mentions; ``dev`` mentions give ``config.dev_accuracy``."""
    import torch
    from tqdm.auto import tqdm

    config = config or ArbiterConfig()
    counts = Counter(label for *_, label in mentions)
    if len(counts) < 2:
        raise BioNerInputError(
            f"the arbiter needs mentions of at least two types; got {sorted(counts) or 'none'}"
        )
    config.labels = sorted(counts)
    config.training_mentions = dict(sorted(counts.items()))
    torch.manual_seed(config.seed)
    arbiter = TypeArbiter(config)
    torch.nn.init.zeros_(arbiter.model.weight)
    index = arbiter.index
    examples = [(mention_features(text, start, end, config), index[label])
                for text, start, end, label in mentions]  # fmt: skip
    # Balanced classes: every type weighs the same in the loss, whatever its corpus's size.
    balance = torch.tensor([len(mentions) / (len(counts) * counts[lab]) for lab in config.labels])
    optimizer = torch.optim.Adagrad(arbiter.model.parameters(), lr=config.learning_rate)
    rng = random.Random(config.seed)
    for _ in tqdm(range(config.epochs), desc="arbiter epochs", disable=not progress):
        for features, offsets, labels in _batches(examples, config.batch_size, rng):
            logits = arbiter.model(features, offsets)
            loss = torch.nn.functional.cross_entropy(logits, labels, weight=balance)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if dev:
        config.dev_accuracy = round(accuracy(arbiter, dev), 4)
    return arbiter


def accuracy(arbiter: TypeArbiter, mentions: Sequence[Mention]) -> float:
    """Share of gold mentions whose type the arbiter ranks first among all its types."""
    right = 0
    for text, start, end, label in mentions:
        scores = arbiter.probabilities(text, start, end, arbiter.config.labels)
        right += max(scores, key=scores.get) == label
    return right / len(mentions) if mentions else 0.0
