"""Training throughput (tokens/s) and memory on this machine, side by side in one run.

``--group recipe`` (saved as ``train_speed_recipe.json``) compares the training recipe of the
first bundled model with the levers of the CPU recipe, one at a time and together, on
Gemma-3-270m: the loss over the training completions' vocabulary instead of all 262,144
tokens, short prompts (type names only), full fine-tuning of the non-embedding weights
against LoRA, and bf16 where the CPU has bf16 units. Rows are a seeded mix of the four
training sets (the same rows for every setting); "useful" tokens are the labelled completion
tokens, which short prompts do not shrink. Each setting runs in its own process, so its peak
memory (max RSS) is its own.

``--group levers`` (the default, ``train_speed.json``): for each base model: LoRA with fp32 vs bf16 autocast (bf16 skipped where the hardware lacks
it), random vs length-grouped batches, hf-bioner's completion-only loss vs TRL's fused LM
head, and (for the smaller model) full fine-tuning as the baseline LoRA must beat. Padding-free batches are checked for correctness instead of timed:
the loss of one packed batch vs the same batch padded. Every setting
trains the same NCBI-disease rows for the same number of steps in one run.

    python benchmarks/train_speed.py --data-dir ../shared/corpora [--steps 12] [--bases smollm2-135m,gemma-3-270m]
    python benchmarks/train_speed.py --group recipe --data-dir ../shared/corpora --steps 8
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile

from common import save_result

from hf_bioner.training import TrainConfig, train

ALL_CORPORA = ["ncbi_disease", "bc5cdr", "jnlpba", "cmeee"]
TODAY = {"lora": True, "lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-4}
RECIPE = [
    {"name": "today", **TODAY},
    {"name": "completion-vocabulary", **TODAY, "loss_vocabulary": "completions"},
    {"name": "short-prompts", **TODAY, "prompt_style": "short"},
    {
        "name": "completion-vocabulary+short-prompts",
        **TODAY,
        "loss_vocabulary": "completions",
        "prompt_style": "short",
    },  # fmt: skip
    {
        "name": "new-lora-r64",
        "lora": True,
        "lora_r": 64,
        "lora_alpha": 64,
        "learning_rate": 5e-4,
        "loss_vocabulary": "completions",
        "prompt_style": "short",
    },  # fmt: skip
    {
        "name": "new-full-non-embedding",
        "lora": False,
        "learning_rate": 5e-5,
        "loss_vocabulary": "completions",
        "prompt_style": "short",
    },  # fmt: skip
    {
        "name": "new-lora-r64-bf16",
        "lora": True,
        "lora_r": 64,
        "lora_alpha": 64,
        "bf16": True,
        "learning_rate": 5e-4,
        "loss_vocabulary": "completions",
        "prompt_style": "short",
    },  # fmt: skip
]
RECIPE_KEYS = ("lora", "lora_r", "lora_alpha", "learning_rate", "loss_vocabulary",
               "prompt_style", "bf16")  # fmt: skip

SETTINGS = [
    {"name": "lora-fp32-random", "lora": True, "bf16": False, "group_by_length": False},
    {"name": "lora-fp32-grouped", "lora": True, "bf16": False, "group_by_length": True},
    {"name": "lora-bf16-grouped", "lora": True, "bf16": True, "group_by_length": True},
    {
        "name": "lora-bf16-grouped-trl-fused-head",  # TRL's own loss, for the ratio
        "lora": True,
        "bf16": True,
        "group_by_length": True,
        "fused_lm_head": True,
    },
    {
        "name": "full-fp32-grouped",
        "lora": False,
        "bf16": False,
        "group_by_length": True,
        "only": "smollm2-135m",
    },
    {
        "name": "full-bf16-grouped",
        "lora": False,
        "bf16": True,
        "group_by_length": True,
        "only": "smollm2-135m",
    },
]


def matmul_gflops(dtype_name: str, size: int = 1024, repeat: int = 3) -> float:
    """Raw matrix-multiply speed: tells whether bf16 has hardware support here."""
    import time

    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return round(2 * size**3 * repeat / (time.perf_counter() - start) / 1e9, 1)


def padding_free_loss_check(base: str) -> dict:
    """Loss of one batch padded vs padding-free (packed): equal only if packing is exact."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from hf_bioner.models import load_base

    model, tokenizer = load_base(base)
    texts = [
        "BRCA1 mutations cause breast cancer.",
        "No entity here.",
        "Ataxia-telangiectasia is rare.",
    ]
    rows = [{"input_ids": tokenizer(t)["input_ids"]} for t in texts]
    losses = {}
    with torch.no_grad():
        for packed in (False, True):
            batch = DataCollatorForLanguageModeling(tokenizer.pad_token_id, padding_free=packed)(
                rows
            )
            inputs = {
                k: v
                for k, v in batch.items()
                if k in ("input_ids", "attention_mask", "position_ids", "labels")
            }
            losses["padding_free" if packed else "padded"] = round(model(**inputs).loss.item(), 4)
    losses["attn_implementation"] = model.config._attn_implementation
    return losses


def _train_and_measure(options: dict, queue) -> None:
    """Child process: one short training run; its summary figures and peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = train(TrainConfig(output_dir=f"{tmp}/out", checkpoint_dir=f"{tmp}/ckpt",
                                    **options))  # fmt: skip
    keys = ("steps", "train_rows", "train_tokens", "completion_tokens", "train_seconds",
            "train_loss", "loss_vocabulary_size")  # fmt: skip
    result = {key: summary[key] for key in keys}
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    queue.put(result)


def measure_in_child(options: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_train_and_measure, args=(options, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def compare_recipes(args, gflops: dict, bf16_usable: bool) -> None:
    """``--group recipe``: today's recipe against the CPU recipe's levers (module docstring)."""
    base = args.bases.split(",")[0] if args.bases else "gemma-3-270m"
    rows, skipped = [], []
    for setting in RECIPE:
        if setting.get("bf16") and not bf16_usable:
            skipped.append({"setting": setting["name"], "why": "no bf16 hardware"})
            continue
        options = dict(
            base=base,
            corpora=ALL_CORPORA,
            data_dir=args.data_dir,
            mix="uniform",
            cap=args.rows_per_corpus,
            max_steps=args.steps,
            batch_size=args.batch_size,
            eval_size=0,
            save_steps=10_000,
            logging_steps=args.steps,
            scheme="inline",
            bf16=setting.get("bf16", False),
            **{k: setting[k] for k in RECIPE_KEYS if k in setting and k != "bf16"},
        )
        result = measure_in_child(options)
        seconds = result["train_seconds"]
        row = {
            "setting": setting["name"],
            "recipe": {k: setting.get(k) for k in RECIPE_KEYS},
            **result,
            "tokens_per_second": round(result["train_tokens"] / seconds, 1),
            "useful_tokens_per_second": round(result["completion_tokens"] / seconds, 1),
            "rows_per_second": round(result["steps"] * args.batch_size / seconds, 3),
        }
        print(row, flush=True)
        rows.append(row)
    today = rows[0]
    for row in rows:
        row["useful_speedup_vs_today"] = round(
            row["useful_tokens_per_second"] / today["useful_tokens_per_second"], 2
        )
        row["memory_vs_today"] = round(row["peak_rss_mib"] / today["peak_rss_mib"], 2)
    save_result(
        "train_speed_recipe",
        {
            "what": "training speed and peak memory of today's recipe vs the CPU recipe's "
            "levers; useful tokens = labelled completion tokens",
            "model": base,
            "data": {
                "corpora": ALL_CORPORA,
                "mix": "uniform",
                "rows_per_corpus": args.rows_per_corpus,
                "batch_size": args.batch_size,
                "steps": args.steps,
            },
            "matmul_gflops": gflops,
            "results": rows,
            "skipped": skipped,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=("levers", "recipe"), default="levers")
    parser.add_argument("--data-dir")
    parser.add_argument("--bases", default=None,
                        help="levers: smollm2-135m,gemma-3-270m; recipe: gemma-3-270m")  # fmt: skip
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rows-per-corpus", type=int, default=100, help="recipe group")
    args = parser.parse_args()
    gflops = {"float32": matmul_gflops("float32"), "bfloat16": matmul_gflops("bfloat16")}
    # Without bf16 units (no AMX / AVX512-BF16) bf16 matmuls run hundreds of times slower:
    # a training step would take hours, so those settings are recorded as skipped.
    bf16_usable = gflops["bfloat16"] > gflops["float32"] / 4
    print("matmul GFLOPS", gflops, flush=True)
    if args.group == "recipe":
        compare_recipes(args, gflops, bf16_usable)
        return
    args.bases = args.bases or "smollm2-135m,gemma-3-270m"
    rows, skipped = [], []
    for base in args.bases.split(","):
        for setting in SETTINGS:
            if setting.get("only", base) != base:
                continue
            if setting["bf16"] and not bf16_usable:
                skipped.append(
                    {"base": base, "setting": setting["name"], "why": "no bf16 hardware"}
                )
                continue
            with tempfile.TemporaryDirectory() as tmp:
                config = TrainConfig(
                    output_dir=f"{tmp}/out",
                    checkpoint_dir=f"{tmp}/ckpt",
                    base=base,
                    corpora=["ncbi_disease"],
                    data_dir=args.data_dir,
                    max_steps=args.steps,
                    batch_size=args.batch_size,
                    eval_size=0,
                    save_steps=10_000,
                    logging_steps=args.steps,
                    lora=setting["lora"],
                    bf16=setting["bf16"],
                    group_by_length=setting["group_by_length"],
                    fused_lm_head=setting.get("fused_lm_head"),
                    learning_rate=2e-4 if setting["lora"] else 5e-5,
                )
                summary = train(config)
            row = {
                "base": base,
                "setting": setting["name"],
                "steps": summary["steps"],
                "train_tokens": summary["train_tokens"],
                "train_seconds": summary["train_seconds"],
                "tokens_per_second": summary["tokens_per_second"],
                "train_loss": summary["train_loss"],
            }
            print(row, flush=True)
            rows.append(row)
    for base in {r["base"] for r in rows}:
        ref = next(r for r in rows if r["base"] == base and r["setting"] == "lora-fp32-random")
        for r in rows:
            if r["base"] == base:
                r["speedup_vs_lora_fp32_random"] = round(
                    r["tokens_per_second"] / ref["tokens_per_second"], 2
                )
    save_result(
        "train_speed",
        {
            "what": "training tokens/s, same NCBI-disease train rows and steps per setting",
            "data": {
                "corpus": "ncbi_disease",
                "split": "train",
                "batch_size": args.batch_size,
                "steps": args.steps,
            },
            "matmul_gflops": gflops,
            "padding_free_loss_check": {
                b: padding_free_loss_check(b) for b in args.bases.split(",")
            },
            "results": rows,
            "skipped": skipped,
        },
    )


if __name__ == "__main__":
    main()
