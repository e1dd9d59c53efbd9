#!/usr/bin/python3
"""The torchvision zoo through the ONNX route: export, import, check; table to docs/zoo-onnx.md.

For each classification model torchvision 0.14 lists: build it with the seeded random weights
tools/zoo.py converts (tools/convert_torchvision.py's build_model), export it with
torch.onnx.export (--opset, default 17), import the file as tools/convert_onnx.py does, with
PyTorch's output as the reference, and check it with `nsengine check` (max |diff| / max |ref|:
1e-4, or 1e-3 above 100 nodes; top-1; --cuts evenly spaced cuts each equal to the whole run).
A model the exporter cannot write, or whose file uses an op or a pattern the importer does not
take, is a row saying so. Models over 400 M parameters are not run (their export and float
copies do not fit beside each other in this machine's memory). Progress goes to stderr.

  /usr/bin/python3 tools/zoo_onnx.py [--models a,b] [--out DIR] [--threads 1] [--cuts 8]
                                     [--opset 17] [--doc docs/zoo-onnx.md] [--json FILE]

With --models and an existing --json, the other models' rows are kept (a rerun of a few).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

from convert_onnx import convert_onnx, ort_output  # noqa: E402
from convert_torchvision import build_model  # noqa: E402
from nseconvert import sweep, zoo  # noqa: E402
from nseconvert.graph import Unsupported  # noqa: E402
from nseconvert.onnx_import import load_onnx  # noqa: E402


def one(name, args):
    row = {"model": name}
    model, shape, *_ = build_model(name, "random", 0)
    params = sum(p.numel() for p in model.parameters())
    row["params_m"] = params / 1e6
    if params > 400e6:
        row["skipped"] = "over 400 M parameters"
        return row
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.onnx")
        try:
            # With gradients on: under no_grad, nn.MultiheadAttention takes a fused fast path
            # the exporter cannot write.
            torch.onnx.export(model, torch.randn(shape), path, opset_version=args.opset,
                              input_names=["input"], output_names=["output"])
        except Exception as e:  # noqa: BLE001 (the exporter's own failure is the row)
            row["error"] = "export: " + str(e).strip().splitlines()[0].split(". ")[0][:160]
            return row

        seen = {}

        def reference(x):
            with torch.no_grad():
                seen["x"], seen["y"] = x, model(x)
            return seen["y"]

        try:
            out_path, graph = convert_onnx(load_onnx(path), name, args.out, None, 0, reference,
                                           {"nsengine.source": f"tools/zoo_onnx.py {name}"})
        except Unsupported as e:
            row["error"] = "import: " + str(e)[:200]
            return row
        # How far the exported file itself is from PyTorch (the exporter folds batch norms
        # into the convolutions' weights in float32): ONNX Runtime's output for it, if installed.
        try:
            y = ort_output(path, seen["x"])
        except Unsupported:
            y = None
        if y is not None:
            ref = seen["y"]
            row["ort_rel_diff"] = float((y - ref).abs().max() / ref.abs().max())
    row["nodes"] = len(graph["nodes"])
    tol = "1e-4" if row["nodes"] <= 100 else "1e-3"
    p = subprocess.run([args.nsengine, "check", "--model", out_path, "--json", "--tolerance", tol,
                        "--cuts", str(args.cuts), "--threads", str(args.threads)],
                       capture_output=True, text=True, timeout=3600)
    if p.stdout.strip().startswith("{"):
        row["check"] = json.loads(p.stdout)
    else:
        row["error"] = "check: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return row


def markdown(rows, args):
    lines = [
        "# The torchvision zoo through ONNX", "",
        "Each classification model of torchvision 0.14, with the seeded random weights of "
        "docs/zoo.md, exported by `torch.onnx.export` (torch 1.13, opset "
        f"{args.opset}) and imported as `tools/convert_onnx.py` imports a user's file; checked "
        "against PyTorch's output on the reference input (tolerance 1e-4, 1e-3 above 100 "
        f"nodes), top-1, and {args.cuts} evenly spaced cuts each equal to the whole run. "
        f"Written by `tools/zoo_onnx.py` on {time.strftime('%Y-%m-%d')}.", "",
        "ONNX Runtime's column: the same measure for ONNX Runtime (onnxruntime-node) running the "
        "exported file, where it is installed: how far the file itself is from PyTorch (the "
        "exporter folds each batch norm into its convolution's weights in float32).", "",
        "| model | params (M) | nodes | max rel. error | ONNX Runtime's | top-1 | splits | "
        "result |",
        "|---|---:|---:|---:|---:|---|---|---|"]
    ok = as_file = 0
    for r in rows:
        c = r.get("check", {})
        result = "ok" if c.get("ok") else "FAILED"
        if (not c.get("ok") and c.get("top1_same") and c.get("splits_equal") and
                c.get("max_rel_diff", 1) <= r.get("ort_rel_diff", 0)):
            # Past the tolerance, but nearer PyTorch than the exported file itself runs.
            result = "past the tolerance, as the file: ONNX Runtime further from PyTorch"
            as_file += 1
        if r.get("skipped") or r.get("error"):
            what = f"not run: {r['skipped']}" if r.get("skipped") else r["error"]
            lines.append(f"| {r['model']} | {r['params_m']:.1f} | | | | | | {what} |")
            continue
        ok += bool(c.get("ok"))
        lines.append(
            f"| {r['model']} | {r['params_m']:.1f} | {r['nodes']} | "
            f"{c.get('max_rel_diff', float('nan')):.1e} | "
            f"{r.get('ort_rel_diff', float('nan')):.1e} | "
            f"{'same' if c.get('top1_same') else 'DIFFERENT'} | "
            f"{'equal' if c.get('splits_equal') else 'DIFFER'} | {result} |")
    lines += ["", f"{ok} of {len(rows)} models convert through ONNX, match and split"
              + (f"; {as_file} more past the tolerance by less than the exported file's own "
                 "distance from PyTorch" if as_file else "") + ".", ""]
    return "\n".join(lines)


def main():
    ap = sweep.arguments(__doc__, "build/zoo-onnx", "docs/zoo-onnx.md", 8)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    every = [n for n in zoo.torchvision_names() if not zoo.not_yet(n)]
    names = args.models.split(",") if args.models else every
    os.makedirs(args.out, exist_ok=True)

    def status(row):
        c = row.get("check", {})
        return row.get("skipped") or row.get("error") or (
            f"err {c.get('max_rel_diff', float('nan')):.1e}, {'ok' if c.get('ok') else 'FAILED'}")

    rows = sweep.run(names, every, args, one, markdown, status)
    bad = [r["model"] for r in rows if r.get("error") or
           (not r.get("skipped") and not r.get("check", {}).get("ok"))]
    print(f"{len(rows) - len(bad)} of {len(rows)} pass or are not run" +
          (f"; failed: {', '.join(bad)}" if bad else ""), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
