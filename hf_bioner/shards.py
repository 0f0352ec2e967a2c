"""One corpus tagged by several processes: shards, the child processes, the merge.

``hf-bioner tag --shard K/N`` (or the rank of an ``accelerate launch`` / ``torchrun``
process) tags documents ``K, K+N, ...`` into its own shard file (:func:`shard_path`);
``--num-proc N`` starts N such commands (:func:`run_in_processes`: one GPU each where there
are GPUs) and merges their files back into input order (:func:`merge_shards`). Resuming deals
an output written before back into shard files first (:func:`split_into_shards`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from hf_bioner.schema import BioNerInputError

NOTHING_TAGGED = 1  # the exit status of `hf-bioner tag` when no document could be tagged


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``K/N`` as (K, N); without one, the rank and world size of an ``accelerate launch`` /
    ``torchrun`` process, else (0, 1)."""
    if spec:
        try:
            rank, world = (int(x) for x in spec.split("/"))
        except ValueError:
            raise BioNerInputError(f"--shard must look like 0/4, not {spec!r}") from None
        if not 0 <= rank < world:
            raise BioNerInputError(f"--shard {spec}: need 0 <= K < N")
        return rank, world
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def run_in_processes(argv: Sequence[str], output: str, fmt: str, n: int, device: str | None,
                     resume: bool) -> int:  # fmt: skip
    """Run the ``hf-bioner tag`` command ``argv`` as N processes on shards, then merge their
    outputs in order; the exit status (:data:`NOTHING_TAGGED` when no document could be).

    With ``resume`` each process continues its own shard file (``OUTPUT.partK-of-N``, kept
    until the merge), so a run stopped part way loses only the documents being tagged. An
    output written before (merged, or by one process: both in input order) is first dealt
    out into the shard files, so its documents are not tagged again and any missing ones are.
    """
    parts = [shard_path(output, rank, n) for rank in range(n)]
    if resume and Path(output).exists() and not any(p.exists() for p in parts):
        split_into_shards(output, fmt, n)
    threads = max(1, (os.cpu_count() or 1) // n)
    child_args = without_option(argv, "--num-proc", takes_value=True)
    child_args = without_option(child_args, "--output", takes_value=True)
    gpu_each = not (device or "").startswith("cpu")
    if gpu_each:  # each child sees its own GPU as cuda:0 (CUDA_VISIBLE_DEVICES below)
        child_args = without_option(child_args, "--device", takes_value=True)
    children = []
    for rank in range(n):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        if gpu_each and "CUDA_VISIBLE_DEVICES" not in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = str(rank)  # one GPU each where there are GPUs
        command = [sys.executable, "-m", "hf_bioner.cli", *child_args, "--shard",
                   f"{rank}/{n}", "--output", str(parts[rank])]  # fmt: skip
        children.append(subprocess.Popen(command, env=env))
    codes = [child.wait() for child in children]
    # 1: every document of that shard failed (its rows are written); anything else: a crash.
    failed = [rank for rank, code in enumerate(codes) if code not in (0, NOTHING_TAGGED)]
    if failed:
        raise BioNerInputError(f"tagging process(es) {failed} failed; see the messages above")
    written = merge_shards(output, fmt, n)
    print(f"{written} documents -> {output}", file=sys.stderr)
    if all(code == NOTHING_TAGGED for code in codes):
        print("hf-bioner: error: no document could be tagged", file=sys.stderr)
        return NOTHING_TAGGED
    return 0


def without_option(argv: Sequence[str], name: str, takes_value: bool) -> list[str]:
    """``argv`` without the option ``name`` (and its value)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = takes_value
        elif not item.startswith(name + "="):
            out.append(item)
    return out


def shard_path(output: str | Path, rank: int, world: int) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.part{rank}-of-{world}")


def merge_shards(output: str | Path, fmt: str, world: int) -> int:
    """Join shard outputs into ``output`` in input order (document i came from shard i % n)."""

    if fmt not in ("jsonl", "pubtator"):
        raise BioNerInputError(f"--num-proc writes jsonl or pubtator, not {fmt}")
    parts = [shard_path(output, r, world) for r in range(world)]
    written = 0
    with ExitStack() as stack, open(output, "w", encoding="utf-8") as out:
        files = [stack.enter_context(open(p, encoding="utf-8")) for p in parts]
        streams = [iter(f) if fmt == "jsonl" else _pubtator_blocks(f) for f in files]
        while streams:
            for stream in list(streams):
                item = next(stream, None)
                if item is None:
                    streams.remove(stream)
                    continue
                out.write(item)
                written += 1
    for p in parts:
        p.unlink()
    return written


def split_into_shards(output: str | Path, fmt: str, world: int) -> int:
    """Deal an output written in input order into its shard files (document i to shard
    i % n): what resuming a sharded run starts from when a merged output exists. Returns the
    number of documents dealt out; ``output`` itself is rewritten by the merge."""
    if fmt not in ("jsonl", "pubtator"):
        raise BioNerInputError(f"--num-proc writes jsonl or pubtator, not {fmt}")
    with open(output, encoding="utf-8") as f:
        items = list(f) if fmt == "jsonl" else list(_pubtator_blocks(f))
    for rank in range(world):
        with open(shard_path(output, rank, world), "w", encoding="utf-8") as out:
            out.writelines(items[rank::world])
    return len(items)


def _pubtator_blocks(lines: Iterable[str]) -> Iterator[str]:
    """PubTator documents as text blocks, each ending with its blank line."""
    block = []
    for line in lines:
        block.append(line)
        if line == "\n":
            yield "".join(block)
            block = []
