#!/bin/sh
# Runs an aarch64 program of the cross build under user-mode emulation (Debian qemu-user-static),
# with the arm64 multiarch libraries. OpenBLAS's own worker threads hang at start-up under qemu
# (its pthreads build, measured with a one-call program), so they are off unless asked for;
# nsengine splits work over its own pool anyway.
OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} exec qemu-aarch64-static -L /usr/aarch64-linux-gnu "$@"
