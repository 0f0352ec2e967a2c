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
"""

from __future__ import annotations

import copy

import torch

# ``step_dtype="int8"`` names int8 projections; torch's own int8 type, ``torch.qint8``, stands
# for them where the other step dtypes travel (a decoder's copies, the selector).
INT8 = torch.qint8
INT8_NAMES = ("int8", "qint8")

# The groups of projections that read the same input, by the child names transformers uses.
SHARED_INPUTS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class TokenQuantizer:
    """Quantizes an input to int8 with one scale per token, once for the ``readers``
    projections that read that same tensor; after the last of them it lets go of it."""

    def __init__(self, readers: int = 1):
        self.readers = readers
        self._source, self._left = None, 0
        self._quantized: tuple = ()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x is not self._source or self._left == 0:
            flat = x.reshape(-1, x.shape[-1]).float()
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
    scale per token), summed in int32 and scaled back to the input's dtype."""

    def __init__(self, linear: torch.nn.Linear, quantizer: TokenQuantizer | None = None):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(1).clamp(min=1e-12) / 127
        # Kept transposed (a column-major view): the layout torch._int_mm takes.
        self.register_buffer("weight_q", (weight / scale[:, None]).round().to(torch.int8).t())
        self.register_buffer("weight_scale", scale)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.quantizer = quantizer or TokenQuantizer()

    def forward(self, x):
        values, scales = self.quantizer(x)
        y = torch._int_mm(values, self.weight_q).float().mul_(scales).mul_(self.weight_scale)
        if self.bias is not None:
            y += self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_projections(module: torch.nn.Module) -> int:
    """Replace, in place, every linear layer of ``module`` named ``*_proj`` (a transformer's
    attention and MLP projections; not a head) by its :class:`Int8Linear`. Returns how many."""
    converted = 0
    for parent in list(module.modules()):
        children = dict(parent.named_children())
        shared: dict[str, TokenQuantizer] = {}
        for group in SHARED_INPUTS:
            if all(name in children for name in group):
                shared.update(dict.fromkeys(group, TokenQuantizer(len(group))))
        for name, child in children.items():
            if isinstance(child, torch.nn.Linear) and name.endswith("_proj"):
                setattr(parent, name, Int8Linear(child, shared.get(name)))
                converted += 1
    return converted


def int8_copy(body: torch.nn.Module) -> torch.nn.Module:
    """A copy of a decoder ``body`` with int8 projections; its input embeddings are shared
    with ``body``, not copied (for Gemma 3, 262k x 640 floats), and ``body`` is unchanged."""
    # The projections' weights are shared too: the copy's linear layers only live until
    # their int8 twins replace them, so copying their floats would only raise the peak.
    shared = [embeddings.weight for embeddings in [body.get_input_embeddings()]]
    shared += [module.weight for name, module in body.named_modules()
               if isinstance(module, torch.nn.Linear) and name.endswith("_proj")]  # fmt: skip
    twin = copy.deepcopy(body, memo={id(weight): weight for weight in shared})
    quantize_projections(twin)
    return twin
