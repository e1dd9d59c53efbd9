#!/usr/bin/python3
"""Convert a PyTorch network into an nsengine model file.

Three sources: a torchvision classification model by name (every CNN torchvision 0.14 lists;
`--list` shows them all), your own nn.Module (`--module file.py:factory --input-shape
1,3,H,W`), and - with tools/convert_onnx.py - ONNX files. The network is traced with torch.fx
(where torch.fx cannot trace it, it is exported to ONNX and imported from there); BatchNorm is
folded into the convolution before it, a ReLU or ReLU6 fused into the op that feeds only it,
dropout and stochastic depth dropped. It writes

  <out>/<name>.safetensors      graph (metadata nsengine.graph) + weights
  <out>/<name>.ref.safetensors  a fixed input and PyTorch's output for it (parity tests)

An op outside the supported set stops the conversion with exit code 2, naming the op and the
module path where it occurs.

Runs on Debian's python3-torch / python3-torchvision: use /usr/bin/python3.
"""

import argparse
import importlib.util
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nseconvert import zoo  # noqa: E402
from nseconvert.fx_import import FxImporter  # noqa: E402
from nseconvert.graph import (CONVERTER_REVISION, Unsupported, read_metadata,  # noqa: E402,F401
                              write_model)

LeNet = zoo.LeNet
MODELS = zoo.DEFAULT_SET
ALIASES = zoo.ALIASES


class UsageError(Exception):
    """A bad flag or file the user gave: one line, exit 2."""


def build_model(name, weights, seed, state_dict=None):
    """Returns (model in eval mode, input shape, preprocess dict, class names, weights label)."""
    if name not in zoo.known_names():
        raise UsageError(f"unknown model '{name}'; --list shows every known name "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    why = zoo.not_yet(name)
    if why:
        raise UsageError(f"{name} is {why}: not convertible yet")
    torch.manual_seed(seed)
    model = zoo.build(name, weights)
    shape, prep, classes = zoo.default_input(name)
    label = "imagenet" if weights == "imagenet" else f"random(seed={seed})"
    if weights == "random" and not state_dict:
        zoo.make_random(model, shape, seed)
    if state_dict:
        model.load_state_dict(torch.load(state_dict, map_location="cpu"))
        label = f"state_dict({os.path.basename(state_dict)})"
    return model.eval(), shape, prep, classes, label


def load_module(spec, seed):
    """The model a `file.py:factory` spec names (the factory is called with no arguments)."""
    path, sep, factory = spec.rpartition(":")
    if not sep or not path or not factory:
        raise UsageError(f"--module takes FILE.py:FACTORY, got '{spec}'")
    if not os.path.isfile(path):
        raise UsageError(f"--module: no file {path}")
    try:
        module_spec = importlib.util.spec_from_file_location("user_model", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 (the user's file: any error becomes one line)
        raise UsageError(f"--module: cannot import {path}: {type(e).__name__}: {e}") from e
    fn = getattr(module, factory, None)
    if fn is None or not callable(fn):
        raise UsageError(f"--module: {path} has no callable '{factory}'")
    torch.manual_seed(seed)
    try:
        model = fn()
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"--module: {factory}() failed: {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"--module: {factory}() returned a {type(model).__name__}, "
                         "not an nn.Module")
    return model.eval()


def parse_shape(text):
    try:
        dims = [int(d) for d in text.split(",")]
    except ValueError:
        raise UsageError(f"--input-shape takes N,C,H,W integers, got '{text}'") from None
    if len(dims) < 2 or any(d <= 0 or d > 1 << 20 for d in dims) or dims[0] != 1:
        raise UsageError(f"--input-shape must be 1,C,H,W with positive sizes, got '{text}'")
    return dims


def exact_output(model, x):
    """The model's output in float64 (a copy of it run in double precision): the exact answer
    both PyTorch's and nsengine's float32 errors are measured against (`nsengine check`)."""
    import copy
    if sum(p.numel() for p in model.parameters()) > 300_000_000:
        return None  # (RegNetY-128GF: a float64 copy of 2.6 GB of weights is too much here)
    try:
        with torch.no_grad():
            return copy.deepcopy(model).double()(x.double()).float()
    except Exception:  # noqa: BLE001 (a module that will not run in double: no such reference)
        return None


def import_graph(model, input_shape, seed):
    """(graph JSON, weights, reference input, PyTorch's output): torch.fx, or the ONNX route
    where torch.fx cannot trace the model."""
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(input_shape, generator=g)
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as e:  # noqa: BLE001 (a shape the model does not take, most often)
        why = " ".join(str(e).split())[:300]
        raise Unsupported(f"the model does not run on an input of shape {input_shape}: {why}") \
            from e
    if not isinstance(y, torch.Tensor):
        raise Unsupported(f"the model returns a {type(y).__name__}, not one tensor")
    try:
        importer = FxImporter(model, x)
    except Unsupported as fx_error:
        if "cannot trace" not in str(fx_error):
            raise
        from nseconvert.onnx_import import import_torch_via_onnx
        graph, tensors = import_torch_via_onnx(model, x, fx_error)
        return graph, tensors, x, y
    graph, tensors = importer.run(input_shape)
    return graph, tensors, x, y


def convert(model, name, input_shape, out_dir, metadata, seed):
    """Converts and writes; returns (model path, graph JSON)."""
    graph, tensors, x, y = import_graph(model, input_shape, seed)
    meta = {"nsengine.weights": "", **metadata}
    return write_model(out_dir, name, graph, tensors, meta, x, y,
                       exact_output(model, x)), graph


def list_models(as_json):
    rows = []
    for name in zoo.known_names():
        why = zoo.not_yet(name)
        rows.append({"name": name, "converts": why is None, "why_not": why,
                     "default": name in MODELS})
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(f"{r['name']:24s} {'yes' if r['converts'] else 'no: ' + r['why_not']}")
    yes = sum(r["converts"] for r in rows)
    print(f"{yes} of {len(rows)} convert (scripts/zoo.sh converts and checks each one)")
    return 0


def one_line(e):
    why = " ".join(str(e).split())
    return why if len(why) <= 300 else why[:300] + " ..."


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="torchvision model names (--list shows them)")
    p.add_argument("--all", action="store_true",
                   help=f"convert the test and demo set ({', '.join(MODELS)})")
    p.add_argument("--list", action="store_true", help="list every known model and whether it "
                   "converts, then exit")
    p.add_argument("--json", action="store_true", help="with --list: as JSON")
    p.add_argument("--module", metavar="FILE.py:FACTORY",
                   help="convert your own nn.Module: FACTORY() returns it (needs --input-shape)")
    p.add_argument("--name", help="the model's name with --module (default: the file's, "
                   "my_net for my_net.py)")
    p.add_argument("--input-shape", metavar="1,C,H,W",
                   help="input shape (default: the torchvision model's own, 299 for "
                   "inception_v3; required with --module)")
    p.add_argument("--out", default="models", help="output folder (default: models)")
    p.add_argument("--weights", choices=["random", "imagenet"], default="random",
                   help="random: seeded, offline (default); imagenet: torchvision's pretrained "
                   "weights (needs the internet)")
    p.add_argument("--seed", type=int, default=0, help="seed for --weights random (default 0)")
    p.add_argument("--state-dict", metavar="FILE", help="load this .pth state_dict into the model")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave models whose two files already exist (those of random weights "
                   "from an older converter are converted again)")
    args = p.parse_args(argv)
    if args.list:
        return list_models(args.json)
    names = MODELS if args.all else [zoo.canonical(m) for m in args.models]
    if args.module:
        if names:
            p.error("--module converts one model: name no others")
        names = [args.name or os.path.splitext(os.path.basename(args.module.rpartition(":")[0]
                                                                or args.module))[0]]
    if not names:
        p.error("name at least one model, or --all, --module or --list")
    if (args.state_dict or args.input_shape) and len(names) != 1:
        p.error("--state-dict and --input-shape apply to exactly one model")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in names:
        path = os.path.join(args.out, f"{name}.safetensors")
        ref = os.path.join(args.out, f"{name}.ref.safetensors")
        if args.skip_existing and os.path.exists(path) and os.path.exists(ref):
            meta = read_metadata(path)
            stale = (meta.get("nsengine.weights", "").startswith("random")
                     and meta.get("nsengine.converter") != CONVERTER_REVISION)
            if not stale:
                print(f"{name}: {path} exists, skipped")
                continue
            print(f"{name}: {path} has random weights from an older converter; converting again")
        try:
            shape = parse_shape(args.input_shape) if args.input_shape else None
            if args.module:
                if not shape:
                    raise UsageError("--module needs --input-shape 1,C,H,W")
                model = load_module(args.module, args.seed)
                prep, classes = None, None
                label = f"random(seed={args.seed})"
                if args.state_dict:
                    model.load_state_dict(torch.load(args.state_dict, map_location="cpu"))
                    label = f"state_dict({os.path.basename(args.state_dict)})"
                elif args.weights == "imagenet":
                    raise UsageError("--weights imagenet applies to torchvision models; "
                                     "give --state-dict for your module's weights")
                else:
                    try:
                        zoo.make_random(model, shape, args.seed)
                    except Exception as e:  # noqa: BLE001 (the user's model on our shape)
                        raise UsageError(f"{name}: the model does not run on an input of shape "
                                         f"{shape}: {one_line(e)}") from e
                source = f"module {os.path.basename(args.module)}"
            else:
                model, dshape, prep, classes, label = build_model(name, args.weights, args.seed,
                                                                  args.state_dict)
                if shape and prep:
                    prep = dict(prep, crop=shape[-1], resize=max(prep["resize"], shape[-1]))
                shape = shape or dshape
                source = f"torchvision {torchvision.__version__} {name}"
        except UsageError as e:
            print(f"convert_torchvision: {e}", file=sys.stderr)
            return 2
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001 (any failure to load becomes one line)
            # No internet for --weights imagenet, a state dict that does not fit the
            # architecture, an unreadable file.
            hint = ""
            if args.weights == "imagenet":
                hint = " (--weights imagenet downloads them: is there internet access?)"
            elif args.state_dict:
                hint = f" (does {args.state_dict} hold a state_dict of the {name} architecture?)"
            print(f"convert_torchvision: {name}: cannot load the weights: {one_line(e)}{hint}",
                  file=sys.stderr)
            return 1
        meta = {"nsengine.source": source, "nsengine.weights": label}
        if classes:
            meta["nsengine.classes"] = json.dumps(classes)
        if prep:
            meta["nsengine.preprocess"] = json.dumps(prep)
        try:
            path, graph = convert(model, name, shape, args.out, meta, args.seed)
        except Unsupported as e:
            print(f"convert_torchvision: {name}: {e}", file=sys.stderr)
            return 2
        size = os.path.getsize(path) / 1e6
        print(f"{name}: {len(graph['nodes'])} nodes, {size:.1f} MB -> {path}")
        if label.startswith("random"):
            real = "--state-dict" if args.module else "--weights imagenet or --state-dict"
            print(f"  ({label} weights: the classes it names mean nothing, though they change "
                  f"with the input; {real} for real ones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
