"""TRL's ``SFTTrainer`` with a loss that is fast on a CPU.

TRL 1.x computes the completion loss with a fused, chunked LM head: vocabulary tiles are
projected, turned into log-probabilities and entropies, and recomputed in the backward pass.
On a GPU a Triton kernel makes that cheap; on a CPU the tiles run as plain torch code, with
fp32 copies of every weight tile. For Gemma 3 (a 262k-token vocabulary) LoRA training ran
2.5x slower with it than with the loss below (52.6 vs 130 tokens/s, same rows, steps and
settings in one run of ``benchmarks/train_speed.py``; SmolLM2: 120 vs 167).

:class:`CompletionSFTTrainer` keeps everything else of ``SFTTrainer`` and replaces only the
loss: the backbone's hidden states at the completion positions only go through the LM head
(the prompt, most of each row, never does), then one cross-entropy. The result is the same
token-averaged loss, with a fraction of the compute and memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

IGNORE_INDEX = -100


def completion_loss(
    model, inputs: dict, labels: torch.Tensor, num_items: torch.Tensor | int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed next-token loss over the completion labels, divided by ``num_items``.

    The backbone runs once; only the hidden states of labelled positions go through the LM
    head, so the logits are ``completion tokens x vocabulary`` instead of ``batch x length x
    vocabulary`` (for Gemma 3's 262k vocabulary that is GBs of memory saved per step).
    Returns the loss, the number of labelled tokens and how many the model ranks first.
    """
    outputs = model(**inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    hidden = outputs.hidden_states[-1][:, :-1][mask]
    logits = model.get_output_embeddings()(hidden)
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits.float()
    chosen = targets[mask]
    loss = F.cross_entropy(logits, chosen, reduction="sum")
    count = mask.sum()
    denominator = count if num_items is None else torch.as_tensor(num_items)
    correct = (logits.argmax(-1) == chosen).sum()
    return loss / denominator.clamp(min=1).to(loss.device), count, correct


class CompletionSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss projects only completion positions through the LM head."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        loss, count, correct = completion_loss(model, model_inputs, labels, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # Like Trainer: num_items_in_batch counts every rank's tokens, DDP averages grads.
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        count = self.accelerator.gather_for_metrics(count).sum()
        correct = self.accelerator.gather_for_metrics(correct).sum()
        if count > 0:
            self._metrics[mode]["mean_token_accuracy"].append((correct / count).item())
        if return_outputs:
            with torch.no_grad():
                return loss, model(**model_inputs, use_cache=False)
        return loss
