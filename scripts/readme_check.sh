#!/usr/bin/env bash
# Walks the README's commands in order, as a newcomer would, and checks that each does what the
# README says (succeeds). Every command line of the README's ```sh blocks must be known here: a
# command this script does not know fails the check, so the README and this list move together.
#
#   scripts/readme_check.sh [NSENGINE]      (default build/tools/nsengine; ctest runs it)
#
# It runs in a scratch folder laid out like the checkout (tools/ linked, models/ empty), so the
# commands run as written without touching the checkout's models. Substitutions, each said as it
# happens: `deploy` runs with --quick (a tenth of the sweep: seconds, not two minutes); the
# profile the cloud and edge would build on first use is made the same way beforehand
# (NSE_CACHE_DIR); photo.jpg and my_alexnet.pth are made first (a user brings their own); a
# second machine's SERVER is 127.0.0.1 (its certificate too); optional [flags] are left out. The two set-up commands
# (scripts/demo.sh, scripts/test.sh) are not run here: CI runs the tests themselves.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nse=$(cd "$(dirname "${1:-$root/build/tools/nsengine}")" && pwd)/$(basename "${1:-nsengine}")
[ -x "$nse" ] || { echo "readme_check: $nse not found: build first (scripts/build.sh)"; exit 2; }
py=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/models" "$work/bin" "$work/cache"
ln -s "$root/tools" "$work/tools"
ln -s "$root/examples" "$work/examples"
ln -s "$nse" "$work/bin/nsengine"
export PATH="$work/bin:$PATH" NSE_CACHE_DIR="$work/cache"
cd "$work"

note() { echo "readme_check: $*"; }
fail() { echo "readme_check: FAILED: $*"; exit 1; }
run() {  # run CMD...: must succeed; its output is kept in $work/out
    if ! "$@" >"$work/out" 2>&1; then
        tail -n 20 "$work/out"
        fail "$* (exit $?)"
    fi
}
wait_for_cloud() {  # LOG: until the cloud says it serves (it may build nothing: profiles exist)
    for _ in $(seq 300); do
        grep -q "serving" "$1" && return 0
        sleep 0.1
    done
    cat "$1"
    fail "the cloud did not start"
}
stop_cloud() {
    kill -INT "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
}

# What a user brings: a photo and a state dict of their own.
"$py" - <<'EOF'
import numpy as np
from PIL import Image
h, w = 240, 320
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
Image.fromarray(rgb).save("photo.jpg", quality=90)
import torch, torchvision
torch.manual_seed(1)
torch.save(torchvision.models.alexnet().state_dict(), "my_alexnet.pth")
EOF
# The profile cloud and edge build on first use, made quick (threads: all cores, as both default).
note "(substitution) the first-use profile made with deploy --quick"
# (The cache names the CPU kernel path in use: profile-cpu-avx512-2t.json.)
cpu_path=$(nsengine info --cpu --json | "$py" -c 'import json, sys; print(json.load(sys.stdin)["path"])')
run nsengine deploy --quick --out "$NSE_CACHE_DIR/profile-cpu-$cpu_path-$(nproc)t.json"

# The README's ```sh lines, continuations joined, comments and optional [flags] dropped.
mapfile -t lines < <("$py" - "$root/README.md" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"```sh\n(.*?)```", text, re.S):
    block = block.replace("\\\n", " ")
    for line in block.splitlines():
        line = re.sub(r"(^|\s+)#.*$", "", line)
        line = re.sub(r"\s*\[[^\]]*\]", "", line).strip()
        if line:
            print(" ".join(line.split()))
EOF
)
[ ${#lines[@]} -gt 0 ] || fail "no commands found in the README"

checked=0
for line in "${lines[@]}"; do
    case "$line" in
    "scripts/demo.sh" | "scripts/test.sh")
        note "skipped (set-up; CI runs the tests): $line"
        continue ;;
    "/usr/bin/python3 tools/convert_torchvision.py"* | "/usr/bin/python3 tools/convert_onnx.py"*)
        run bash -c "$line" ;;
    "/usr/bin/python3 examples/"*)
        run bash -c "$line" ;;
    "scripts/make-certs.sh"*)
        cmd=${line//SERVER/127.0.0.1}
        [ "$cmd" = "$line" ] || note "(substitution) the second machine is this one: $cmd"
        run bash -c "$root/$cmd" ;;
    "nsengine cloud"*)
        cmd=${line/-i 0.0.0.0/-i 127.0.0.1}
        [ "$cmd" = "$line" ] || note "(substitution) the second machine is this one: $cmd"
        $cmd 2>"$work/cloud.log" &
        pids+=($!)
        wait_for_cloud "$work/cloud.log" ;;
    "nsengine edge"*)
        cmd=${line//SERVER/127.0.0.1}
        run $cmd
        # The cloud must have answered (a local fallback gives the same numbers): no request
        # finished on the edge for want of it, and a fixed cut was computed there.
        if grep -q "finished on the edge" "$work/out"; then
            cat "$work/out"
            fail "$line: the cloud did not answer"
        fi
        if [[ "$cmd" =~ --split\ [0-9]+ ]] && ! grep -q " cloud " "$work/out"; then
            cat "$work/out"
            fail "$line: the cloud computed nothing"
        fi
        # The tour's last edge and the second machine's edge are followed by stopping that cloud.
        if [[ "$cmd" == *"--split"* || "$cmd" == *"--json"* ]]; then stop_cloud; fi ;;
    "nsengine deploy"*)
        note "(substitution) --quick: $line"
        run $line --quick
        # Its progress shows where stderr is not a terminal too, in stages with honest totals.
        grep -q "deploy: micro-benchmarks: 50% " "$work/out" && grep -q "deploy: second pass: " "$work/out" ||
            { cat "$work/out"; fail "$line: no progress lines"; } ;;
    "nsengine run"* | "nsengine info"* | "nsengine bench"* | "nsengine plan"* | "nsengine check"* | \
        "nsengine calibrate"*)
        run $line ;;
    *)
        fail "the README has a command this script does not know: $line" ;;
    esac
    note "ok: $line"
    checked=$((checked + 1))
done
[ -s plan.svg ] || fail "plan --svg wrote no plan.svg"
echo "readme_check: $checked README commands ran as the README says"
