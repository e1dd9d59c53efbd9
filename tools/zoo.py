#!/usr/bin/python3
"""Convert and check every torchvision classification model, and write the table to docs/zoo.md.

For each of the 80 classification models torchvision 0.14 lists: convert it
with seeded random weights (tools/convert_torchvision.py, --skip-existing), check it with
`nsengine check` (max |diff| / max |ref| against PyTorch on the reference input: 1e-4, or 1e-3
for networks of more than 100 nodes; top-1 the same; --cuts evenly spaced cuts of the graph each
equal to the whole run), read its parameters and FLOPs from `nsengine info`, and time it: nsengine
(`nsengine bench --stdin`) and PyTorch (torch.jit.trace + freeze + optimize_for_inference) take
turns run by run for --rounds rounds, at --threads threads; the ms are medians, the ratio is the
median of the per-round ratios. Progress goes to stderr, one line per model.

  /usr/bin/python3 tools/zoo.py [--models a,b] [--out DIR] [--threads 1] [--rounds 15]
                                [--doc docs/zoo.md] [--json FILE]

With --models and an existing --json, the other models' rows are kept (a rerun of a few).
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _threads_argument(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# Debian's PyTorch runs its linear layers on OpenBLAS, whose own thread pool is sized from the
# environment when the library loads; torch.set_num_threads does not reach it. Without this, the
# PyTorch peer of a --threads 1 race ran ViT-B/16's GEMMs on two threads (258 ms against 398).
os.environ["OPENBLAS_NUM_THREADS"] = _threads_argument(sys.argv)
sys.path.insert(0, HERE)
from nseconvert import sweep, zoo  # noqa: E402


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class TorchJit:
    """PyTorch as a peer in this process: traced, frozen, optimised for inference."""

    def __init__(self, name, threads):
        import torch
        from convert_torchvision import build_model
        torch.set_num_threads(threads)
        model, shape, *_ = build_model(name, "random", 0)
        self.x = torch.randn(shape)
        with torch.no_grad():
            self.jit = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, self.x)))
            for _ in range(2):
                self.jit(self.x)
        self.torch = torch

    def once(self):
        t0 = time.perf_counter()
        with self.torch.no_grad():
            self.jit(self.x)
        return (time.perf_counter() - t0) * 1e3


class Nsengine:
    def __init__(self, binary, path, threads):
        self.p = subprocess.Popen([binary, "bench", "--model", path, "--threads", str(threads),
                                   "--stdin", "--warmup", "2"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("nsengine bench --stdin did not start")

    def once(self):
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("nsengine bench --stdin ended")
        return float(line.split()[0])

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def race(binary, path, name, threads, rounds):
    ns = Nsengine(binary, path, threads)
    try:
        peer = TorchJit(name, threads)
        ns.once()
        a, b = [], []
        for r in range(rounds):
            if r % 2:
                b.append(peer.once())
                a.append(ns.once())
            else:
                a.append(ns.once())
                b.append(peer.once())
    finally:
        ns.close()
    ratio = statistics.median(x / y for x, y in zip(a, b))
    return statistics.median(a), statistics.median(b), ratio


def one(name, args):
    row = {"model": name}
    path = os.path.join(args.out, f"{name}.safetensors")
    t0 = time.time()
    code, out, err = run(["/usr/bin/python3", os.path.join(HERE, "convert_torchvision.py"), name,
                          "--out", args.out, "--skip-existing"], 3600)
    row["convert_s"] = round(time.time() - t0, 1)
    if code != 0:
        row["error"] = "convert: " + (err.strip().splitlines() or ["?"])[-1]
        return row
    code, out, err = run([args.nsengine, "info", "--model", path, "--json"], 600)
    if code == 0:
        info = json.loads(out)
        row.update(params_m=info["param_bytes"] / 4e6, gflops=info["flops"] / 1e9,
                   nodes=len(info["nodes"]), input=info["input_shape"])
    tol = "1e-4" if row.get("nodes", 0) <= 100 else "1e-3"
    code, out, err = run([args.nsengine, "check", "--model", path, "--json", "--tolerance", tol,
                          "--cuts", str(args.cuts), "--threads", str(args.threads)], 3600)
    if out.strip().startswith("{"):
        row["check"] = json.loads(out)
    else:
        row["error"] = "check: " + (err.strip().splitlines() or ["?"])[-1]
        return row
    # No race for the very largest (RegNetY-128GF, 644 M parameters; ViT-H/14, 632 M): PyTorch's
    # traced and frozen copies of RegNetY-128GF took 16 GB, more than this machine has beside the
    # rest.
    if args.rounds > 0 and row.get("params_m", 0) > 400:
        row["race_error"] = "not timed: over 400 M parameters"
    elif args.rounds > 0:
        try:
            row["nse_ms"], row["torch_ms"], row["ratio"] = race(args.nsengine, path, name,
                                                                args.threads, args.rounds)
        except Exception as e:  # noqa: BLE001 (a failed race is a row without times)
            row["race_error"] = str(e)[:200]
    return row


def markdown(rows, args):
    lines = [
        "# The torchvision zoo in nsengine", "",
        "Every classification model torchvision 0.14 lists (68 CNNs, 12 vision transformers), "
        "converted with seeded random weights and checked by "
        "`tools/zoo.py` (`scripts/zoo.sh`): the max |diff| / max |ref| of the output against "
        "PyTorch on the reference input (tolerance 1e-4, 1e-3 above 100 nodes), whether the "
        f"top-1 class is the same, and whether {args.cuts} evenly spaced cuts of the graph each "
        "give the whole run's output bit for bit. Times: median ms at "
        f"{args.threads} thread(s), nsengine and PyTorch (jit trace + freeze + "
        f"optimize_for_inference) taking turns run by run for {args.rounds} rounds; ratio = "
        "median of the per-round nsengine / PyTorch (< 1: nsengine faster). The same models "
        "exported to ONNX and imported: docs/zoo-onnx.md (tools/zoo_onnx.py).", "",
        f"Measured {time.strftime('%Y-%m-%d')} on this 2-core VM (timings drift by up to 1.5x "
        "between minutes; the ratio is the figure to read).", "",
        "The error columns against float64: the same network run in double precision by "
        "PyTorch; nsengine's error and PyTorch's own float32 error, side by side (random "
        "networks amplify rounding; deep ones more).", "",
        "| model | input | params (M) | GFLOPs | nodes | max rel. error | vs f64: nsengine | "
        "vs f64: PyTorch | top-1 | splits | nsengine ms | PyTorch ms | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"]
    ok = 0
    for r in rows:
        c = r.get("check", {})
        if r.get("error"):
            lines.append(f"| {r['model']} | | | | | FAILED: {r['error']} | | | | | | | |")
            continue
        ok += bool(c.get("ok"))
        inp = "x".join(str(d) for d in r.get("input", [])[2:])
        lines.append(
            f"| {r['model']} | {inp} | {r.get('params_m', 0):.1f} | {r.get('gflops', 0):.2f} | "
            f"{r.get('nodes', '')} | {c.get('max_rel_diff', float('nan')):.1e} | "
            f"{c.get('max_rel_diff_f64', float('nan')):.1e} | "
            f"{c.get('torch_max_rel_diff_f64', float('nan')):.1e} | "
            f"{'same' if c.get('top1_same') else 'DIFFERENT'} | "
            f"{'equal' if c.get('splits_equal') else 'DIFFER'} | "
            f"{r.get('nse_ms', float('nan')):.1f} | {r.get('torch_ms', float('nan')):.1f} | "
            f"{r.get('ratio', float('nan')):.2f} |")
    lines += ["", f"{ok} of {len(rows)} models convert, match and split.", ""]
    return "\n".join(lines)


def main():
    ap = sweep.arguments(__doc__, "build/zoo", "docs/zoo.md", 16)
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds (0: no timing)")
    args = ap.parse_args()
    every = [n for n in zoo.torchvision_names() if not zoo.not_yet(n)]
    names = args.models.split(",") if args.models else every

    def status(row):
        c = row.get("check", {})
        return row.get("error") or (
            f"err {c.get('max_rel_diff', float('nan')):.1e}, "
            f"{'ok' if c.get('ok') else 'FAILED'}, nsengine {row.get('nse_ms', float('nan')):.1f} "
            f"ms, torch {row.get('torch_ms', float('nan')):.1f} ms")

    rows = sweep.run(names, every, args, one, markdown, status)
    bad = [r["model"] for r in rows if r.get("error") or not r.get("check", {}).get("ok")]
    print(f"{len(rows) - len(bad)} of {len(rows)} pass" + (f"; failed: {', '.join(bad)}"
                                                           if bad else ""), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
