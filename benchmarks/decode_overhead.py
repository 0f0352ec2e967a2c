"""The decoders' own cost: microseconds per row and step spent outside the model's forward.

At the batch sizes a GPU needs, what a decoder does between two forward passes (finding each
row's allowed tokens, scoring them, advancing automata, moving data) bounds its speed. This
script isolates that cost with a tiny model of the bundled model's vocabulary (Gemma 3's
tokenizer, 262k tokens; one layer of width 64, so its forward is nearly free), biased to
open tags often so that answers mix copied text and tags. For each decoder and batch size it
tags the same sentences (NCBI-disease test and CMeEE dev, half each; by default cut into the
pieces the pipeline prompts, :func:`~hf_bioner.pipeline.sentence_pieces`, as a user's call
decodes them; ``--units corpus``: the corpus units whole), times the forward passes of the
decoder body with hooks, and reports

    overhead per row-step = (total seconds - forward seconds) / row-steps

where a row-step is one row of one decoding step, over the whole run and over the steps whose
batch is at least three quarters full (``full_batch_*``: from one step's choice to the next,
less the forward passes between; the whole run also holds the tail, where the longest
answers finish alone and each step's fixed cost falls on one row). It also checks that every decoder wrote
the same answers as the first, and scores them (strict F1 of a random model: only there so
that a change of answers shows). Run on one core:

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/decode_overhead.py --data-dir ../shared/corpora
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

from common import eval_units, save_result

from hf_bioner.decoding import end_token_ids
from hf_bioner.decoding.generation import generate_answers, make_decoder
from hf_bioner.pipeline import MAX_UNIT_CHARS, sentence_pieces
from hf_bioner.prompts import instruction
from hf_bioner.schema import TypeSet, type_set
from hf_bioner.scoring import score
from hf_bioner.tagging import decode

# The tiny model's head: random rows scaled so that logits vary by about LOGIT_SCALE, a bonus
# per byte of a token (answers copy in long tokens, as real ones do) and a bonus for tokens
# holding "<" (some spans tagged, most text copied).
LOGIT_SCALE = 2.0
BYTE_BONUS = 1.0
TAG_BONUS = -3.0


def tiny_tagging_model(tokenizer, hidden: int = 64, seed: int = 0):
    """A one-layer random Gemma 3 over ``tokenizer``'s vocabulary whose answers look like
    real ones (see the bonuses above)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from hf_bioner.decoding.automaton import token_bytes

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
        max_position_embeddings=4096, sliding_window=4096, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = Gemma3ForCausalLM(config).eval()
    head = torch.nn.Linear(hidden, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.normal_(0.0, LOGIT_SCALE / hidden**0.5)
        head.bias.zero_()
        for token_id, data in enumerate(token_bytes(tokenizer)):
            if data:
                head.bias[token_id] = BYTE_BONUS * len(data) + TAG_BONUS * (b"<" in data)
    model.set_output_embeddings(head)
    return model


class ForwardClock:
    """Seconds spent inside a module's forward calls (pre/post hooks; CPU, so no sync)."""

    def __init__(self, module):
        self.seconds = 0.0
        self._started = 0.0
        self.handles = [
            module.register_forward_pre_hook(self._start),
            module.register_forward_hook(self._stop),
        ]

    def _start(self, *_):
        self._started = time.perf_counter()

    def _stop(self, *_):
        self.seconds += time.perf_counter() - self._started

    def remove(self):
        for handle in self.handles:
            handle.remove()


def run(decoder_name: str, model, tokenizer, prompts, constraints, batch_size: int) -> dict:
    """Tag every prompt with one decoder; time, forward time and row-steps, in all and in the
    steps where the batch is at least three quarters full (a few long answers finish alone at
    the end; their steps carry one row each, so they measure a step's cost, not a row's)."""
    decoder = make_decoder(decoder_name, model, tokenizer)
    clock = ForwardClock(model.get_decoder())
    steps = []  # (time, rows, forward seconds so far) at each step's choice
    choose = decoder._choose

    def timed_choose(batch, active, hidden):
        steps.append((time.perf_counter(), len(active), clock.seconds))
        return choose(batch, active, hidden)

    decoder._choose = timed_choose  # every step passes here once
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, prompts, batch_size=batch_size,
                               constraints=constraints, decoder=decoder)  # fmt: skip
    total = time.perf_counter() - started
    clock.remove()
    row_steps = sum(rows for _, rows, _ in steps)
    full_rows, full_outside = 0, 0.0
    for (at, rows, forward), (following, _, forward_after) in zip(steps, steps[1:], strict=False):
        if 4 * rows >= 3 * batch_size:
            full_rows += rows
            full_outside += (following - at) - (forward_after - forward)
    return {
        "seconds": round(total, 3),
        "forward_seconds": round(clock.seconds, 3),
        "row_steps": row_steps,
        "overhead_us_per_row_step": round(1e6 * (total - clock.seconds) / row_steps, 2),
        "full_batch_row_steps": full_rows,
        "full_batch_overhead_us_per_row_step": (
            round(1e6 * full_outside / full_rows, 2) if full_rows else None  # no full step
        ),
        "answers": answers,
    }


class Row(NamedTuple):
    """One prompt: a piece of evaluation unit number ``unit``, from its character ``start``."""

    unit: int
    start: int
    text: str
    types: TypeSet


def unit_predictions(answers, rows: list[Row], units: int) -> list[list[dict]]:
    """The entities of each unit, from the answers of its pieces, in the unit's offsets."""
    predictions = [[] for _ in range(units)]
    for answer, row in zip(answers, rows, strict=True):
        found = decode(answer.text, row.text, "inline", row.types.display_names())[0]
        predictions[row.unit] += [
            {**e, "start": e["start"] + row.start, "end": e["end"] + row.start} for e in found
        ]
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--sentences", type=int, default=256, help="half English, half Chinese")
    parser.add_argument("--batch-sizes", default="16,64,256")
    parser.add_argument("--decoders", default="allowed-tokens,token-tables,drafted-tables")
    parser.add_argument("--name", default="cpu-1core", help="result: decode_overhead_<name>.json")
    parser.add_argument(
        "--units", choices=("pieces", "corpus"), default="pieces",
        help="pieces: each unit cut as the pipeline cuts a text (sentences of at most "
        f"{MAX_UNIT_CHARS} characters); corpus: the corpus units whole (a CMeEE record can "
        "run to 2,000 characters, one row that finishes alone long after the rest)",
    )  # fmt: skip
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from hf_bioner.models import PACKAGED_MODELS

    gemma = PACKAGED_MODELS["gemma-3-270m"]
    tokenizer = AutoTokenizer.from_pretrained(gemma.gguf_folder(), gguf_file=gemma.gguf_file)
    model = tiny_tagging_model(tokenizer)
    records, rows, sizes = [], [], {}
    for corpus in ("ncbi_disease", "cmeee"):
        units, sizes[corpus] = eval_units(corpus, args.data_dir, args.sentences // 2)
        types = type_set(corpus)
        for unit in units:
            pieces = [(0, len(unit["text"]))]
            if args.units == "pieces":
                pieces = sentence_pieces(unit["text"], types.language)
            rows += [Row(len(records), start, unit["text"][start:end], types)
                     for start, end in pieces]  # fmt: skip
            records.append(unit)
    prompts = [instruction(row.text, row.types, "inline", "short") for row in rows]
    constraints = [(row.text, row.types.names) for row in rows]
    decoders = args.decoders.split(",")
    results, reference = {}, None
    with torch.no_grad():
        for name in decoders:  # token tables of the tokenizer, built once, are not timed
            run(name, model, tokenizer, prompts[:2] + prompts[-2:],
                constraints[:2] + constraints[-2:], 4)  # fmt: skip
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            for name in decoders:
                result = run(name, model, tokenizer, prompts, constraints, batch_size)
                answers = result.pop("answers")
                reference = reference or answers
                result["identical_answers"] = answers == reference
                predictions = unit_predictions(answers, rows, len(records))
                result["f1"] = score(predictions, [r["entities"] for r in records])["f1"]
                result["cut"] = sum(a.cut for a in answers)
                results[f"{name}@{batch_size}"] = result
                print(name, batch_size, result, flush=True)
    scored = score(predictions, [r["entities"] for r in records])
    ratios = {
        f"{new}_vs_{decoders[0]}@{b}": round(
            results[f"{decoders[0]}@{b}"]["overhead_us_per_row_step"]
            / results[f"{new}@{b}"]["overhead_us_per_row_step"], 2)
        for b in args.batch_sizes.split(",") for new in decoders[1:]
    }  # fmt: skip
    save_result(
        f"decode_overhead_{args.name}",
        {
            "model": "random Gemma 3 (1 layer, width 64) over gemma-3-270m's tokenizer; head "
            f"logit scale {LOGIT_SCALE}, bonus {BYTE_BONUS} per byte, {TAG_BONUS} for '<'",
            "end_token_ids": end_token_ids(model, tokenizer),
            "torch_threads": torch.get_num_threads(),
            "data": {"units": args.units, "sentences": len(records), "rows": len(rows), **sizes},
            "precision": scored["precision"],
            "recall": scored["recall"],
            "f1": scored["f1"],
            "all_identical": all(r["identical_answers"] for r in results.values()),
            "settings": results,
            "overhead_ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
