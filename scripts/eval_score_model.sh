#!/usr/bin/env bash
# The score-model evaluation of docs/training.md / README: 16 backbones each at 60, 100, 150
# residues (seed 0) with the sample defaults, the same with the sampling priors off, and the DSSP
# strings of 48 validation chains — each measured with `proteindsm evaluate`.
#
#   bash scripts/eval_score_model.sh CHECKPOINT OUTDIR [SET ...] [-- extra sample overrides]
#
# SET: default | priors_off | conditional (all three when none is named) | conditional_pairs (the
# same 48 strings with each chain's strand pairs, for checkpoints with strand-pair conditioning).  Each set runs in the
# background on one thread (OMP_NUM_THREADS=1), so two sets use two cores; the script waits for all.
set -euo pipefail
ckpt=$1; out=$2; shift 2
sets=()
while [[ $# -gt 0 && $1 != "--" ]]; do sets+=("$1"); shift; done
[[ ${1:-} == "--" ]] && shift
extra=("$@")
[[ ${#sets[@]} -eq 0 ]] && sets=(default priors_off conditional)
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
run_set() {
  local name=$1; shift
  local dir="$out/$name"
  OMP_NUM_THREADS=1 proteindsm sample checkpoint="$ckpt" out="$dir" seed=0 progress=false "$@" "${extra[@]}" \
    > "$out/$name.log" 2>&1
  OMP_NUM_THREADS=1 proteindsm evaluate samples="$dir" out="$dir/eval.json" >> "$out/$name.log" 2>&1
  echo "$name done: $dir/eval.json"
}
for s in "${sets[@]}"; do
  case $s in
    default) run_set default "length=[60,100,150]" num=16 & ;;
    priors_off) run_set priors_off "length=[60,100,150]" num=16 steric.scale=0 compactness.scale=0 & ;;
    conditional) run_set conditional ss_file="$here/docs/results/val_ss_strings_48.fasta" num=1 & ;;
    conditional_pairs) run_set conditional_pairs ss_file="$here/docs/results/val_ss_strings_pairs_48.txt" num=1 & ;;
    *) echo "unknown set $s" >&2; exit 2 ;;
  esac
done
wait
