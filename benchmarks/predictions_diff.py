"""Two prediction files side by side: which units' entities differ, and each file's scores.

Reads the rows ``evaluate_model.py --save-predictions`` writes (the same units, e.g. one
seeded sample tagged before and after a change of code) and saves per corpus the units
compared, those whose predicted entities differ (with both answers, to read why), and strict
P/R/F1 of each file to ``benchmarks/results/predictions_diff_<name>.json``.

    python benchmarks/predictions_diff.py before.jsonl after.jsonl --name issue25-sample200
"""

from __future__ import annotations

import argparse

from common import entity_keys, save_result

from hf_bioner.formats import read_jsonl
from hf_bioner.scoring import score


def prf(rows: list[dict]) -> dict:
    result = score([r["predicted"] for r in rows], [r["entities"] for r in rows])
    return {k: round(result[k], 4) for k in ("precision", "recall", "f1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="predictions JSONL (evaluate_model.py --save-predictions)")
    parser.add_argument("after", help="predictions JSONL of the same units")
    parser.add_argument("--name", required=True, help="result: predictions_diff_<name>.json")
    parser.add_argument("--note", default="", help="what was compared (saved with the result)")
    args = parser.parse_args()

    before = {r["id"]: r for r in read_jsonl(args.before)}
    after = {r["id"]: r for r in read_jsonl(args.after)}
    if set(before) != set(after):
        raise SystemExit(f"the files hold different units ({len(before)} and {len(after)})")
    corpora: dict[str, dict] = {}
    for unit_id, old in before.items():
        new = after[unit_id]
        entry = corpora.setdefault(old["corpus"], {"units": 0, "differing": []})
        entry["units"] += 1
        if entity_keys(old["predicted"]) != entity_keys(new["predicted"]):
            entry["differing"].append({"id": unit_id, "text": old["text"],
                                       "before": old["output"], "after": new["output"]})  # fmt: skip
    for name, entry in corpora.items():
        rows = [r for r in before.values() if r["corpus"] == name]
        entry["before"] = prf(rows)
        entry["after"] = prf([after[r["id"]] for r in rows])
        entry["units_differing"] = len(entry["differing"])
        print(name, {k: v for k, v in entry.items() if k != "differing"})
    pooled_after = prf(list(after.values()))
    save_result(
        f"predictions_diff_{args.name}",
        {
            "before": args.before,
            "after": args.after,
            "note": args.note,
            "data": {name: {"units": entry["units"]} for name, entry in corpora.items()},
            "what": "units whose predicted entities differ between the two files; P/R/F1 "
            "at top level pooled over the after file",
            **pooled_after,
            "units_differing": sum(e["units_differing"] for e in corpora.values()),
            "corpora": corpora,
        },
    )


if __name__ == "__main__":
    main()
