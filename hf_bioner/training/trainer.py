"""Fine-tune a base LLM to tag biomedical entities: one config object, one ``train`` call.

:class:`TrainConfig` says everything about a run; :func:`train` builds the mixed bilingual
prompt/completion data, loads the base model, wraps it with a PEFT LoRA adapter (or trains it
fully), and runs TRL's ``SFTTrainer`` with the loss on the completion only. During training a
callback tags a small dev sample by generation and logs strict F1, keeping the best adapter.

Device defaults (see ``benchmarks/results/train_speed.json``): bf16 autocast only where the
hardware has bf16 units (GPUs that support it; CPUs with AMX or AVX512-BF16; on a CPU
without them bf16 matmuls fall back to slow code), gradient checkpointing only for full
fine-tuning on a GPU, batches grouped by length so little compute goes to padding, and on a
CPU a completion-only loss instead of TRL's fused LM head (:mod:`hf_bioner.training.sft`: 2.5x
faster here).
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
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from hf_bioner.device import bf16_is_fast, cuda_available, machine
from hf_bioner.inference import predict_records
from hf_bioner.model_format import MODEL_CONFIG_NAME, SUMMARY_NAME
from hf_bioner.models import load_base
from hf_bioner.schema import BioNerInputError, Record
from hf_bioner.scoring import score
from hf_bioner.training.config import TrainConfig
from hf_bioner.training.data import build_training_rows, dev_sample
from hf_bioner.training.records import dev_curve, join_sessions, model_config, this_session

logger = logging.getLogger(__name__)


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

        def on_train_begin(self, args, state, control, model=None, processing_class=None,
                           **kw):  # fmt: skip
            self.best = max((p["f1"] for p in dev_curve(state.log_history)), default=-1.0)
            # A continued adapter is measured before its first step: the curve starts where
            # the adapter stood, so a second pass shows whether it helps at all.
            if dev and config.init_adapter and state.global_step == 0:
                self.evaluate(state, model, processing_class)

        def evaluate(self, state, model, tokenizer):
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
    by_corpus: dict[str, tuple[list, list]] = {}
    for predicted, record in zip(predictions, records, strict=True):
        pair = by_corpus.setdefault(record["corpus"], ([], []))
        pair[0].append(predicted)
        pair[1].append(record["entities"])
    return {name: score(*pair)["f1"] for name, pair in by_corpus.items()}


# ----------------------------------------------------------------------------- train


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

    # Imports torch and TRL when loaded: only here, so importing hf_bioner.training stays fast.
    from hf_bioner.training.sft import CompletionSFTTrainer

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
    # TRL's fused LM head is fast only with its GPU kernel (see hf_bioner.training.sft).
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
