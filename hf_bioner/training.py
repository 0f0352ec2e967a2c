"""Fine-tune a base LLM to tag biomedical entities: one config object, one ``train`` call.

:class:`TrainConfig` says everything about a run; :func:`train` builds the mixed bilingual
prompt/completion data, loads the base model, wraps it with a PEFT LoRA adapter (or trains it
fully), and runs TRL's ``SFTTrainer`` with the loss on the completion only. During training a
callback tags a small dev sample by generation and logs strict F1, keeping the best adapter.

Device defaults (see ``benchmarks/results/train_speed.json``): bf16 autocast only where the
hardware has bf16 units (GPUs that support it; CPUs with AMX or AVX512-BF16; on a CPU
without them bf16 matmuls fall back to slow code), gradient checkpointing only for full
fine-tuning on a GPU, batches grouped by length so little compute goes to padding, and on a
CPU a completion-only loss instead of TRL's fused LM head (``hf_bioner.sft``: 2.5x faster here).
``padding_free`` (one concatenated row per batch) is off unless asked for: with the sdpa,
eager and flex attention of transformers 5.23, packed sequences attend to each other (the loss
of a packed batch differed from the padded one: Gemma 3 4.86 vs 4.41, in train_speed.json), so
it is only correct with a varlen flash-attention kernel on a GPU.

Checkpoints go under ``$HF_BIONER_CACHE/checkpoints/<run name>`` (outside the work tree, so
long runs survive a cleaned checkout); ``resume=True`` continues from the newest one. The
output folder receives the adapter (or full model), the tokenizer, ``hf_bioner_config.json``
(base model, scheme, entity types and prompts: all that loading needs) and
``training_summary.json`` (data mix, steps, tokens, time, dev F1 curve).
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hf_bioner import paths
from hf_bioner.corpora import corpus_spec, load_records
from hf_bioner.device import bf16_is_fast, cuda_available, machine, train_batch_size
from hf_bioner.prompts import (
    ANSWER_FORMATS,
    MIX_STRATEGIES,
    SHORT_TEMPLATES,
    TEMPLATES,
    check_prompt_style,
    mix_rows,
    rows_from_records,
)
from hf_bioner.schema import BioNerInputError, Record, type_set
from hf_bioner.tagging import SCHEMES

logger = logging.getLogger(__name__)

MODEL_CONFIG_NAME = "hf_bioner_config.json"
SUMMARY_NAME = "training_summary.json"


@dataclass
class TrainConfig:
    """Everything about one training run (saved into the output folder)."""

    output_dir: str
    base: str = "smollm2-135m"
    corpora: list[str] = field(default_factory=lambda: ["ncbi_disease"])
    scheme: str = "paper"
    prompt_style: str = "full"  # "short": type names only (see hf_bioner.prompts)
    data_dir: str | None = None
    # data mix
    mix: str = "temperature"
    temperature: float = 2.0
    cap: int | None = None
    max_length: int = 512
    # optimisation
    epochs: float = 1.0
    max_steps: int = -1
    max_minutes: float | None = None  # stop after this much training time (then evaluate)
    learning_rate: float = 2e-4
    batch_size: int | None = None  # None: 8 on a CPU, 32 on a GPU (hf_bioner.device)
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    seed: int = 0
    # adapter
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    # continue training this LoRA adapter (a trained model folder) instead of a fresh one:
    # a second pass at a lower learning rate starts where the first ended; the adapter's own
    # rank and targets are kept, so lora_r/lora_alpha/target_modules do not apply
    init_adapter: str | None = None
    # full fine-tuning (lora=False): the input embeddings (and a head tied to them) stay
    # frozen unless asked; for Gemma 3 they are 168M of its 270M weights
    train_embeddings: bool = False
    # the loss's softmax over the "full" vocabulary or only the tokens the training
    # "completions" use (hf_bioner.sft; CPU loss only, the fused GPU head is always full)
    loss_vocabulary: str = "full"
    # device (None = pick per device, see module docstring)
    bf16: bool | None = None
    padding_free: bool | None = None
    group_by_length: bool = True
    gradient_checkpointing: bool | None = None
    fused_lm_head: bool | None = None
    dtype: str | None = None
    device_map: str | None = None
    load_in_4bit: bool = False
    use_kernels: bool = False  # transformers' Hub kernels (looked up on the Hub: off offline)
    # evaluation and checkpoints
    eval_size: int = 64
    eval_steps: int = 200
    eval_batch_size: int = 16
    save_steps: int = 200
    logging_steps: int = 10
    checkpoint_dir: str | None = None
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.corpora, str):
            self.corpora = [c.strip() for c in self.corpora.split(",") if c.strip()]
        if not self.corpora:
            raise BioNerInputError("no corpora given")
        for name in self.corpora:
            corpus_spec(name, "train")
        if self.scheme not in SCHEMES:
            raise BioNerInputError(f"unknown scheme {self.scheme!r}; valid: {', '.join(SCHEMES)}")
        if self.mix not in MIX_STRATEGIES:
            raise BioNerInputError(f"unknown mix {self.mix!r}; valid: {', '.join(MIX_STRATEGIES)}")
        check_prompt_style(self.prompt_style)
        if self.batch_size is None:
            self.batch_size = train_batch_size(cuda_available())
        if self.init_adapter is not None:
            if not self.lora:
                raise BioNerInputError("init_adapter continues a LoRA adapter: drop --full")
            if not (Path(self.init_adapter) / "adapter_config.json").is_file():
                raise BioNerInputError(
                    f"init_adapter {self.init_adapter!r}: no adapter_config.json in that folder"
                )
        if self.loss_vocabulary not in ("full", "completions"):
            raise BioNerInputError(
                f"unknown loss vocabulary {self.loss_vocabulary!r}; valid: full, completions"
            )

    @property
    def run_name(self) -> str:
        return Path(self.output_dir).resolve().name

    def checkpoints(self) -> Path:
        return Path(self.checkpoint_dir or paths.cache_dir() / "checkpoints" / self.run_name)


# ----------------------------------------------------------------------------- data


def _fit_length(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], int]:
    """Drop rows whose prompt + completion exceed ``max_length`` tokens; count them."""
    kept = []
    for row in rows:
        n = len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) + 1
        if n <= max_length:
            kept.append(row)
    return kept, len(rows) - len(kept)


def mixed_training_rows(config: TrainConfig, tokenizer) -> tuple[list[dict], dict]:
    """The mixed, shuffled training rows (with the id and corpus of each sentence) and a
    record of the exact mix. Seeded: the same config gives the same rows again."""
    parts = {}
    for name in config.corpora:
        records = load_records(name, "train", config.data_dir)
        rows = rows_from_records(records, config.scheme, config.prompt_style)
        rows, too_long = _fit_length(rows, tokenizer, config.max_length)
        if too_long:
            logger.warning(
                "%s: dropped %d rows longer than %d tokens", name, too_long, config.max_length
            )
        parts[name] = (rows, too_long)
    if not any(rows for rows, _ in parts.values()):
        dropped = sum(too_long for _, too_long in parts.values())
        raise BioNerInputError(
            f"the training set is empty after length filtering: all {dropped} rows are longer "
            f"than max_length={config.max_length} tokens"
        )
    mixed, taken = mix_rows(
        {name: rows for name, (rows, _) in parts.items()},
        config.mix,
        config.temperature,
        config.cap,
        config.seed,
    )
    mix = {
        name: {"available": len(rows), "taken": taken[name], "dropped_too_long": too_long}
        for name, (rows, too_long) in parts.items()
    }
    return mixed, mix


def build_training_rows(config: TrainConfig, tokenizer) -> tuple[list[dict], dict]:
    """Mixed, shuffled prompt/completion rows and a record of the exact mix."""
    mixed, mix = mixed_training_rows(config, tokenizer)
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in mixed], mix


def seen_training_ids(folder: str | Path, data_dir: str | Path | None = None) -> set[str]:
    """Ids of the training sentences a trained model learnt, rebuilt from the config in its
    ``training_summary.json`` (the mix is seeded); empty when the folder has no summary.

    A run capped below a corpus's size leaves training sentences it never saw: held-out
    text for choosing checkpoints and tuning the selector where dev is the evaluation split.
    """
    from transformers import AutoTokenizer

    from hf_bioner.models import resolve_base

    folder = Path(folder)
    if not (folder / SUMMARY_NAME).exists():
        return set()
    saved = json.loads((folder / SUMMARY_NAME).read_text())["config"]
    # The same corpora, wherever they are on this machine (where training read them, if there).
    if data_dir is None and saved["data_dir"] and Path(saved["data_dir"]).is_dir():
        data_dir = saved["data_dir"]
    config = TrainConfig(**saved | {"data_dir": str(data_dir) if data_dir else None})
    # An adapter folder may leave out the base's tokenizer (it counts tokens to drop rows).
    has_tokenizer = (folder / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(
        folder if has_tokenizer else resolve_base(config.base)
    )
    rows, _ = mixed_training_rows(config, tokenizer)
    return {row["id"] for row in rows}


def dev_sample(config: TrainConfig) -> list[Record]:
    """A fixed sample of dev sentences per corpus (the test split is never looked at)."""
    if config.eval_size <= 0:
        return []
    rng = random.Random(config.seed)
    sample: list[Record] = []
    per_corpus = max(1, config.eval_size // len(config.corpora))
    for name in config.corpora:
        records = load_records(name, "dev", config.data_dir)
        sample += rng.sample(records, min(per_corpus, len(records)))
    return sample


# ----------------------------------------------------------------------------- device


def device_defaults(config: TrainConfig) -> dict:
    """bf16 / padding-free / gradient checkpointing for this machine, unless set."""

    cuda = cuda_available()
    bf16 = bf16_is_fast(cuda)
    return {
        "use_cpu": not cuda,
        "bf16": bf16 if config.bf16 is None else config.bf16,
        "padding_free": bool(config.padding_free),
        # transformers >= 5.23 name (``gradient_checkpointing`` is its deprecated alias)
        "activation_checkpointing": (
            cuda and not config.lora
            if config.gradient_checkpointing is None
            else config.gradient_checkpointing
        ),
    }


# ----------------------------------------------------------------------------- callbacks


def _callbacks(config: TrainConfig, dev: list[Record], output: Path):
    """The time-limit, dev-F1 and throughput callbacks (built lazily: transformers is heavy).

    The time limit comes first, so that the step it stops at is evaluated and saved as a
    checkpoint like any other: a run stopped by ``max_minutes`` continues with ``--resume``.
    """
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        """Stop after ``max_minutes`` of this run (a fixed CPU budget: the same for every
        recipe compared), saving a checkpoint there."""

        def on_train_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if time.perf_counter() - self.start > config.max_minutes * 60:
                control.should_training_stop = True
                control.should_save = True

    class DevF1(TrainerCallback):
        """Tag the dev sample every ``eval_steps`` and at the last step; keep the weights with
        the best strict F1 in ``output/best``.

        Each point goes into the trainer's log history, which checkpoints carry, so the curve
        of a run resumed across many sessions is whole.
        """

        def on_train_begin(self, args, state, control, **kw):
            self.best = max((p["f1"] for p in dev_curve(state.log_history)), default=-1.0)

        def evaluate(self, state, model, tokenizer):
            from hf_bioner.inference import predict_records
            from hf_bioner.scoring import score

            result = predict_records(
                model,
                tokenizer,
                dev,
                config.scheme,
                config.eval_batch_size,
                constrained=config.scheme == "inline",  # as the pipeline tags
                prompt_style=config.prompt_style,
            )
            scores = score(result["predictions"], [r["entities"] for r in dev])
            by_corpus = corpus_f1(result["predictions"], dev)
            state.log_history.append(
                {"step": state.global_step}
                | {f"dev_{key}": scores[key] for key in ("f1", "precision", "recall")}
                | {"dev_corpus_f1": by_corpus}
            )
            logger.warning(
                "step %d: dev strict F1 %.4f (P %.4f R %.4f; %s)",
                state.global_step,
                scores["f1"],
                scores["precision"],
                scores["recall"],
                ", ".join(f"{name} {f1:.4f}" for name, f1 in by_corpus.items()),
            )
            if scores["f1"] > self.best:
                self.best = scores["f1"]
                model.save_pretrained(output / "best")
            model.train()

        def evaluated(self, state) -> bool:
            curve = dev_curve(state.log_history)
            return bool(curve) and curve[-1]["step"] == state.global_step

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
            due = state.global_step % config.eval_steps == 0 or control.should_training_stop
            if dev and due and not self.evaluated(state):
                self.evaluate(state, model, processing_class)

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kw):
            if dev and not self.evaluated(state):
                self.evaluate(state, model, processing_class)

    class Throughput(TrainerCallback):
        """Add training tokens/s to the logs (and so to the progress bar and summary)."""

        def on_train_begin(self, args, state, control, **kw):
            self.start, self.tokens0 = time.perf_counter(), state.num_input_tokens_seen

        def on_log(self, args, state, control, logs=None, **kw):
            elapsed = time.perf_counter() - self.start
            if logs is not None and elapsed > 0:
                logs["tokens_per_second"] = round(
                    (state.num_input_tokens_seen - self.tokens0) / elapsed, 1
                )

    limit = [TimeLimit()] if config.max_minutes else []
    return limit + [DevF1(), Throughput()]


def corpus_f1(predictions: list[list[dict]], records: list[Record]) -> dict[str, float]:
    """Strict F1 of each corpus among ``records`` (in order of first appearance)."""
    from hf_bioner.scoring import score

    by_corpus: dict[str, tuple[list, list]] = {}
    for predicted, record in zip(predictions, records, strict=True):
        pair = by_corpus.setdefault(record["corpus"], ([], []))
        pair[0].append(predicted)
        pair[1].append(record["entities"])
    return {name: score(*pair)["f1"] for name, pair in by_corpus.items()}


def dev_curve(log_history: list[dict]) -> list[dict]:
    """The dev F1 points of a trainer's log history (all sessions of a resumed run); F1 per
    corpus where it was recorded."""
    return [
        {
            "step": entry["step"],
            "f1": entry["dev_f1"],
            "precision": entry["dev_precision"],
            "recall": entry["dev_recall"],
        }
        | ({"corpora": entry["dev_corpus_f1"]} if "dev_corpus_f1" in entry else {})
        for entry in log_history
        if "dev_f1" in entry
    ]


# ----------------------------------------------------------------------------- train


def model_config(config: TrainConfig) -> dict:
    """What a saved model folder needs to be used: base, scheme, types, prompt templates."""
    return {
        "format": "hf-bioner/1",
        "base_model": config.base,
        "adapter": config.lora,
        "scheme": config.scheme,
        "prompt_style": config.prompt_style,
        "corpora": config.corpora,
        "entity_types": {
            name: {
                "language": type_set(name).language,
                "types": [asdict(t) for t in type_set(name).types],
            }
            for name in config.corpora
        },
        "prompt_templates": {
            "template": TEMPLATES,
            "short_template": SHORT_TEMPLATES,
            "how": {f"{lang}/{scheme}": text for (lang, scheme), text in ANSWER_FORMATS.items()},
        },
    }


def _tokens_before(trainer) -> int:
    """Tokens a resumed run's checkpoint had already seen (0 for a fresh run)."""
    return getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0


def this_session(trainer, result) -> dict:
    """What this ``train()`` call did on its own: the steps it ran, its tokens, clock, speed,
    loss and machine (a resumed call starts at its checkpoint's step and tokens)."""
    tokens = trainer.state.num_input_tokens_seen - _tokens_before(trainer)
    seconds = result.metrics.get("train_runtime") or 0.0
    return {
        "steps": [getattr(trainer, "_initial_global_step", 0) or 0, trainer.state.global_step],
        "tokens": tokens,
        "train_seconds": seconds,
        "tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
        "train_loss": result.training_loss,
        "machine": machine(),
    }


def _as_one_session(summary: dict) -> dict:
    """A summary written before sessions were recorded, read as one session from step 0."""
    return {
        "steps": [0, summary["steps"]],
        "tokens": summary["train_tokens"],
        "train_seconds": summary["train_seconds"],
        "tokens_per_second": summary["tokens_per_second"],
        "train_loss": summary["train_loss"],
        "machine": summary["machine"],
    }


def join_sessions(earlier: dict | None, session: dict) -> list[dict]:
    """Every session of a run, given the summary the run's output held before this one (None
    for a fresh run). A summary written before sessions were recorded counts as one session;
    steps no saved summary covers (a session killed before writing one) become a session
    with no figures, so the list always spans step 0 to the last step."""
    sessions = []
    if earlier is not None:
        sessions = earlier.get("sessions") or [_as_one_session(earlier)]
        sessions = [s for s in sessions if s["steps"][1] <= session["steps"][0]]
    done = sessions[-1]["steps"][1] if sessions else 0
    if done < session["steps"][0]:
        sessions.append({"steps": [done, session["steps"][0]], "train_seconds": None,
                         "note": "no summary saved (the session was stopped before its end)"})  # fmt: skip
    return [*sessions, session]


def timed_sessions(summary: dict) -> list[dict]:
    """The summary's sessions that saved their time (a killed session saved none)."""
    return [s for s in summary.get("sessions") or [] if s.get("train_seconds")]


def _prepare_output(config: TrainConfig) -> Path:
    output = Path(config.output_dir)
    if output.exists() and any(output.iterdir()) and not (config.overwrite or config.resume):
        raise BioNerInputError(f"{output}: exists and is not empty (use --overwrite or --resume)")
    if config.overwrite and not config.resume:
        shutil.rmtree(output, ignore_errors=True)
        shutil.rmtree(config.checkpoints(), ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    return output


def train(config: TrainConfig) -> dict:
    """Run one fine-tune; returns the training summary (also saved in the output folder)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from hf_bioner.models import load_base
    from hf_bioner.sft import CompletionSFTTrainer

    output = _prepare_output(config)
    started = time.time()
    model, tokenizer = load_base(config.base, config.dtype, config.device_map, config.load_in_4bit,
                                 config.use_kernels)  # fmt: skip
    rows, mix = build_training_rows(config, tokenizer)
    dev = dev_sample(config)
    device = device_defaults(config)
    steps_per_epoch = math.ceil(len(rows) / (config.batch_size * config.grad_accum))
    logger.warning(
        "training %s on %d rows (%s), %s steps/epoch, %s",
        config.base,
        len(rows),
        ", ".join(f"{k}: {v['taken']}" for k, v in mix.items()),
        steps_per_epoch,
        device,
    )
    args = SFTConfig(
        output_dir=str(config.checkpoints()),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        warmup_steps=math.ceil(config.warmup_ratio * steps_per_epoch * config.epochs),
        lr_scheduler_type="cosine",
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        # Rows longer than max_length were already dropped (and counted) above; TRL cannot
        # enforce max_length itself on padding-free batches.
        max_length=None if device["padding_free"] else config.max_length,
        completion_only_loss=True,
        report_to="none",
        include_num_input_tokens_seen="non_padding",
        train_sampling_strategy="random"
        if device["padding_free"] or not config.group_by_length
        else "group_by_length",
        disable_tqdm=False,
        **device,
    )
    peft_config = None
    if config.init_adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, config.init_adapter, is_trainable=True)
    elif config.lora:
        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        )
    elif not config.train_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    # TRL's fused LM head is fast only with its GPU kernel (see hf_bioner.sft).
    fused = cuda_available() if config.fused_lm_head is None else config.fused_lm_head
    options = {} if fused else {"loss_vocabulary": config.loss_vocabulary}
    trainer = (SFTTrainer if fused else CompletionSFTTrainer)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=_callbacks(config, dev, output),
        **options,
    )
    resume = config.resume and any(config.checkpoints().glob("checkpoint-*"))
    saved = output / SUMMARY_NAME  # the summary an earlier session of this run wrote
    earlier = json.loads(saved.read_text()) if resume and saved.exists() else None
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    session = this_session(trainer, result)
    trainer.model.save_pretrained(output)
    curve = dev_curve(trainer.state.log_history)
    if curve and (output / "best").exists():
        # The adapter that scored best on dev is the one we ship.
        for item in (output / "best").iterdir():
            shutil.copy2(item, output / item.name)
    tokenizer.save_pretrained(output)
    # The base architecture's config.json: lets pipeline("bio-ner", model=output) read it.
    trainer.model.config.save_pretrained(output)
    (output / MODEL_CONFIG_NAME).write_text(
        json.dumps(model_config(config), indent=2, ensure_ascii=False) + "\n"
    )
    summary = {
        "config": asdict(config),
        "data_mix": mix,
        "train_rows": len(rows),
        "dev_sample": len(dev),
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_tokens": trainer.state.num_input_tokens_seen,
        "completion_tokens": getattr(trainer, "completion_tokens_seen", None),
        "loss_vocabulary_size": (
            None if getattr(trainer, "vocabulary", None) is None else len(trainer.vocabulary)
        ),
        "train_loss": result.training_loss,  # this session's, as are the next three
        "seconds": round(time.time() - started, 1),
        "train_seconds": session["train_seconds"],
        "tokens_per_second": session["tokens_per_second"],
        "sessions": join_sessions(earlier, session),
        "dev_f1_curve": curve,
        "best_dev_f1": max((p["f1"] for p in curve), default=None),
        "device": {**device, "fused_lm_head": fused},
        "machine": machine(),
        "log_history": trainer.state.log_history,
    }
    (output / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
