#!/usr/bin/env bash
# How well the cost models predict, as the README's accuracy tables measure it: for each thread
# count in --threads a fresh `nsengine deploy`, then, right away, `nsengine predict --json` for
# every model --repeat times; then one Markdown row per model: the whole-model errors (in deploy
# order, each deploy's predictions in turn) and, per prediction, the nodes of >= 0.1 ms within
# +-20 % of their measured time; and how much longer the deployment phase's synthetic networks
# took around each prediction than at its deploy, with the whole-model error of the predictions
# scaled by that (`predict`'s "machine now"). Nothing else should run meanwhile: the machine's
# speed is what this measures against.
#
#   tools/accuracy.sh [--threads 2,2,1] [--repeat 2] [--models lenet,alexnet,...]
#                     [--out DIR] [--quick]
# (--quick: a tenth of the deployment sweep and 3 runs per prediction, to try the script.)
# About 8 minutes with the defaults on the 2-vCPU machine; NSE=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2,2,1
repeat=2
models=lenet,alexnet,mobilenet_v2,resnet18,vgg16
out=accuracy-results
quick=0
while [ $# -gt 0 ]; do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "accuracy: unknown argument $1 (see the comment at the top of $0)"; exit 2 ;;
    esac
done
[[ "$threads" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    { echo "accuracy: --threads wants thread counts like 2,2,1"; exit 2; }
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "accuracy: --repeat wants a count >= 1"; exit 2; }
nse=${NSE:-$PWD/build/tools/nsengine}
[ -x "$nse" ] || { echo "accuracy: build first (scripts/build.sh)"; exit 2; }
coretype=$(scripts/openblas-coretype.sh)  # SKYLAKEX on AVX-512 CPUs, HASWELL on AVX2 ones
[ -z "$coretype" ] || export OPENBLAS_CORETYPE=$coretype
mkdir -p "$out"
IFS=, read -r -a thread_list <<<"$threads"
IFS=, read -r -a model_list <<<"$models"
deploy_args=() runs=20
[ "$quick" = 1 ] && deploy_args=(--quick) && runs=3
files=()
for d in "${!thread_list[@]}"; do
    t=${thread_list[$d]}
    profile=$out/profile-$d-${t}t.json
    echo "accuracy: deploy $((d + 1)) of ${#thread_list[@]} (${t} thread(s))" >&2
    "$nse" deploy "${deploy_args[@]}" --threads "$t" --out "$profile" >"$out/deploy-$d.log"
    for r in $(seq 1 "$repeat"); do
        for m in "${model_list[@]}"; do
            n=$runs
            [ "$m" = lenet ] && [ "$quick" = 0 ] && n=500  # 20 us a run: more runs, same time
            f=$out/predict-$d-$r-$m.json
            "$nse" predict --model "$m" --profile "$profile" --threads "$t" --runs "$n" --json >"$f"
            files+=("$f")
        done
    done
done
/usr/bin/python3 - "$models" "${files[@]}" <<'EOF'
import json, sys
models = sys.argv[1].split(',')
rows = {m: ([], [], []) for m in models}
for path in sys.argv[2:]:
    d = json.load(open(path))
    errors, nodes, now = rows[d['model']]
    errors.append('%+.1f' % (100 * d['whole_rel_error']))
    nodes.append('%d/%d' % (d['nodes_within_20pct'], d['nodes_over_0.1ms']))
    m = d.get('machine_now')
    now.append('%.2fx: %+.1f' % (m['reference_ratio'], 100 * m['whole_rel_error']) if m else '-')
print('| model | whole-model error, % | nodes >= 0.1 ms within +-20 % |'
      ' synthetic networks now / at deploy: error of the predictions times that, % |')
print('|---|---|---|---|')
for m in models:
    errors, nodes, now = rows[m]
    print('| %s | %s | %s | %s |' % (m, ' / '.join(errors), ', '.join(nodes), ' / '.join(now)))
EOF
