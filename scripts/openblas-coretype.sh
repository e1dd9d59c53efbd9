#!/usr/bin/env bash
# Prints the OPENBLAS_CORETYPE the benchmark and sweep scripts run PyTorch's OpenBLAS with: Debian's
# OpenBLAS falls back to its slow Prescott kernels on AVX-512 Xeons it does not recognise
# (DESIGN.md), so SKYLAKEX there; HASWELL on CPUs with AVX2 and FMA but no AVX-512 (SKYLAKEX
# kernels die there with an illegal instruction); nothing elsewhere (OpenBLAS's own choice).
# An OPENBLAS_CORETYPE already set wins. Use: source it, or
#   export OPENBLAS_CORETYPE=$(scripts/openblas-coretype.sh)
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "$OPENBLAS_CORETYPE"
elif grep -qw avx512f /proc/cpuinfo; then
    echo SKYLAKEX
elif grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    echo HASWELL
fi
