#!/usr/bin/python3
"""Convert an ONNX model (opsets 11-17) into an nsengine model file.

Initializers become the weights; constant shape computations are folded; Conv +
BatchNormalization is folded and Relu / Clip(0, 6) fused; the exported forms of SiLU, GELU,
nn.MultiheadAttention (a ViT's) and MaxViT's window attention become one op each. The input
must have a static shape apart from its batch (give --input-shape where the file leaves a
dimension symbolic). Writes

  <out>/<name>.safetensors      graph + weights
  <out>/<name>.ref.safetensors  a seeded input and, where ONNX Runtime is installed
                                (onnxruntime-node in build/ort or $NSE_ORT_DIR), its output for
                                it: the reference `nsengine check` compares with

An op outside the supported set stops the conversion with exit code 2, naming the ONNX node and
its op type; so does a file that is not valid ONNX.

Runs on Debian's python3-onnx and python3-torch: use /usr/bin/python3.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nseconvert.graph import Unsupported, write_model  # noqa: E402
from nseconvert.onnx_import import OnnxImporter, load_onnx  # noqa: E402

ORT_DIR = os.environ.get("NSE_ORT_DIR", os.path.join(os.path.dirname(HERE), "build", "ort"))


def ort_output(path, x):
    """ONNX Runtime's output for x (through Node), or None where it is not installed."""
    if not os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        xin, yout = os.path.join(tmp, "x.bin"), os.path.join(tmp, "y.bin")
        x.numpy().astype(np.float32).tofile(xin)
        p = subprocess.run(["node", os.path.join(HERE, "ort_run.js"), path, xin,
                            ",".join(str(d) for d in x.shape), yout],
                           capture_output=True, text=True, env=dict(os.environ, NSE_ORT_DIR=ORT_DIR))
        if p.returncode != 0:
            raise Unsupported(f"ONNX Runtime could not run {path}: {p.stderr.strip()[-300:]}")
        meta = json.loads(p.stdout)
        return torch.from_numpy(np.fromfile(yout, dtype=np.float32).reshape(meta["shape"]))


def convert_onnx(model, name, out_dir, input_shape=None, seed=0, reference=None,
                 metadata=None):
    """Imports an onnx.ModelProto and writes the model; reference(x) gives the output for the
    reference input (None: no output in the reference file). Returns (path, graph)."""
    importer = OnnxImporter(model, input_shape)
    graph, tensors = importer.run()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(importer.input_shape, generator=g)
    y = reference(x) if reference else None
    meta = {"nsengine.weights": "onnx", **(metadata or {})}
    return write_model(out_dir, name, graph, tensors, meta, x, y), graph


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="the .onnx file")
    p.add_argument("--name", help="model name (default: the file's name)")
    p.add_argument("--out", default="models", help="output folder (default: models)")
    p.add_argument("--input-shape", metavar="1,C,H,W",
                   help="the input's shape where the file leaves dimensions symbolic")
    p.add_argument("--seed", type=int, default=0, help="seed of the reference input")
    args = p.parse_args(argv)
    name = args.name or os.path.splitext(os.path.basename(args.file))[0]
    shape = None
    if args.input_shape:
        try:
            shape = [int(d) for d in args.input_shape.split(",")]
        except ValueError:
            shape = []
        if len(shape) < 2 or any(d <= 0 for d in shape):
            print(f"convert_onnx: --input-shape takes positive integers N,C,H,W, got "
                  f"'{args.input_shape}'", file=sys.stderr)
            return 2
    try:
        model = load_onnx(args.file)
        path, graph = convert_onnx(model, name, args.out, shape, args.seed,
                                   lambda x: ort_output(args.file, x),
                                   {"nsengine.source": f"onnx {os.path.basename(args.file)}"})
    except FileNotFoundError as e:
        print(f"convert_onnx: {e}", file=sys.stderr)
        return 2
    except Unsupported as e:
        print(f"convert_onnx: {name}: {e}", file=sys.stderr)
        return 2
    size = os.path.getsize(path) / 1e6
    print(f"{name}: {len(graph['nodes'])} nodes, {size:.1f} MB -> {path}")
    if not os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        print(f"  (no ONNX Runtime under {ORT_DIR}: the reference file holds the input only; "
              "`npm install --ignore-scripts onnxruntime-node` there to have its output too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
