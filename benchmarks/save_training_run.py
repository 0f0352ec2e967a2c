"""Keep a training run's record in the repository: ``train_<name>.json`` from its summary.

A run's output folder (adapter, ``training_summary.json``) lives outside the repository; this
copies what a reader needs to judge and repeat the run into ``benchmarks/results/``: the
training command and its full configuration, data mix, steps, tokens, time and speed, the
machine, and the dev F1 of the last evaluation during training under ``precision`` /
``recall`` / ``f1``.

    python benchmarks/save_training_run.py runs/gemma-ncbi-inline --name gemma-ncbi-inline \
        --training-command "hf-bioner train --base gemma-3-270m --corpora ncbi_disease ..."

A run resumed across sessions keeps each session's steps, tokens, time and speed in its
summary (``sessions``); the record copies them and sums their time.
"""

from __future__ import annotations

import json
from pathlib import Path

from common import record_parser, save_result

from hf_bioner.training.records import timed_sessions


def main() -> None:
    parser = record_parser(__doc__, "run", "an hf-bioner train output folder", "train_")
    args = parser.parse_args()
    summary = json.loads((Path(args.run) / "training_summary.json").read_text())
    config = summary["config"]
    last_dev = summary["dev_f1_curve"][-1] if summary["dev_f1_curve"] else {}
    sessions, timed = summary.get("sessions") or [], timed_sessions(summary)
    seconds = sum(s["train_seconds"] for s in timed) if len(sessions) > 1 else None
    save_result(
        f"train_{args.name}",
        {
            "training_command": args.training_command,
            "training_config": config,
            "model": {
                "base": config["base"],
                "scheme": config["scheme"],
                "method": "LoRA r={lora_r} alpha={lora_alpha} dropout {lora_dropout}, "
                "{target_modules}".format(**config)
                if config["lora"]
                else "full",
            },  # fmt: skip
            "data": {
                "mix": summary["data_mix"],
                "train_rows": summary["train_rows"],
                "train_tokens": summary["train_tokens"],
                "dev_sample": summary["dev_sample"],
            },  # fmt: skip
            "steps": summary["steps"],
            "epochs": summary["epochs"],
            "train_loss": summary["train_loss"],
            "train_seconds": seconds or summary["train_seconds"],
            "tokens_per_second": round(sum(s["tokens"] for s in timed) / seconds, 1)
            if seconds
            else summary["tokens_per_second"],
            "sessions": sessions,
            "device": summary["device"],
            "training_machine": summary["machine"],
            "what": f"strict micro P/R/F1 of the last dev evaluation during training "
            f"({summary['dev_sample']} dev sentences)",
            "precision": last_dev.get("precision"),
            "recall": last_dev.get("recall"),
            "f1": last_dev.get("f1"),
            "dev_f1_curve": summary["dev_f1_curve"],
        },
    )


if __name__ == "__main__":
    main()
