#!/usr/bin/env bash
# Full-set evaluation of a model: every unit of each corpus's evaluation split (NCBI-disease,
# BC5CDR and JNLPBA test, CMeEE dev), the generator alone and with its selector.
#
#   bash benchmarks/full_evaluation.sh MODEL NAME DATA_DIR [CORPUS ...]
#
# Each corpus is its own pair of runs, saved as benchmarks/results/eval_NAME-CORPUS.json
# (evaluate_model.py, constrained decoding) and selector_ablation_NAME-CORPUS.json (the same
# generated entities re-scored by the selector). A corpus whose result is already saved is
# skipped, and the predictions under $HF_BIONER_CACHE/predictions are appended chunk by chunk
# and reused (--resume), so an evaluation cut short by a session's end continues where it
# stopped. A table of the results:
#
#   cd benchmarks && python results_table.py --eval eval_NAME-*.json \
#       --ablation selector_ablation_NAME-*.json --peer eval_spacy-*.json --peer-name spaCy
#
# For the bundled model (NAME gemma-joint-r64-bf16), `python benchmarks/readme_tables.py
# --write` rewrites the README's result tables and the model card from the saved files.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: bash benchmarks/full_evaluation.sh MODEL NAME DATA_DIR [CORPUS ...]" >&2
    exit 2
fi
model=$(realpath "$1")
name=$2
data_dir=$(realpath "$3")
shift 3
corpora=("$@")
[ ${#corpora[@]} -gt 0 ] || corpora=(ncbi_disease bc5cdr jnlpba cmeee)

here=$(dirname "$(realpath "$0")")
python=${PYTHON:-python}
predictions=${HF_BIONER_CACHE:-$HOME/.cache/hf_bioner}/predictions
mkdir -p "$predictions"

for corpus in "${corpora[@]}"; do
    run="$name-$corpus"
    if [ ! -f "$here/results/eval_$run.json" ]; then
        "$python" "$here/evaluate_model.py" "$model" --name "$run" --corpora "$corpus" \
            --decoding constrained --data-dir "$data_dir" \
            --save-predictions "$predictions/$run.jsonl" --resume
    fi
    if [ ! -f "$here/results/selector_ablation_$run.json" ]; then
        if [ ! -f "$predictions/$run.jsonl" ]; then
            echo "error: $predictions/$run.jsonl is missing (remove eval_$run.json to redo it)" >&2
            exit 1
        fi
        "$python" "$here/selector_ablation.py" "$model" --name "$run" \
            --predictions "$predictions/$run.jsonl" --logits "$predictions/$run.logits.json" \
            --data-dir "$data_dir"
    fi
done
