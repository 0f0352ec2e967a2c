"""Hardware facts: which device to run on, whether bf16 is fast there, batch sizes, machine.

Every part of a run (generator, selector, arbiter, training) asks here, so one model's parts
land on one device and a result file says what it was measured on. It imports nothing of
hf_bioner but the schema (for its error type), so any module may use it.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

from hf_bioner.schema import BioNerInputError

# Tagging batch sizes (rows per generation batch). On a CPU with bf16 units (AMX) 64 NCBI-disease
# sentences were tagged in 15.6 s at batch 64, 16.8 s at 32 and 19.1 s at 16 (one core, bf16
# prompts and steps; benchmarks/default_call_speed.py measures the call as a whole); without
# bf16 prompts the batch size made little difference (23-26 s), and 16 keeps memory low where
# bf16 is slow. On a GPU one step of a 270M model is bound by kernel launches until the batch
# holds hundreds of rows (issue 24: 49 ms a step at batch 16).
CPU_TAG_BATCH = 16
CPU_FAST_TAG_BATCH = 64  # with AMX (measured above); with int8 steps too (not compared to 16)
GPU_TAG_BATCH = 256
# Training rows per step: 8 on a CPU (measured, train_speed_recipe.json); more on a GPU,
# where a step of 8 rows left it idle (2,319 tokens/s at batch 16).
CPU_TRAIN_BATCH = 8
GPU_TRAIN_BATCH = 32


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(word for line in text.splitlines() if line.startswith("flags")
                     for word in line.split(":", 1)[1].split())  # fmt: skip


def cpu_has_bf16() -> bool:
    """Whether bf16 matrix products are fast on this CPU: with AMX units. AVX-512 BF16 alone
    is not enough: on an Intel Xeon with it and no AMX a bf16 linear layer ran 1.6-1.9x slower
    than fp32 at 80-1,024 tokens (projection_speed_xeon-no-amx.json); on an AMD EPYC bf16
    steps gained 7% (tag_speed_gemma-joint-r64-bf16-drafted-amd.json)."""
    return "amx_bf16" in cpu_flags()


def cpu_has_int8_dot() -> bool:
    """Whether this CPU has int8 dot-product instructions (VNNI), which make int8 matrix
    products (:mod:`hf_bioner.quantization`) 2.6-2.75x faster than fp32 at 16-256 tokens."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def bf16_is_fast(cuda: bool) -> bool:
    """Whether bf16 speeds this device up (GPUs that support it; CPUs with bf16 units)."""
    import torch

    return torch.cuda.is_bf16_supported(including_emulation=False) if cuda else cpu_has_bf16()


def int8_is_fast(cuda: bool) -> bool:
    """Whether tagging should run its projections in int8 here: on a CPU with int8 dot
    products and without bf16 units (with AMX, bf16 was measured fast and int8 was not
    measured)."""
    return not cuda and cpu_has_int8_dot() and not cpu_has_bf16()


def resolve_device(device=None):
    """The torch device to run on: ``None`` picks ``cuda:0`` when there is a GPU, else the CPU;
    otherwise a name (``"cpu"``, ``"cuda:1"``), an index (a GPU) or a ``torch.device``."""
    import torch

    if device is None:
        return torch.device("cuda:0" if cuda_available() else "cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        device = "cpu" if device < 0 else f"cuda:{device}"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise BioNerInputError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}"
        ) from None
    if resolved.type == "cuda" and not cuda_available():
        raise BioNerInputError(f"device {device!r} asked for, but torch sees no GPU")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise BioNerInputError(
            f"device {device!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)"
        )
    return resolved


def tag_batch_size(device) -> int:
    """Rows per generation batch on ``device`` (see :data:`CPU_TAG_BATCH` and the rest)."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        return GPU_TAG_BATCH
    return CPU_FAST_TAG_BATCH if cpu_has_bf16() or cpu_has_int8_dot() else CPU_TAG_BATCH


def train_batch_size(cuda: bool) -> int:
    """Training rows per step (see :data:`GPU_TRAIN_BATCH`)."""
    return GPU_TRAIN_BATCH if cuda else CPU_TRAIN_BATCH


def machine() -> dict:
    """What a result was measured on."""
    import torch

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info
