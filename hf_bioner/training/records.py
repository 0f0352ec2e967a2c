"""What a run leaves in its model folder besides the weights: ``hf_bioner_config.json``
(:func:`model_config`: all that loading needs) and the figures of ``training_summary.json``
that the model card reads: the dev F1 curve and the sessions of a run resumed across many
(steps, tokens, clock, machine of each)."""

from __future__ import annotations

from dataclasses import asdict

from hf_bioner.device import machine
from hf_bioner.model_format import MODEL_FORMAT
from hf_bioner.prompts import ANSWER_FORMATS, SHORT_TEMPLATES, TEMPLATES
from hf_bioner.schema import type_set
from hf_bioner.training.config import TrainConfig


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


def model_config(config: TrainConfig) -> dict:
    """What a saved model folder needs to be used: base, scheme, types, prompt templates."""
    return {
        "format": MODEL_FORMAT,
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
