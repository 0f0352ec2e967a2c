"""How the table decoders score their candidates: ``bmm`` against an in-place multiply and sum.

Each step, a table decoder scores every row's candidate tokens (a few dozen) against only
those rows of the head: the rows are read with ``index_select`` into a fresh tensor, then
either multiplied by the hidden state in a batched matrix-vector product (``bmm``, the old
code) or multiplied in place and summed (today's
:func:`hf_bioner.decoding.allowed_tokens.candidate_scores`). Both are timed here on a random
head of Gemma 3's vocabulary (262,144 tokens) at the tiny benchmark model's width (64) and the
real model's (640), for 64 and 256 rows of 35 candidates (the widest table rows of the
corpora), with the best candidate of every row checked to be the same. There are no entities
here, so ``precision``/``recall``/``f1`` are null. Run on one core:

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/candidate_scoring.py
"""

from __future__ import annotations

import argparse
import time

from common import save_result

VOCABULARY = 262_144
CANDIDATES = 35


def bmm_scores(weight, hidden, candidates):
    """The old scoring: rows of the head by ``index_select``, then ``bmm``."""
    import torch

    rows = weight.index_select(0, candidates.view(-1)).view(*candidates.shape, -1)
    return torch.bmm(rows, hidden[:, :, None]).squeeze(2)


def in_place_scores(weight, hidden, candidates):
    """Today's scoring: the same rows, multiplied in place and summed."""
    rows = weight.index_select(0, candidates.view(-1)).view(*candidates.shape, -1)
    return rows.mul_(hidden[:, None, :]).sum(-1)


def milliseconds(scores, weight, hidden, candidates, repeats: int) -> float:
    """Mean milliseconds of one call of ``scores`` (after 10 calls not timed)."""
    for _ in range(10):
        scores(weight, hidden, candidates)
    started = time.perf_counter()
    for _ in range(repeats):
        scores(weight, hidden, candidates)
    return 1e3 * (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--name", default="cpu-1core", help="result: candidate_scoring_<name>.json")
    args = parser.parse_args()

    import torch

    torch.manual_seed(0)
    settings = {}
    with torch.no_grad():
        for width in (64, 640):
            weight = torch.randn(VOCABULARY, width)
            for rows in (64, 256):
                candidates = torch.randint(0, VOCABULARY, (rows, CANDIDATES))
                hidden = torch.randn(rows, width)
                same = torch.equal(bmm_scores(weight, hidden, candidates).argmax(1),
                                   in_place_scores(weight, hidden, candidates).argmax(1))  # fmt: skip
                old = milliseconds(bmm_scores, weight, hidden, candidates, args.repeats)
                new = milliseconds(in_place_scores, weight, hidden, candidates, args.repeats)
                settings[f"width{width}@{rows}"] = {
                    "bmm_ms": round(old, 3),
                    "in_place_ms": round(new, 3),
                    "speedup": round(old / new, 2),
                    "same_best": same,
                }
                print(width, rows, settings[f"width{width}@{rows}"], flush=True)
    save_result(
        f"candidate_scoring_{args.name}",
        {
            "model": f"random head, {VOCABULARY} x width, fp32",
            "torch_threads": torch.get_num_threads(),
            "data": {"candidates_per_row": CANDIDATES, "repeats": args.repeats},
            "precision": None,
            "recall": None,
            "f1": None,
            "settings": settings,
        },
    )


if __name__ == "__main__":
    main()
