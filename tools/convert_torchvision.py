#!/usr/bin/python3
"""Convert a torchvision CNN into an nsengine model file.

Traces the model with torch.fx, folds BatchNorm into the preceding convolution, fuses a ReLU or
ReLU6 into the conv/linear/add that feeds only it, drops dropout, and writes

  <out>/<name>.safetensors      graph (metadata nsengine.graph) + weights (state_dict names)
  <out>/<name>.ref.safetensors  a fixed input and PyTorch's output for it (parity tests)

Any op outside the supported set stops the conversion with exit code 2, naming the op and the
module path where it occurs.

Runs on Debian's python3-torch / python3-torchvision: use /usr/bin/python3.
"""

import argparse
import json
import operator
import os
import struct
import sys

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
import torchvision

FORMAT_VERSION = 1
# What the converter writes beyond the file format: 2 = random weights scaled from a random batch
# (scale_random_weights); files of random weights from an older converter are converted anew
# by --skip-existing (their weights can be made again; real ones are never touched).
CONVERTER_REVISION = "2"
MODELS = ["lenet", "alexnet", "mobilenet_v2", "resnet18", "vgg16"]
ALIASES = {"alex_net": "alexnet", "vgg_net": "vgg16", "vgg": "vgg16", "le_net": "lenet",
           "mobile_net": "mobilenet_v2", "mobilenet": "mobilenet_v2", "resnet": "resnet18"}
IMAGENET_PREPROCESS = {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                       "std": [0.229, 0.224, 0.225]}
MNIST_PREPROCESS = {"resize": 28, "crop": 28, "mean": [0.1307], "std": [0.3081]}


class LeNet(nn.Module):
    """LeNet-5 on 1x28x28 inputs, as in the seed project."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Unsupported(Exception):
    pass


def canonical(name):
    return ALIASES.get(name, name)


def build_model(name, weights, seed, state_dict=None):
    """Returns (model in eval mode, input shape, preprocess dict, class names, weights label)."""
    torch.manual_seed(seed)
    if name == "lenet":
        if weights == "imagenet":
            raise SystemExit("lenet has no ImageNet weights; use --weights random or --state-dict")
        model, shape, prep = LeNet(), [1, 1, 28, 28], MNIST_PREPROCESS
        classes = [str(d) for d in range(10)]
    elif name in MODELS:
        ctor = getattr(torchvision.models, name)
        model = ctor(weights="DEFAULT" if weights == "imagenet" else None)
        shape, prep = [1, 3, 224, 224], IMAGENET_PREPROCESS
        classes = list(torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    else:
        raise SystemExit(f"unknown model '{name}'; known: {', '.join(MODELS)} "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    label = "imagenet" if weights == "imagenet" else f"random(seed={seed})"
    if weights == "random" and not state_dict:
        randomize_batchnorm(model, seed)
        scale_random_weights(model.eval(), shape, seed)
    if state_dict:
        model.load_state_dict(torch.load(state_dict, map_location="cpu"))
        label = f"state_dict({os.path.basename(state_dict)})"
    return model.eval(), shape, prep, classes, label


def randomize_batchnorm(model, seed):
    """Fresh BatchNorm layers are identities; random statistics make the folding testable."""
    g = torch.Generator().manual_seed(seed + 7)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.1 * torch.randn(n, generator=g)
            m.running_mean = 0.1 * torch.randn(n, generator=g)
            m.running_var = 0.5 + torch.rand(n, generator=g)


def scale_random_weights(model, shape, seed):
    """Random weights as torchvision initialises them lose the input layer after layer: AlexNet,
    VGG16 and MobileNetV2 gave the same classes and probabilities (to 1e-9) for any image. As a
    data-dependent initialisation does, each convolution, linear and BatchNorm layer is set from
    its statistics on a seeded random batch, in one forward pass (each layer's hook adjusts the
    layer and passes on the output the adjusted layer gives): convolutions and linear layers
    with a bias have each output channel centred and scaled to unit deviation, those without
    only scaled; BatchNorm layers get the batch's mean and variance as running statistics (their
    random scale and shift stay, so the folding is still tested). The network's cost is
    unchanged; its answers now depend on the input."""
    g = torch.Generator().manual_seed(seed + 11)
    x = torch.randn([4] + list(shape[1:]), generator=g)
    done = set()

    def hook(layer, inputs, y):
        if layer in done:
            return None
        done.add(layer)
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(inputs[0].mean(dim=(0, 2, 3)))
            layer.running_var.copy_(inputs[0].var(dim=(0, 2, 3)) + 1e-3)
            return F.batch_norm(inputs[0], layer.running_mean, layer.running_var, layer.weight,
                                layer.bias, False, 0.0, layer.eps)
        dims = (0, 2, 3) if y.dim() == 4 else (0,)
        shape = [1, -1] + [1] * (y.dim() - 2)
        std = y.std(dim=dims).clamp_min(1e-6)
        layer.weight /= std.view([-1] + [1] * (layer.weight.dim() - 1))
        if layer.bias is None:
            return y / std.view(shape)
        mean = y.mean(dim=dims)
        layer.bias -= mean
        layer.bias /= std
        return (y - mean.view(shape)) / std.view(shape)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def pair(v):
    return [int(v[0]), int(v[1])] if isinstance(v, (tuple, list)) else [int(v), int(v)]


class Converter:
    def __init__(self, model):
        self.gm = torch.fx.symbolic_trace(model)
        self.modules = dict(self.gm.named_modules())
        self.nodes = []        # graph nodes, in topological order
        self.by_name = {}      # node name -> node dict
        self.tensors = {}      # weight name -> torch tensor
        self.value = {}        # fx node -> tensor name
        self.aliases = {}      # tensor name -> fx nodes that evaluate to it
        self.folded = set()    # conv nodes that already absorbed a BatchNorm

    # -- helpers ------------------------------------------------------------------------------
    def where(self, n):
        return n.target if n.op == "call_module" else f"{n.name} (in {self.module_path(n)})"

    def module_path(self, n):
        stack = n.meta.get("nn_module_stack")
        return list(stack)[-1] if stack else "<top level>"

    def bind(self, n, tensor):
        self.value[n] = tensor
        self.aliases.setdefault(tensor, []).append(n)

    def inp(self, n, i=0):
        a = n.args[i] if i < len(n.args) else None
        if not isinstance(a, torch.fx.Node):
            raise Unsupported(f"non-tensor argument {a!r} of {n.format_node()} at {self.where(n)}")
        return self.value[a]

    def emit(self, n, op, inputs, attrs=None, params=None, tensors=None):
        name = n.target if n.op == "call_module" else n.name
        if name in self.by_name or name == "input":
            name = n.name
        node = {"name": name, "op": op, "inputs": inputs, "attrs": attrs or {},
                "params": params or []}
        for pname, t in (tensors or {}).items():
            self.tensors[pname] = t.detach().to(torch.float32).contiguous().clone()
        self.nodes.append(node)
        self.by_name[name] = node
        self.bind(n, name)
        return node

    def sole_reader(self, tensor, reader):
        """True if `reader` is the only op that reads `tensor` (through any alias)."""
        for q in self.aliases.get(tensor, []):
            for u in q.users:
                if u is not reader and self.value.get(u) != tensor:
                    return False
        return True

    def fuse_activation(self, n, kind):
        src = self.inp(n)
        node = self.by_name.get(src)
        if (node and node["op"] in ("conv2d", "linear", "add") and
                "activation" not in node["attrs"] and self.sole_reader(src, n)):
            node["attrs"]["activation"] = kind
            self.bind(n, src)
        else:
            self.emit(n, kind, [src])

    # -- ops ----------------------------------------------------------------------------------
    def conv(self, n, m):
        if m.padding_mode != "zeros":
            raise Unsupported(f"Conv2d padding_mode={m.padding_mode} at {n.target}")
        if isinstance(m.padding, str):
            raise Unsupported(f"Conv2d padding='{m.padding}' at {n.target}")
        bias = m.bias if m.bias is not None else torch.zeros(m.out_channels)
        w, b = f"{n.target}.weight", f"{n.target}.bias"
        self.emit(n, "conv2d", [self.inp(n)],
                  {"stride": pair(m.stride), "padding": pair(m.padding),
                   "dilation": pair(m.dilation), "groups": int(m.groups)},
                  [w, b], {w: m.weight, b: bias})

    def batchnorm(self, n, m):
        src = self.inp(n)
        node = self.by_name.get(src)
        if (not node or node["op"] != "conv2d" or src in self.folded or
                "activation" in node["attrs"] or not self.sole_reader(src, n)):
            raise Unsupported(f"BatchNorm2d at {n.target} does not directly follow a conv2d "
                              "that feeds only it")
        if not m.track_running_stats or m.running_mean is None:
            raise Unsupported(f"BatchNorm2d without running statistics at {n.target}")
        scale = (m.weight if m.affine else torch.ones_like(m.running_var)) / torch.sqrt(
            m.running_var + m.eps)
        shift = m.bias if m.affine else torch.zeros_like(m.running_mean)
        w, b = node["params"]
        self.tensors[w] = (self.tensors[w] * scale.reshape(-1, 1, 1, 1)).detach().contiguous()
        self.tensors[b] = ((self.tensors[b] - m.running_mean) * scale + shift).detach()
        self.folded.add(src)
        self.bind(n, src)

    def pool(self, n, m):
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise Unsupported(f"MaxPool2d(return_indices=True) at {n.target}")
            stride = m.stride if m.stride is not None else m.kernel_size
            self.emit(n, "max_pool2d", [self.inp(n)],
                      {"kernel_size": pair(m.kernel_size), "stride": pair(stride),
                       "padding": pair(m.padding), "dilation": pair(m.dilation),
                       "ceil_mode": bool(m.ceil_mode)})
        else:
            if m.divisor_override is not None:
                raise Unsupported(f"AvgPool2d(divisor_override) at {n.target}")
            stride = m.stride if m.stride is not None else m.kernel_size
            self.emit(n, "avg_pool2d", [self.inp(n)],
                      {"kernel_size": pair(m.kernel_size), "stride": pair(stride),
                       "padding": pair(m.padding), "ceil_mode": bool(m.ceil_mode),
                       "count_include_pad": bool(m.count_include_pad)})

    def adaptive(self, n, size):
        size = pair(size)
        if None in size:
            raise Unsupported(f"adaptive_avg_pool2d with a None output size at {self.where(n)}")
        self.emit(n, "adaptive_avg_pool2d", [self.inp(n)], {"output_size": size})

    def linear(self, n, m):
        bias = m.bias if m.bias is not None else torch.zeros(m.out_features)
        w, b = f"{n.target}.weight", f"{n.target}.bias"
        self.emit(n, "linear", [self.inp(n)], {}, [w, b], {w: m.weight, b: bias})

    def flatten(self, n, start=1, end=-1):
        self.emit(n, "flatten", [self.inp(n)], {"start_dim": int(start), "end_dim": int(end)})

    def call_module(self, n):
        m = self.modules[n.target]
        if isinstance(m, nn.Conv2d):
            self.conv(n, m)
        elif isinstance(m, nn.BatchNorm2d):
            self.batchnorm(n, m)
        elif isinstance(m, nn.ReLU):
            self.fuse_activation(n, "relu")
        elif isinstance(m, nn.ReLU6):
            self.fuse_activation(n, "relu6")
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            self.pool(n, m)
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            self.adaptive(n, m.output_size)
        elif isinstance(m, nn.Linear):
            self.linear(n, m)
        elif isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity)):
            self.bind(n, self.inp(n))
        elif isinstance(m, nn.Flatten):
            self.flatten(n, m.start_dim, m.end_dim)
        elif isinstance(m, nn.Softmax):
            self.emit(n, "softmax", [self.inp(n)], {"dim": int(m.dim if m.dim is not None else -1)})
        elif isinstance(m, nn.Sigmoid):
            self.emit(n, "sigmoid", [self.inp(n)])
        else:
            raise Unsupported(f"unsupported op {type(m).__name__} at module {n.target}")

    def call_function(self, n):
        f, kw = n.target, n.kwargs
        name = getattr(f, "__name__", str(f))
        if f in (operator.add, operator.iadd, torch.add) or (n.op == "call_method" and f == "add"):
            if len(n.args) != 2 or not all(isinstance(a, torch.fx.Node) for a in n.args) or kw:
                raise Unsupported(f"add of non-tensors or with alpha at {self.where(n)}")
            self.emit(n, "add", [self.inp(n, 0), self.inp(n, 1)])
        elif f in (F.relu, torch.relu) or (n.op == "call_method" and f == "relu"):
            self.fuse_activation(n, "relu")
        elif f is F.relu6:
            self.fuse_activation(n, "relu6")
        elif f in (torch.sigmoid, F.sigmoid) or (n.op == "call_method" and f == "sigmoid"):
            self.emit(n, "sigmoid", [self.inp(n)])
        elif f is torch.flatten or (n.op == "call_method" and f == "flatten"):
            args = list(n.args[1:])
            start = kw.get("start_dim", args[0] if args else 0)
            end = kw.get("end_dim", args[1] if len(args) > 1 else -1)
            self.flatten(n, start, end)
        elif f is F.adaptive_avg_pool2d:
            self.adaptive(n, kw.get("output_size", n.args[1] if len(n.args) > 1 else None))
        elif f in (F.dropout, F.dropout2d):
            self.bind(n, self.inp(n))
        elif f is torch.cat:
            tensors = n.args[0]
            dim = kw.get("dim", n.args[1] if len(n.args) > 1 else 0)
            if not all(isinstance(a, torch.fx.Node) for a in tensors):
                raise Unsupported(f"cat of non-tensors at {self.where(n)}")
            self.emit(n, "concat", [self.value[a] for a in tensors], {"dim": int(dim)})
        elif f in (F.softmax, torch.softmax) or (n.op == "call_method" and f == "softmax"):
            dim = kw.get("dim", n.args[1] if len(n.args) > 1 else None)
            if dim is None:
                raise Unsupported(f"softmax without dim at {self.where(n)}")
            self.emit(n, "softmax", [self.inp(n)], {"dim": int(dim)})
        else:
            raise Unsupported(f"unsupported op {name} at {self.where(n)}")

    def run(self, input_shape):
        outputs = []
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if self.aliases:
                    raise Unsupported(f"more than one input ({n.name}); nsengine takes one")
                self.bind(n, "input")
            elif n.op == "call_module":
                self.call_module(n)
            elif n.op in ("call_function", "call_method"):
                self.call_function(n)
            elif n.op == "output":
                outs = n.args[0] if isinstance(n.args[0], (tuple, list)) else [n.args[0]]
                outputs = [self.value[a] for a in outs]
            else:
                raise Unsupported(f"unsupported fx node {n.op} {n.target} at {self.where(n)}")
        graph = {"input": {"name": "input", "shape": input_shape}, "nodes": self.nodes,
                 "outputs": outputs}
        return graph, self.tensors


def read_metadata(path):
    """The __metadata__ of a safetensors file ({} where it cannot be read)."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if n > 100_000_000:
                return {}
            return json.loads(f.read(n)).get("__metadata__", {}) or {}
    except (OSError, ValueError, struct.error):
        return {}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        nbytes = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes())
    os.replace(tmp, path)  # never leave a half-written model behind


def convert(model, name, input_shape, out_dir, metadata, seed):
    graph, tensors = Converter(model).run(input_shape)
    meta = {"nsengine.format": str(FORMAT_VERSION), "nsengine.model": name,
            "nsengine.graph": json.dumps(graph, separators=(",", ":"))}
    meta.update(metadata)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.safetensors")
    write_safetensors(path, tensors, meta)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(input_shape, generator=g)
    with torch.no_grad():
        y = model(x)
    write_safetensors(os.path.join(out_dir, f"{name}.ref.safetensors"),
                      {"input": x, "output": y},
                      {"nsengine.model": name, "nsengine.weights": metadata["nsengine.weights"]})
    return path, graph


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help=f"models to convert ({', '.join(MODELS)}; "
                   f"aliases {', '.join(sorted(ALIASES))})")
    p.add_argument("--all", action="store_true", help="convert every known model")
    p.add_argument("--out", default="models", help="output folder (default: models)")
    p.add_argument("--weights", choices=["random", "imagenet"], default="random",
                   help="random: seeded torchvision init, offline (default); imagenet: "
                   "torchvision's pretrained weights (needs the internet)")
    p.add_argument("--seed", type=int, default=0, help="seed for --weights random (default 0)")
    p.add_argument("--state-dict", metavar="FILE", help="load this .pth state_dict into the model")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave models whose two files already exist (those of random weights "
                   "from an older converter are converted again)")
    args = p.parse_args(argv)
    names = MODELS if args.all else [canonical(m) for m in args.models]
    if not names:
        p.error("name at least one model, or --all")
    if args.state_dict and len(names) != 1:
        p.error("--state-dict applies to exactly one model")
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
            model, shape, prep, classes, label = build_model(name, args.weights, args.seed,
                                                             args.state_dict)
        except Exception as e:  # noqa: BLE001 (any failure to load becomes one line)
            # One line, not a traceback: no internet for --weights imagenet, a state dict that
            # does not fit the architecture, an unreadable file.
            why = " ".join(str(e).split())
            if len(why) > 300:
                why = why[:300] + " ..."
            hint = ""
            if args.weights == "imagenet":
                hint = " (--weights imagenet downloads them: is there internet access?)"
            elif args.state_dict:
                hint = f" (does {args.state_dict} hold a state_dict of the {name} architecture?)"
            print(f"convert_torchvision: {name}: cannot load the weights: {why}{hint}",
                  file=sys.stderr)
            return 1
        meta = {"nsengine.source": f"torchvision {torchvision.__version__} {name}",
                "nsengine.converter": CONVERTER_REVISION,
                "nsengine.weights": label, "nsengine.classes": json.dumps(classes),
                "nsengine.preprocess": json.dumps(prep)}
        try:
            path, graph = convert(model, name, shape, args.out, meta, args.seed)
        except Unsupported as e:
            print(f"convert_torchvision: {name}: {e}", file=sys.stderr)
            return 2
        size = os.path.getsize(path) / 1e6
        print(f"{name}: {len(graph['nodes'])} nodes, {size:.1f} MB -> {path}")
        if label.startswith("random"):
            print(f"  ({label} weights: the classes it names mean nothing, though they change "
                  "with the input; --weights imagenet or --state-dict for real ones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
