#!/bin/bash
# tools/gpu_check.sh [OUT_DIR]: the GPU check, for a machine with an NVIDIA GPU, the CUDA Toolkit
# and cuDNN. Configures and builds with -DNSE_WITH_CUDA=ON, converts the models (python3 with
# torch/torchvision), runs the GPU tests and the CPU parity tests, fits a quick CUDA profile,
# runs a CUDA cloud with a CPU edge, then `nsengine bench -d cuda` for the five models beside
# PyTorch on the same GPU (tools/bench_torch_cuda.py), and prints one table.
#
# Environment: NSE_PYTHON (default: python3 on PATH), NSE_GPU_BUILD (default: build-cuda).
# Headers a machine lacks (standalone asio, stb, OpenSSL's) are taken from .deps/include when it
# exists; OpenSSL's then link against the machine's own libssl.so.3 (the 3.x ABI is stable).
# At most six files are written to OUT_DIR (default: gpu-check-results).
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-results}
mkdir -p "$out"
build=${NSE_GPU_BUILD:-build-cuda}
py=${NSE_PYTHON:-$(command -v python3)}
log=$out/check.log
: >"$log"
step() { echo "== $(date +%T) $*" | tee -a "$log"; }

step "machine"
{ nvidia-smi -L; nvcc --version | tail -n 2; "$py" -c 'import torch; print("torch", torch.__version__)'
  nproc; } >>"$log" 2>&1

cmake_args=(-DNSE_WITH_CUDA=ON -DNSE_PYTHON="$py" -DCMAKE_BUILD_TYPE=Release)
if [ -d .deps/include ]; then
    cmake_args+=(-DASIO_INCLUDE_DIR="$PWD/.deps/include" -DSTB_INCLUDE_DIR="$PWD/.deps/include/stb")
fi
if [ ! -e /usr/include/openssl/ssl.h ] && [ -e .deps/include/openssl/ssl.h ]; then
    ssl=$(ls /usr/lib/x86_64-linux-gnu/libssl.so* /usr/lib64/libssl.so* 2>/dev/null | head -n 1)
    crypto=$(ls /usr/lib/x86_64-linux-gnu/libcrypto.so* /usr/lib64/libcrypto.so* 2>/dev/null | head -n 1)
    cmake_args+=(-DOPENSSL_INCLUDE_DIR="$PWD/.deps/include" -DOPENSSL_SSL_LIBRARY="$ssl"
                 -DOPENSSL_CRYPTO_LIBRARY="$crypto")
fi
# cuDNN outside the toolkit (pip's nvidia-cudnn wheel, distribution packages): point CMake at it.
if [ ! -e /usr/local/cuda/include/cudnn.h ] && [ ! -e /usr/include/cudnn.h ]; then
    hdr=$(find / -xdev -name cudnn.h -path '*include*' 2>/dev/null | head -n 1)
    lib=$(find / -xdev -name 'libcudnn.so*' 2>/dev/null | sort | head -n 1)
    echo "cuDNN found at $hdr, $lib" >>"$log"
    cmake_args+=(-DNSE_CUDNN_INCLUDE="$(dirname "$hdr")" -DNSE_CUDNN_LIBRARY="$lib")
    export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

step "configure and build ($build)"
if ! { cmake -S . -B "$build" "${cmake_args[@]}" &&
      cmake --build "$build" -j"$(nproc)" --target nsengine nse_cuda_tests nse_parity_tests; } \
    >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log"
    echo "gpu_check: build failed (log: $out/build.log)"
    exit 1
fi
nse=$build/tools/nsengine
md=models  # where the tests convert the five models (the checkout's models/)

step "tests: CUDA ops and models, CPU parity, CLI"
(cd "$build" && timeout 360 ctest -j4 --output-on-failure -R 'Cuda|cli_cuda|Parity|convert|make_custom|image_reference|deploy_quick') \
    >"$out/ctest.log" 2>&1
tests_rc=$?
grep -E "tests passed|tests failed|\(Failed\)|\(Skipped\)|Not Run|Timeout" "$out/ctest.log" | tee -a "$log"


step "bench: nsengine -d cuda and PyTorch on the same GPU"
for m in lenet alexnet mobilenet_v2 resnet18 vgg16; do
    timeout 60 "$nse" bench -d cuda --model "$m" --models-dir "$md" --runs 300 --warmup 30 --json
done >"$out/bench_nsengine.json" 2>>"$log"
timeout 240 "$py" tools/bench_torch_cuda.py --runs 300 --warmup 30 --json \
    >"$out/bench_torch.json" 2>>"$log"
"$py" - "$out/bench_nsengine.json" "$out/bench_torch.json" <<'PY' | tee -a "$log"
import json, re, sys
text = open(sys.argv[1]).read()
ours = {}
for chunk in re.findall(r"\{.*?\n\}", text, re.S):
    j = json.loads(chunk)
    ours[j["model"]] = j
try:
    torch = json.load(open(sys.argv[2]))
    peers = {r["model"]: r for r in torch["results"]}
    head = f"PyTorch {torch['torch']} on {torch['device']}"
except Exception as e:
    peers, head = {}, f"PyTorch bench failed: {e}"
dev = next(iter(ours.values()))["device"] if ours else "?"
print(f"nsengine on {dev}; {head}; batch 1 fp32, TF32 off; medians (ms)")
print(f"{'model':13} {'nsengine':>9} {'torch eager':>12} {'eager+io':>9} {'torch graph':>12} "
      f"{'graph+io':>9} {'vs eager':>9} {'vs graph+io':>12}")
for m in ["lenet", "alexnet", "mobilenet_v2", "resnet18", "vgg16"]:
    o = ours.get(m, {}).get("median_ms", float("nan"))
    p = peers.get(m, {})
    e, eio = p.get("eager_ms", float("nan")), p.get("eager_io_ms", float("nan"))
    g, gio = p.get("graph_ms", float("nan")), p.get("graph_io_ms", float("nan"))
    print(f"{m:13} {o:9.3f} {e:12.3f} {eio:9.3f} {g:12.3f} {gio:9.3f} {e / o:8.2f}x {gio / o:11.2f}x")
PY
{
    step "deploy -d cuda --quick"
    timeout 150 "$nse" deploy -d cuda --quick --out "$build/profiles/cuda-quick.json"
    for m in mobilenet_v2 alexnet resnet18 vgg16; do
        step "profile -d cuda $m (per-node choices)"
        timeout 120 "$nse" profile -d cuda --model "$m" --models-dir "$md" --runs 20
    done
    step "cloud -d cuda + CPU edge"
    cloud_profile=$build/profiles/cuda-quick.json
    [ -s "$cloud_profile" ] || cloud_profile=$build/profiles/quick-1t.json  # deploy failed
    "$nse" cloud -d cuda --models-dir "$md" --models mobilenet_v2,resnet18,vgg16 -p 9779 \
        --profile "$cloud_profile" --quiet &
    cloud=$!
    sleep 3
    for m in mobilenet_v2 resnet18 vgg16; do
        timeout 120 "$nse" edge --model "$m" --models-dir "$md" -p 9779 --split 0 --repeat 20 \
            --threads 4 | tail -n 12
        timeout 120 "$nse" edge --model "$m" --models-dir "$md" -p 9779 --split auto --repeat 5 \
            --threads 4 --profile "$build/profiles/quick-1t.json" | tail -n 12
    done
    kill "$cloud"; wait "$cloud"
} >"$out/demo.log" 2>&1
grep -E "^==|error|whole|total|cut" "$out/demo.log" | head -n 60 >>"$log"
step "done (tests exit code $tests_rc)"
exit "$tests_rc"
