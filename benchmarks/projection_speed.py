"""The projections of one transformer layer in each number format a CPU step could use.

A tagging step of a 270M model on a CPU is bound by its matrix products (77% of a default
call's time in ``aten::mm`` on an Intel Xeon without AMX), so which format they run in is
the main speed lever there. This script times the seven projections of one layer of the
bundled model's shape (Gemma-3-270m: width 640, MLP 2,048, 4 query heads and 1 key/value head
of 256) at the token counts of a step (rows x tokens read: 16 to 1,024), with random weights,
in:

``fp32``
    ``torch.nn.Linear`` in full precision;
``bf16``
    the same cast to bf16 (what the pipeline's steps use where the CPU has AMX);
``int8``
    :class:`hf_bioner.quantization.Int8Linear` (int8 weights per channel, tokens per token,
    ``torch._int_mm``), the query/key/value and gate/up projections sharing their input's
    quantization as they do in a model;
``int8-per-batch``
    PyTorch's dynamic quantization (one activation scale for the whole input), which was
    faster still but ruined English answers of the bundled model.

It reports microseconds per layer (the fastest of ``--repeats`` rounds), ratios to fp32 and
the largest error against fp32 relative to the output's largest value, and saves
``benchmarks/results/projection_speed_<name>.json``. The result holds for the CPU it ran on:
run it where you tag.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/projection_speed.py --name xeon-no-amx
"""

from __future__ import annotations

import argparse
import copy
import time

from common import save_result

# (input, output) of q, k, v, o, gate, up, down: one Gemma-3-270m layer.
WIDTH, MLP, QUERY, KEY_VALUE = 640, 2048, 4 * 256, 256
PROJECTIONS = {
    "q_proj": (WIDTH, QUERY), "k_proj": (WIDTH, KEY_VALUE), "v_proj": (WIDTH, KEY_VALUE),
    "o_proj": (QUERY, WIDTH), "gate_proj": (WIDTH, MLP), "up_proj": (WIDTH, MLP),
    "down_proj": (MLP, WIDTH),
}  # fmt: skip
FORMATS = ("fp32", "bf16", "int8", "int8-per-batch")


def layer_in(fmt: str, linears: dict):
    """A function running one layer's projections in ``fmt`` on ``{input name: tensor}``."""
    import torch

    from hf_bioner.quantization import quantize_projections

    layers = copy.deepcopy(torch.nn.ModuleDict(linears))
    dtype = torch.bfloat16 if fmt == "bf16" else torch.float32
    if fmt == "int8":  # converted as a model's are: q/k/v and gate/up share their input's
        quantize_projections(layers)
    elif fmt == "int8-per-batch":
        torch.ao.quantization.quantize_dynamic(
            layers, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            inplace=True,
        )  # fmt: skip
    else:
        layers.to(dtype)

    def run(inputs: dict) -> dict:
        return {n: layer(inputs[n].to(dtype)) for n, layer in layers.items()}

    return run


def timed(run, inputs: dict, repeats: int, calls: int = 10) -> float:
    """Microseconds per call of ``run(inputs)``, the fastest of ``repeats`` rounds."""
    run(inputs)  # warm
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            run(inputs)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="cpu", help="result: projection_speed_<name>.json")
    parser.add_argument("--tokens", default="16,80,256,1024",
                        help="comma-separated token counts (rows x tokens of a step)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from hf_bioner.device import cpu_flags

    torch.manual_seed(0)
    linears = {n: torch.nn.Linear(i, o, bias=False) for n, (i, o) in PROJECTIONS.items()}
    runs = {fmt: layer_in(fmt, linears) for fmt in FORMATS}
    rows = []
    with torch.no_grad():
        for tokens in (int(t) for t in args.tokens.split(",")):
            x, attended, hidden = (torch.randn(tokens, WIDTH), torch.randn(tokens, QUERY),
                                   torch.randn(tokens, MLP))  # fmt: skip
            inputs = {n: attended if n == "o_proj" else hidden if n == "down_proj" else x
                      for n in PROJECTIONS}  # fmt: skip
            exact = runs["fp32"](inputs)
            row = {"tokens": tokens, "microseconds": {}, "relative_error": {}}
            for fmt, run in runs.items():
                row["microseconds"][fmt] = round(timed(run, inputs, args.repeats), 1)
                got = run(inputs)
                row["relative_error"][fmt] = round(max(
                    float((got[n].float() - exact[n]).abs().max() / exact[n].abs().max())
                    for n in PROJECTIONS), 5)  # fmt: skip
            fp32 = row["microseconds"]["fp32"]
            row["fp32_over"] = {f: round(fp32 / us, 2) for f, us in row["microseconds"].items()}
            print(row, flush=True)
            rows.append(row)
    isa = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
                                "amx_bf16", "amx_int8"})  # fmt: skip
    save_result(f"projection_speed_{args.name}", {
        "what": "microseconds per layer for the seven projections of one Gemma-3-270m-shaped "
                "layer (random weights), fastest of the repeats",
        "model": "gemma-3-270m shape, random weights", "cpu_flags": isa,
        "torch_threads": torch.get_num_threads(), "repeats": args.repeats, "rows": rows,
    })  # fmt: skip


if __name__ == "__main__":
    main()
