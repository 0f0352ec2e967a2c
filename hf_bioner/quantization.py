"""Int8 matrix products for CPU inference: a transformer's projections in 8-bit integers.

On a CPU without bf16 matrix units (AMX), a 270M model's forward pass is bound by its
matrix products, and bf16 does not help there (measured on an Intel Xeon with AVX-512 BF16
but no AMX: a bf16 linear layer 1.1-1.9x slower than fp32). Integer dot-product instructions
(VNNI) do: ``torch._int_mm`` of int8 inputs and weights ran the seven projections of one
Gemma-3-270m layer 2.6-2.75x faster than fp32 at 16-256 tokens on one core
(``benchmarks/results/projection_speed_xeon-no-amx.json``).

Both sides are quantized symmetrically, each with the scale its outliers need:

- weights per output channel, once, when a module is converted;
- activations per token, at every call: transformer activations have outlier channels whose
  size differs from token to token, and one scale for a whole batch (PyTorch's dynamic
  quantization) ruined English answers of the bundled model (F1 31 on NCBI-disease abstracts),
  where a scale per token kept 99.5% of the teacher-forced answer tokens' argmaxes.

Projections that read the same tensor (a layer's query, key and value; the MLP's gate and up
projections) share one quantization of it (:class:`TokenQuantizer`). The language-model head
is never converted: the decoders score a few candidate rows of it in full precision.

A few input channels of a transformer's projections run 10-100x larger than the rest, in
every token, and a per-token scale sized for them leaves the other channels few levels. With
``ranges`` (each channel's largest magnitude, :func:`activation_ranges` over a few
calibration texts), each projection reads its input divided per channel by a smoothing
factor and its weights multiplied by it, the same product (SmoothQuant, Xiao et al. 2023):
the activations' outliers shrink, the weights' columns grow, both quantize better. Calibrated
on the four sample abstracts alone, it made int8 prompts as accurate as fp32 ones: the bundled
model's CMeEE dev F1, generator alone, 56.3 against 56.4 in fp32 and 55.6 without smoothing
(``benchmarks/results/eval_int8-smooth-int8-cmeee-1000.json``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# ``step_dtype="int8"`` names int8 projections; torch's own int8 type, ``torch.qint8``, stands
# for them where the other step dtypes travel (a decoder's copies, the selector).
INT8 = torch.qint8
INT8_NAMES = ("int8", "qint8")

# The groups of projections that read the same input, by the child names transformers uses.
SHARED_INPUTS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
# How much of an input channel's range the smoothing moves into the weights: SmoothQuant's
# default, 0.5, splits it evenly.
SMOOTHING_ALPHA = 0.5
# Texts whose token ids calibrate the ranges: the package's English and Chinese sample
# abstracts (a change to them changes an int8 model's numerics).
CALIBRATION_TEXTS = Path(__file__).parent / "data" / "sample_abstracts.jsonl"


class TokenQuantizer:
    """Quantizes an input to int8 with one scale per token, once for the ``readers``
    projections that read that same tensor; after the last of them it lets go of it. With
    ``smoothing``, the input is divided by those per-channel factors first (its readers hold
    their weights multiplied by them, from when they are built: the factors never change
    after; a plain tensor on the CPU, as int8 runs only there)."""

    def __init__(self, readers: int = 1, smoothing: torch.Tensor | None = None):
        self.readers = readers
        self.smoothing = smoothing
        self._source, self._left = None, 0
        self._quantized: tuple = ()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x is not self._source or self._left == 0:
            flat = x.reshape(-1, x.shape[-1]).float()
            if self.smoothing is not None:
                flat = flat / self.smoothing
            scales = flat.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(127)
            self._quantized = (flat.div(scales).round_().to(torch.int8), scales)
            self._source, self._left = x, self.readers
        quantized = self._quantized
        self._left -= 1
        if self._left == 0:
            self._source, self._quantized = None, ()
        return quantized


class Int8Linear(torch.nn.Module):
    """A linear layer as int8 weights (one scale per output channel) times int8 tokens (one
    scale per token), summed in int32 and scaled back to the input's dtype. The weights are
    multiplied by the quantizer's smoothing factors, if any, before they are quantized."""

    def __init__(self, linear: torch.nn.Linear, quantizer: TokenQuantizer | None = None):
        super().__init__()
        self.quantizer = quantizer or TokenQuantizer()
        weight = linear.weight.detach().float()
        if self.quantizer.smoothing is not None:
            weight = weight * self.quantizer.smoothing
        scale = weight.abs().amax(1).clamp(min=1e-12) / 127
        # Kept transposed (a column-major view): the layout torch._int_mm takes.
        self.register_buffer("weight_q", (weight / scale[:, None]).round().to(torch.int8).t())
        self.register_buffer("weight_scale", scale)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x):
        values, scales = self.quantizer(x)
        y = torch._int_mm(values, self.weight_q).float().mul_(scales).mul_(self.weight_scale)
        if self.bias is not None:
            y += self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def is_projection(name: str, module: torch.nn.Module) -> bool:
    """Whether ``module`` (named ``name``) is a projection to convert: a linear layer named
    ``*_proj`` (attention and MLP; never a head)."""
    return isinstance(module, torch.nn.Linear) and name.endswith("_proj")


def projections(module: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """Every projection of ``module``, by its qualified name."""
    return {name: child for name, child in module.named_modules() if is_projection(name, child)}


def calibration_ids(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """The token ids of each :data:`CALIBRATION_TEXTS` text."""
    lines = CALIBRATION_TEXTS.read_text(encoding="utf-8").splitlines()
    return [tokenizer(json.loads(line)["text"])["input_ids"] for line in lines if line.strip()]


def activation_ranges(
    module: torch.nn.Module, texts: Sequence[list[int]]
) -> dict[str, torch.Tensor]:
    """The largest magnitude each input channel of each projection of ``module`` takes while
    it reads ``texts`` (token ids, one text per forward pass), by projection name."""
    ranges: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(_module: torch.nn.Module, args: tuple) -> None:
            seen = args[0].detach().reshape(-1, args[0].shape[-1]).abs().amax(0).float()
            ranges[name] = torch.maximum(ranges[name], seen) if name in ranges else seen

        return hook

    hooks = [layer.register_forward_pre_hook(record(name))
             for name, layer in projections(module).items()]  # fmt: skip
    device = next(module.parameters()).device
    try:
        with torch.no_grad():
            for ids in texts:
                module(input_ids=torch.tensor([ids], device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


def smoothing_factors(
    activation_range: torch.Tensor, weights: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Per input channel, what the input is divided by and the weights of its readers
    multiplied by: ``range ** alpha / weight range ** (1 - alpha)``."""
    weight_range = torch.stack([w.detach().abs().amax(0).float() for w in weights]).amax(0)
    # A channel that never fired in calibration (or a zero weight column) must not divide
    # by zero.
    activation_range, weight_range = activation_range.clamp(min=1e-5), weight_range.clamp(min=1e-5)
    return activation_range**SMOOTHING_ALPHA / weight_range ** (1 - SMOOTHING_ALPHA)


def input_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
    """The projections of one module (child ``names``) grouped by the tensor they read:
    the :data:`SHARED_INPUTS` groups it has whole, every other projection alone."""
    groups = [group for group in SHARED_INPUTS if all(name in names for name in group)]
    grouped = {name for group in groups for name in group}
    return groups + [(name,) for name in names if name not in grouped]


def quantize_projections(module: torch.nn.Module,
                         ranges: dict[str, torch.Tensor] | None = None) -> int:  # fmt: skip
    """Replace, in place, every linear layer of ``module`` named ``*_proj`` (a transformer's
    attention and MLP projections; not a head) by its :class:`Int8Linear`, smoothed where
    ``ranges`` (:func:`activation_ranges` of ``module``, by qualified name) has its input.
    Projections that read one tensor share one quantizer. Returns how many."""
    converted = 0
    for prefix, parent in list(module.named_modules()):
        children = {name: child for name, child in parent.named_children()
                    if is_projection(name, child)}  # fmt: skip
        for group in input_groups(list(children)):
            seen = (ranges or {}).get(f"{prefix}.{group[0]}".lstrip("."))
            weights = [children[name].weight for name in group]
            factors = None if seen is None else smoothing_factors(seen, weights)
            quantizer = TokenQuantizer(len(group), factors)
            for name in group:
                setattr(parent, name, Int8Linear(children[name], quantizer))
                converted += 1
    return converted


def int8_copy(body: torch.nn.Module, calibration: Sequence[list[int]] = ()) -> torch.nn.Module:
    """A copy of a decoder ``body`` with int8 projections, smoothed by the ranges its inputs
    take on the ``calibration`` texts (token ids; none: not smoothed); its input embeddings
    are shared with ``body``, not copied (for Gemma 3, 262k x 640 floats), and ``body`` is
    unchanged."""
    ranges = activation_ranges(body, calibration) if calibration else None
    # The projections' weights are shared too: the copy's linear layers only live until
    # their int8 twins replace them, so copying their floats would only raise the peak.
    shared = [embeddings.weight for embeddings in [body.get_input_embeddings()]]
    shared += [layer.weight for layer in projections(body).values()]
    twin = copy.deepcopy(body, memo={id(weight): weight for weight in shared})
    quantize_projections(twin, ranges)
    return twin
