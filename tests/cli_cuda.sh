#!/bin/sh
# cli_cuda.sh NSENGINE MODELS_DIR: `nsengine run -d cuda` works where a GPU is present and is a
# clear one-line error (exit 1) where none is; a bad --device value is a usage error (exit 2).
nse=$1
md=$2
here=$(dirname "$0")
"$here/cli_expect.sh" 2 "--device must be cpu or cuda, got 'gpu'" "$nse" run --model lenet \
    --models-dir "$md" -d gpu || exit 1
"$here/cli_expect.sh" 2 "--tf32 applies to --device cuda only" "$nse" run --model lenet \
    --models-dir "$md" --tf32 || exit 1
if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    "$here/cli_expect.sh" 0 "input ref, on cuda:0 " "$nse" run --model lenet --models-dir "$md" \
        -d cuda
else
    "$here/cli_expect.sh" 1 \
        "error: --device cuda: (no usable CUDA device|no CUDA device found|this nsengine was built without the CUDA backend)" \
        "$nse" run --model lenet --models-dir "$md" -d cuda
fi
