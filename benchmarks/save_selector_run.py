"""Keep a selector's training record in the repository: ``train_selector-<name>.json``.

``hf-bioner train-selector`` saves its summary inside the selector folder
(``selector_config.json``); this copies what a reader needs to judge and repeat it into
``benchmarks/results/``: the command, the selector's configuration and thresholds, the
sentences and candidates it was trained on, its loss at the start and end, and its
calibration, whose strict scores (in-sample: the threshold is chosen on them) go under
``precision`` / ``recall`` / ``f1``.

    python benchmarks/save_selector_run.py hf_bioner/default_model/selector \\
        --name gemma-joint-r64-bf16 --training-command "hf-bioner train-selector ..."
"""

from __future__ import annotations

import json
from pathlib import Path

from common import record_parser, save_result


def mean_loss(curve: list[dict]) -> dict:
    """Mean of each loss over some steps of the loss curve."""
    return {key: round(sum(step[key] for step in curve) / len(curve), 4)
            for key in ("contrastive", "bce")}  # fmt: skip


def main() -> None:
    folder_help = "a selector folder written by hf-bioner train-selector"
    parser = record_parser(__doc__, "selector", folder_help, "train_selector-")
    parser.add_argument("--note", help="anything a reader must know about the run")
    args = parser.parse_args()
    saved = json.loads((Path(args.selector) / "selector_config.json").read_text())
    config, summary = saved["config"], saved["summary"]
    calibration, curve = summary["calibration"], summary["loss_curve"]
    chosen = calibration["threshold"]
    save_result(
        f"train_selector-{args.name}",
        {
            "training_command": args.training_command,
            **({"note": args.note} if args.note else {}),
            "model": f"selector of {summary['generator']} (backbone {config['backbone']} + "
            f"LoRA r{config['lora_r']})",
            "data": {
                "corpora": summary["corpora"],
                "sentences": summary["sentences"],
                "tuning_split": summary["tuning_split"],
                "candidates": summary["candidates"],
                "samples": summary["samples"],
            },
            "selector_config": config,
            "steps": len(curve),
            "loss_first_20_steps": mean_loss(curve[:20]),
            "loss_last_20_steps": mean_loss(curve[-20:]),
            "what": "calibration: the generator's predictions on held-out tuning sentences, "
            "in-sample (the thresholds are chosen on them); precision/recall/f1 are strict "
            "micro scores there at the chosen global threshold",
            "precision": chosen.get("precision"),
            "recall": chosen.get("recall"),
            "f1": chosen["f1"],
            "f1_without_selector": chosen["f1_without"],
            "calibration": calibration,
            # after hf-bioner train-selector --recalibrate: the calibration it replaced
            **{
                k: summary[k]
                for k in ("earlier_calibration", "recalibration_seconds")
                if k in summary
            },  # fmt: skip
            "seconds": summary["seconds"],
            "loss_curve": curve,
        },
    )


if __name__ == "__main__":
    main()
