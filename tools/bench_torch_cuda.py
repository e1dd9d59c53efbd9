#!/usr/bin/env python3
"""PyTorch on CUDA, the peer of `nsengine bench -d cuda`: batch 1, fp32, TF32 off, the same
models (and random weights) the converter makes. For each model: eager and CUDA-graph replay,
each with the input already on the GPU (what PyTorch's own figures mean) and with the copy of the
input from pinned host memory and of the output back to the host (what `nsengine bench -d cuda`
times). Medians of --runs, each run timed on the host to its completion.

    python3 tools/bench_torch_cuda.py --runs 200 [--json] [models...]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_torchvision import MODELS, build_model  # noqa: E402


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def bench(name, runs, warmup):
    model, shape, *_ = build_model(name, "random", 0)
    model = model.cuda()
    x = torch.randn(shape, device="cuda")
    x_host = x.cpu().pin_memory()
    y_host = None
    out = {"model": name}
    with torch.no_grad():
        out["eager_ms"] = timed(lambda: model(x), runs, warmup)

        def eager_io():
            model(x_host.to("cuda", non_blocking=True)).to("cpu")
        out["eager_io_ms"] = timed(eager_io, runs, warmup)

        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        static_x = x.clone()
        with torch.cuda.graph(g):
            static_y = model(static_x)
        out["graph_ms"] = timed(g.replay, runs, warmup)
        y_host = torch.empty(static_y.shape, pin_memory=True)

        def graph_io():
            static_x.copy_(x_host, non_blocking=True)
            g.replay()
            y_host.copy_(static_y, non_blocking=True)
        out["graph_io_ms"] = timed(graph_io, runs, warmup)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", default=MODELS)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_torch_cuda.py: no CUDA device visible to PyTorch")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = [bench(m, a.runs, a.warmup) for m in a.models]
    if a.json:
        print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                          "results": rows}, indent=1))
        return
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}, medians of {a.runs}")
    print(f"{'model':14} {'eager':>8} {'eager+io':>9} {'graph':>8} {'graph+io':>9}  (ms)")
    for r in rows:
        print(f"{r['model']:14} {r['eager_ms']:8.3f} {r['eager_io_ms']:9.3f} {r['graph_ms']:8.3f} "
              f"{r['graph_io_ms']:9.3f}")


if __name__ == "__main__":
    main()
