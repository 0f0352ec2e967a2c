"""Tagging and training speed on a GPU with no network, in one short run.

Real weights cannot travel to a lent GPU machine, so the model is a random one of the bundled
model's shape (its base's ``config.json``, with the base's tokenizer), in bf16. Its answers
are *forced to the gold answers*: before each step's choice, every row's hidden state is
replaced by the head row of its gold answer's next token, so the decoder writes the gold
answer (tokenized as the training data is) and answer lengths are real, while every step
still goes through the decoder's own work (tables, candidate scoring, automaton checks).

For each batch size it reports, on the same sentences:

* ``tagging``: sentences/s of each decoder (``generate_answers``, constrained);
* ``limit``: one teacher-forced forward pass over prompt + gold answer per batch, the floor
  for any decoder that must emit those tokens; and each decoder's fraction of it;
* ``training``: LoRA (r64, all linear layers) training tokens/s on prompt + completion rows
  in bf16 autocast with AdamW (a plain loop: the GPU machine has no TRL).

Prepare the inputs on a machine with the corpora and the converted base, then run it there:

    python benchmarks/gpu_speed.py --export gpu_inputs --data-dir ../shared/corpora
    USE_HUB_KERNELS=0 python benchmarks/gpu_speed.py --inputs gpu_inputs --name h200
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from common import eval_units, save_result, teacher_forced_seconds

from hf_bioner.decoding import generate_answers
from hf_bioner.decoding.generation import make_decoder
from hf_bioner.prompts import instruction
from hf_bioner.schema import type_set
from hf_bioner.tagging import encode

BASE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")


def export(folder: Path, data_dir: str | None, sentences: int) -> None:
    """Write the base's config and tokenizer, and the sentences with their gold answers."""
    from hf_bioner.models import resolve_base

    folder.mkdir(parents=True, exist_ok=True)
    base = Path(resolve_base("gemma-3-270m"))
    for name in BASE_FILES:
        shutil.copy2(base / name, folder / name)
    records, sizes = eval_units("ncbi_disease", data_dir, sentences)
    types = type_set("ncbi_disease")
    with open(folder / "sentences.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            answer = encode(
                r["text"], r["entities"], scheme="inline", type_names=types.display_names()
            )
            f.write(json.dumps({"text": r["text"], "answer": answer}, ensure_ascii=False) + "\n")
    (folder / "sizes.json").write_text(json.dumps(sizes))
    print(f"exported {len(records)} sentences and the base's config to {folder}")


class ForcedAnswers:
    """Make a decoder write the gold answers: wraps its ``_choose``, and the drafted-tables
    decoder's ``_check`` of drafted positions (see the module doc)."""

    def __init__(self, decoder, gold: dict[str, list[int]], eos_id: int, scale: float = 50.0):
        self.decoder, self.gold, self.eos_id, self.scale = decoder, gold, eos_id, scale
        self.choose = decoder._choose
        decoder._choose = self
        self.check = getattr(decoder, "_check", None)
        if self.check is not None:
            decoder._check = self.forced_check

    def _forced(self, batch, rows: list[int], ahead: int, dtype):
        """The hidden states that choose each row's gold token ``ahead`` tokens past what it
        has written (the end of sequence past the answer)."""
        import torch

        weight = self.decoder.head.weight
        targets = []
        for row in rows:
            tokens = self.gold[batch.machines[row].text]
            written = len(batch.answers[row]) + ahead
            targets.append(tokens[written] if written < len(tokens) else self.eos_id)
        index = torch.tensor(targets, device=weight.device)
        return (weight[index] * self.scale).to(dtype)

    def __call__(self, batch, active, hidden):
        return self.choose(batch, active, self._forced(batch, active, 0, hidden.dtype))

    def forced_check(self, batch, active, drafts, hidden):
        """Position ``j`` of a drafted pass chooses the gold token ``j`` past the answer."""
        import torch

        forced = torch.stack([self._forced(batch, active, j, hidden.dtype)
                              for j in range(hidden.shape[1])], dim=1)  # fmt: skip
        return self.check(batch, active, drafts, forced)


def tagging_seconds(model, tokenizer, prompts, constraints, gold, batch_size, decoder) -> tuple:
    """Seconds to tag every prompt with the gold answers forced; the answers."""
    import torch

    chosen = make_decoder(decoder, model, tokenizer)
    ForcedAnswers(chosen, gold, tokenizer.eos_token_id)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, prompts, batch_size=batch_size,
                               constraints=constraints, decoder=chosen)  # fmt: skip
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    return time.perf_counter() - started, answers


def training_tokens_per_second(model, tokenizer, texts: list[str], batch_size: int,
                               steps: int = 8) -> float:  # fmt: skip
    """LoRA r64 training steps on ``texts`` (bf16 autocast, AdamW); tokens/s after a warm-up."""
    import torch
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=64, lora_alpha=64, target_modules="all-linear",
                                                  task_type="CAUSAL_LM"))  # fmt: skip
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    tokenizer.padding_side = "right"
    peft_model.train()
    tokens, seconds = 0, 0.0
    for step in range(steps + 2):
        rows = texts[(step * batch_size) % len(texts) :][:batch_size]
        batch = tokenizer(rows, return_tensors="pt", padding=True).to(model.device)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        started = time.perf_counter()
        with torch.autocast(model.device.type, dtype=torch.bfloat16):
            loss = peft_model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        if step >= 2:  # the first steps warm up kernels and the allocator
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
    peft_model.unload()
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", help="write the inputs to this folder and stop")
    parser.add_argument("--data-dir")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--inputs", help="a folder written by --export")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--decoders", default="drafted-tables,token-tables,allowed-tokens")
    parser.add_argument("--train-batch-sizes", default="16,64")
    parser.add_argument("--repeat", type=int, default=2, help="times each, keeping the last")
    parser.add_argument("--name", default="gpu", help="result: gpu_speed_<name>.json")
    args = parser.parse_args()
    if args.export:
        export(Path(args.export), args.data_dir, args.sentences)
        return

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from hf_bioner.device import resolve_device

    inputs = Path(args.inputs)
    device = resolve_device(None)
    tokenizer = AutoTokenizer.from_pretrained(inputs)
    config = AutoConfig.from_pretrained(inputs)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).to(device).eval()
    with open(inputs / "sentences.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    types = type_set("ncbi_disease")
    prompts = [instruction(r["text"], types, "inline", "short") for r in rows]
    constraints = [(r["text"], types.names) for r in rows]
    gold = {r["text"].encode(): tokenizer(r["answer"], add_special_tokens=False)["input_ids"]
            for r in rows}  # fmt: skip
    answer_tokens = sum(len(ids) + 1 for ids in gold.values())
    full = [p + r["answer"] for p, r in zip(prompts, rows, strict=True)]
    results: dict = {}
    generate_answers(model, tokenizer, prompts[:8], batch_size=8, constraints=constraints[:8])
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        # Each measurement is repeated and the last one kept: a GPU's first pass over new
        # shapes pays for kernel selection and allocation.
        for _ in range(args.repeat):
            limit = teacher_forced_seconds(model, tokenizer, full, batch_size)
        entry = {"limit_seconds": round(limit, 3),
                 "limit_sentences_per_second": round(len(rows) / limit, 1)}  # fmt: skip
        for decoder in args.decoders.split(","):
            for _ in range(args.repeat):
                seconds, answers = tagging_seconds(model, tokenizer, prompts, constraints, gold,
                                                   batch_size, decoder)  # fmt: skip
            matching = sum(a.text == r["answer"] for a, r in zip(answers, rows, strict=True))
            entry[decoder] = {
                "seconds": round(seconds, 3),
                "sentences_per_second": round(len(rows) / seconds, 1),
                "answer_tokens_per_second": round(answer_tokens / seconds, 1),
                "fraction_of_limit": round(limit / seconds, 3),
                "answers_equal_to_gold": matching,
            }
        results[f"batch_{batch_size}"] = entry
        print(batch_size, entry, flush=True)
    training = {}
    for batch_size in (int(b) for b in args.train_batch_sizes.split(",") if b):
        training[f"batch_{batch_size}"] = round(
            training_tokens_per_second(model, tokenizer, full, batch_size), 1
        )
        print("training", batch_size, training[f"batch_{batch_size}"], flush=True)
    gold_answers = sum(a["answers_equal_to_gold"] for e in results.values()
                       for k, a in e.items() if isinstance(a, dict))  # fmt: skip
    save_result(
        f"gpu_speed_{args.name}",
        {
            "model": "random weights of gemma-3-270m's shape (its config.json), bf16, answers "
            "forced to gold",
            "device": str(device),
            "repeat": args.repeat,
            "data": {
                "corpus": "ncbi_disease",
                "sentences": len(rows),
                "gold_answer_tokens": answer_tokens,
                **json.loads((inputs / "sizes.json").read_text()),
            },  # fmt: skip
            # Forced answers: F1 is that of the gold answers that came out whole (1.0 when
            # every answer equals its gold), not a model's accuracy.
            "precision": None,
            "recall": None,
            "f1": None,
            "answers_equal_to_gold": gold_answers,
            "tagging": results,
            "training_tokens_per_second": training,
        },
    )


if __name__ == "__main__":
    main()
