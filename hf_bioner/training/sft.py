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


LOSS_VOCABULARIES = ("full", "completions")


def completion_vocabulary(dataset) -> torch.Tensor:
    """Sorted ids of every token the ``labels`` of a tokenized dataset train on."""
    ids: set[int] = set()
    for labels in dataset["labels"]:
        ids.update(labels)
    ids.discard(IGNORE_INDEX)
    return torch.tensor(sorted(ids), dtype=torch.long)


def restricted_logits(model, hidden: torch.Tensor, vocabulary: torch.Tensor) -> torch.Tensor:
    """``hidden`` against the LM head rows of ``vocabulary`` only (same values as the full
    head's logits at those columns)."""
    head = model.get_output_embeddings()
    weight = head.weight.index_select(0, vocabulary.to(head.weight.device))
    bias = None if head.bias is None else head.bias.index_select(0, vocabulary)
    return F.linear(hidden, weight, bias)


def completion_loss(
    model,
    inputs: dict,
    labels: torch.Tensor,
    num_items: torch.Tensor | int | None,
    vocabulary: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed next-token loss over the completion labels, divided by ``num_items``.

    The backbone runs once; only the hidden states of labelled positions go through the LM
    head, so the logits are ``completion tokens x vocabulary`` instead of ``batch x length x
    vocabulary`` (for Gemma 3's 262k vocabulary that is GBs of memory saved per step).
    With a ``vocabulary`` (sorted token ids holding every label) the softmax runs over those
    tokens only. Returns the loss, the number of labelled tokens and how many the model
    ranks first.
    """
    outputs = model(**inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    hidden = outputs.hidden_states[-1][:, :-1][mask]
    chosen = targets[mask]
    if vocabulary is None:
        logits = model.get_output_embeddings()(hidden)
    else:
        vocabulary = vocabulary.to(chosen.device)
        logits = restricted_logits(model, hidden, vocabulary)
        chosen = torch.searchsorted(vocabulary, chosen)
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits.float()
    loss = F.cross_entropy(logits, chosen, reduction="sum")
    count = mask.sum()
    denominator = count if num_items is None else torch.as_tensor(num_items)
    correct = (logits.argmax(-1) == chosen).sum()
    return loss / denominator.clamp(min=1).to(loss.device), count, correct


class CompletionSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss projects only completion positions through the LM head
    (and, with ``loss_vocabulary="completions"``, only onto the training completions'
    vocabulary)."""

    def __init__(self, *args, loss_vocabulary: str = "full", **kwargs):
        if loss_vocabulary not in LOSS_VOCABULARIES:
            raise ValueError(
                f"loss_vocabulary must be one of {', '.join(LOSS_VOCABULARIES)}, "
                f"not {loss_vocabulary!r}"
            )
        super().__init__(*args, **kwargs)
        self.completion_tokens_seen = 0  # labelled tokens trained on: the useful work
        self.vocabulary = None
        if loss_vocabulary == "completions":
            self.vocabulary = completion_vocabulary(self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        loss, count, correct = completion_loss(
            model, model_inputs, labels, num_items_in_batch, self.vocabulary
        )
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # Like Trainer: num_items_in_batch counts every rank's tokens, DDP averages grads.
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        count = self.accelerator.gather_for_metrics(count).sum()
        correct = self.accelerator.gather_for_metrics(correct).sum()
        if count > 0:
            self._metrics[mode]["mean_token_accuracy"].append((correct / count).item())
        if model.training:
            self.completion_tokens_seen += int(count)
        if return_outputs:
            with torch.no_grad():
                return loss, model(**model_inputs, use_cache=False)
        return loss
