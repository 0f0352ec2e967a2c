"""What one decoding step costs, by rows and tokens read per row: when copy drafts pay.

A drafted step reads each row's token and up to ``d`` drafted tokens (:mod:`hf_bioner.
decoding.drafted_tables`); it pays when the tokens a row keeps per step outnumber what the
extra reading costs. This script times the bundled model's step body (in the dtype the
pipeline's steps use on this machine, :func:`hf_bioner.decoding.generation.step_dtype`, or
``--step-dtype``) over a cache of ``--context`` slots per row, at 1 to 64 rows reading 1 to 9
tokens each, the fastest of ``--repeats`` passes, with random token ids (a step's cost does
not depend on which tokens it reads). For each size it reports milliseconds per step, the
ratio to reading one token per row, and ``kept_to_pay``: how many drafted tokens a row must
keep per step for the draft to cost less per written token than no draft (ratio - 1).

The default call's rows keep about 0.8 of each drafted token (``kept`` / ``drafted`` of
:class:`~hf_bioner.decoding.drafted_tables.DraftedTableDecoder`), so a draft of 4 pays where
``kept_to_pay`` at ``tokens=5`` is below about 3.2.

It also times prompt reads (``prompt_reads``: rows of a width, no cache), whose cost per
pass beside the cost per token says how many padded tokens one more pass is worth
(:data:`hf_bioner.decoding.allowed_tokens.GROUP_PASS_TOKENS`). Saves
``benchmarks/results/step_cost_<name>.json``; the result holds for the CPU it ran on.

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/step_cost.py --name epyc-1core
"""

from __future__ import annotations

import argparse
import time

from common import add_model_argument, save_result

ROWS = (1, 4, 8, 16, 32, 64)
TOKENS = (1, 2, 3, 5, 9)
PROMPT_READS = ((1, 16), (1, 32), (1, 64), (4, 64), (16, 32), (16, 64))  # (rows, width)


def step_seconds(body, config, rows: int, tokens: int, context: int, repeats: int) -> float:
    """The fastest of ``repeats`` steps of ``rows`` rows reading ``tokens`` tokens each after
    ``context`` cached slots (the step's slots are dropped again after each pass)."""
    import torch

    from hf_bioner.decoding.kv_cache import decoding_cache

    cache = decoding_cache(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ids = torch.randint(100, 5000, (rows, context), generator=generator)
        body(input_ids=ids, cache=cache, use_cache=True)
        fastest = float("inf")
        positions = torch.arange(context, context + tokens)[None].expand(rows, tokens)
        for _ in range(repeats):
            step = torch.randint(100, 5000, (rows, tokens), generator=generator)
            started = time.perf_counter()
            body(input_ids=step, cache=cache, use_cache=True, position_ids=positions)
            fastest = min(fastest, time.perf_counter() - started)
            cache.crop(-tokens)
    return fastest


def read_seconds(body, config, rows: int, width: int, repeats: int) -> float:
    """The fastest of ``repeats`` reads of ``rows`` prompts of ``width`` tokens."""
    import torch

    from hf_bioner.decoding.kv_cache import decoding_cache

    generator = torch.Generator().manual_seed(0)
    fastest = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            ids = torch.randint(100, 5000, (rows, width), generator=generator)
            started = time.perf_counter()
            body(input_ids=ids, cache=decoding_cache(config), use_cache=True)
            fastest = min(fastest, time.perf_counter() - started)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_argument(parser)
    parser.add_argument("--step-dtype", default="auto",
                        help="as the pipeline's option: auto, model, int8, bfloat16")  # fmt: skip
    parser.add_argument("--context", type=int, default=120, help="cached slots per row")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="cpu", help="result: step_cost_<name>.json")
    args = parser.parse_args()

    import torch

    from hf_bioner.decoding.allowed_tokens import step_copy
    from hf_bioner.decoding.generation import step_dtype
    from hf_bioner.models import load_trained

    model, tokenizer, _config = load_trained(args.model, merge=True)
    dtype = step_dtype(model, args.step_dtype)
    body = model.get_decoder()
    if dtype is not None:
        body = step_copy(model, body, dtype, tokenizer)
    sizes = []
    for rows in ROWS:
        one = step_seconds(body, model.config, rows, 1, args.context, args.repeats)
        for tokens in TOKENS:
            seconds = one if tokens == 1 else step_seconds(body, model.config, rows, tokens,
                                                           args.context, args.repeats)  # fmt: skip
            sizes.append({"rows": rows, "tokens": tokens, "ms_per_step": round(seconds * 1e3, 2),
                          "ratio_to_one_token": round(seconds / one, 3),
                          "kept_to_pay": round(seconds / one - 1, 2)})  # fmt: skip
            print(sizes[-1], flush=True)
    reads = []
    for rows, width in PROMPT_READS:
        seconds = read_seconds(body, model.config, rows, width, args.repeats)
        reads.append({"rows": rows, "width": width, "ms_per_read": round(seconds * 1e3, 2),
                      "ms_per_token": round(seconds * 1e3 / (rows * width), 3)})  # fmt: skip
        print(reads[-1], flush=True)
    save_result(f"step_cost_{args.name}", {
        "model": args.model,
        "step_dtype": str(dtype or model.dtype),
        "torch_threads": torch.get_num_threads(),
        "context": args.context,
        "repeats": args.repeats,
        "data": {"rows": list(ROWS), "tokens_per_row": list(TOKENS)},
        "sizes": sizes,
        "prompt_reads": reads,
    })  # fmt: skip


if __name__ == "__main__":
    main()
