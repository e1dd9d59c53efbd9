#!/usr/bin/env bash
# scripts/test-arm64.sh [--full | --ci]: nsengine for 64-bit ARM, built with Debian's cross
# compiler (cmake/aarch64-linux-gnu.cmake) and tested under user-mode emulation (qemu-aarch64-static):
#   1. every kernel's sweep on the neon path and on the generic path;
#   2. parity with PyTorch and every split's equality with the whole run, for the five models
#      (converted on this machine into models/: the files are the same on every architecture);
#   3. an emulated aarch64 edge against a native cloud on loopback, at a cut, each answer equal to
#      the edge's own local run and to the native one (the protocol's byte order at work).
# Under emulation everything runs on one thread (NSE_TEST_MAX_THREADS=1, edge --threads 1): the
# qemu 7.2 of Debian 12 hangs here when a program starts a thread. By default step 1 leaves out
# four Winograd tests whose double-precision references take minutes emulated, and step 2 checks
# every split of LeNet and MobileNetV2 (the others' parity only); --full runs all of both suites.
# --ci (what scripts/test.sh runs, within CI's time): step 1 on the neon path only (the generic
# path's C++ is the one tested natively) and step 3; no step 2. Needs the native build
# (scripts/build.sh) for step 3. Installs the cross toolchain and arm64 libraries first
# (scripts/install_deps.sh --arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
full=0 ci=0
for a in "$@"; do
    case $a in
        --full) full=1 ;;
        --ci) ci=1 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "test-arm64.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
[ "$full$ci" = 11 ] && { echo "test-arm64.sh: --full and --ci exclude each other" >&2; exit 2; }
scripts/install_deps.sh --arm64
build=${NSE_ARM64_BUILD:-build-arm64}
emu=$PWD/cmake/qemu-aarch64.sh
# The kernel suites (tests/CMakeLists.txt's NSE_KERNEL_SUITES), less the four slow Winograd tests.
kernels=$(sed -n 's/^set(NSE_KERNEL_SUITES "\(.*\)")$/\1/p' tests/CMakeLists.txt)
[ -n "$kernels" ] || { echo "test-arm64.sh: NSE_KERNEL_SUITES not found in tests/CMakeLists.txt" >&2; exit 1; }
kernels+="-Winograd.WideLayers*:Winograd.SeveralChunks*:Winograd.DeepReductions*"
kernels+=":Winograd.SmallMapsMatch*"
parity="Models/Parity.MatchesPyTorch/lenet:Models/Parity.MatchesPyTorch/alexnet"
parity+=":Models/Parity.MatchesPyTorch/mobilenet_v2:Models/Parity.MatchesPyTorch/resnet18"
parity+=":Models/Parity.EverySplitEqualsWholeRunExactly/lenet"
parity+=":Models/Parity.EverySplitEqualsWholeRunExactly/mobilenet_v2"
export NSE_TEST_MAX_THREADS=1
step() { echo; echo "== test-arm64: $*"; }

targets=(nsengine nse_unit_tests)
[ "$ci" = 1 ] || targets+=(nse_parity_tests)
step "cross build into $build"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
file "$build/tools/nsengine" | grep -q aarch64 || { echo "not an aarch64 build"; exit 1; }
"$emu" "$build/tools/nsengine" info --cpu

step "models (converted on the host, as the parity tests expect)"
[ -x build/tools/nsengine ] || scripts/build.sh
if [ "$ci" = 1 ]; then
    /usr/bin/python3 tools/convert_torchvision.py lenet mobilenet_v2 --out models --skip-existing \
        >/dev/null
else
    /usr/bin/python3 tools/convert_torchvision.py --all --out models --skip-existing >/dev/null
fi

filter=$kernels
[ "$full" = 1 ] && filter="*" && parity="Models/Parity.*"
paths=(neon generic)
[ "$ci" = 1 ] && paths=(neon)
for path in "${paths[@]}"; do
    step "unit tests ($([ "$full" = 1 ] && echo all || echo kernels)) on the $path path"
    NSE_CPU=$path "$emu" "$build/tests/nse_unit_tests" --gtest_filter="$filter" --gtest_brief=1
done

if [ "$ci" = 0 ]; then
    step "parity with PyTorch and every split, neon path"
    "$emu" "$build/tests/nse_parity_tests" --gtest_filter="$parity" --gtest_brief=1
fi

step "an aarch64 edge against an x86-64 cloud on loopback"
log=$(mktemp)
profile=$(mktemp --suffix=.json)
trap 'kill $cloud 2>/dev/null || true; rm -f "$log" "$profile"' EXIT
# The cloud serves once it has a profile: a quick one (a tenth of the deployment sweep).
build/tools/nsengine deploy --quick --threads 1 --out "$profile" >/dev/null
build/tools/nsengine cloud -p 0 --models lenet,mobilenet_v2 --threads 1 --profile "$profile" \
    2>"$log" &
cloud=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/.*serving .* on 127.0.0.1:\([0-9]*\),.*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "FAIL: the native cloud did not start"; exit 1; }
for spec in lenet:3 mobilenet_v2:30; do
    model=${spec%%:*} cut=${spec##*:}
    remote=$("$emu" "$build/tools/nsengine" edge -t "$model" -p "$port" --split "$cut" \
        --require-cloud --threads 1 --json)
    local_arm=$("$emu" "$build/tools/nsengine" edge -t "$model" --split edge --threads 1 --json)
    local_x86=$(build/tools/nsengine edge -t "$model" --split edge --threads 1 --json)
    /usr/bin/python3 - "$model" "$cut" "$remote" "$local_arm" "$local_x86" <<'PY'
import json, sys
model, cut = sys.argv[1], int(sys.argv[2])
remote, arm, x86 = (json.loads(a) for a in sys.argv[3:6])
q = remote["requests"][0]
assert q["where"] == "cloud" and q["cut"] == cut and remote["fallbacks"] == 0, q
for name, other in (("the aarch64 edge alone", arm), ("the x86-64 edge alone", x86)):
    a, b = remote["top"], other["top"]
    assert [t["class"] for t in a] == [t["class"] for t in b], (name, a, b)
    err = max(abs(s["probability"] - t["probability"]) for s, t in zip(a, b))
    assert err <= 1e-5, (name, err)
    print(f"  {model} cut {cut}: cloud answer == {name} (top-5 classes, max |dp| {err:.1e})")
PY
done
grep -q "lenet cut=3/" "$log" || { cat "$log"; echo "FAIL: the cloud did not log the request"; exit 1; }
echo
echo "test-arm64: all passed"
