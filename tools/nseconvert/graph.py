"""The nsengine graph as the importers build it: nodes in topological order, weights, and the
rewrites every importer wants (a ReLU fused into the op that feeds only it, a BatchNorm folded
into the convolution before it, a per-channel scale folded into a convolution or linear layer).
"""

import json
import os
import struct

import torch

FORMAT_VERSION = 1
# What the converter writes beyond the file format: 2 = random weights scaled from a random batch
# (zoo.scale_random_weights); 3 = layers with few values per channel scaled as a whole; 4 = folds
# computed in double and rounded once; 5 = GELU fused into the linear layer that feeds only it, and
# zero-initialised weights (ViT's head, class token) given seeded values; files of random weights
# from an older converter are converted anew by --skip-existing (their weights can be made again;
# real ones are never touched).
CONVERTER_REVISION = "5"

# Ops whose output an activation can be fused into (their "activation" attribute).
FUSES_ACTIVATION = ("conv2d", "linear", "add", "batch_norm")


class Unsupported(Exception):
    """An op or a use of one the converter cannot express; the message names where."""


class Graph:
    def __init__(self):
        self.nodes = []      # node dicts in topological order
        self.by_name = {}    # node name -> node dict
        self.tensors = {}    # weight name -> float32 torch tensor
        self.readers = {}    # tensor name -> number of ops that read it (graph outputs count)

    def unique(self, name):
        base, i = name, 1
        while name in self.by_name or name == "input":
            i += 1
            name = f"{base}_{i}"
        return name

    def add(self, name, op, inputs, attrs=None, params=None):
        """Appends a node reading `inputs` (tensor names); params maps weight names to tensors
        (in the op's order). Returns the node's (unique) name."""
        name = self.unique(name)
        node = {"name": name, "op": op, "inputs": list(inputs), "attrs": dict(attrs or {}),
                "params": []}
        for pname, t in (params or {}).items():
            pname = self.weight_name(pname)
            # (no copy where it is already float32 and contiguous: folding replaces a weight,
            # never writes into it)
            self.tensors[pname] = t.detach().to(torch.float32).contiguous()
            node["params"].append(pname)
        for i in inputs:
            self.readers[i] = self.readers.get(i, 0) + 1
        self.nodes.append(node)
        self.by_name[name] = node
        return name

    def weight_name(self, name):
        base, i = name, 1
        while name in self.tensors:
            i += 1
            name = f"{base}_{i}"
        return name

    def producer(self, tensor):
        return self.by_name.get(tensor)

    def fusable(self, tensor, sole, ops=FUSES_ACTIVATION):
        """The node making `tensor` if it is one of `ops`, has no activation yet and nothing but
        the caller reads it (so rewriting it changes no other reader): `sole` is the importer's
        word that no later op reads it, and no op emitted so far may have."""
        node = self.by_name.get(tensor)
        if (sole and node and node["op"] in ops and "activation" not in node["attrs"]
                and self.readers.get(tensor, 0) == 0):
            return node
        return None

    def activation(self, name, kind, src, sole):
        """relu / relu6 fused into the producer where it can be, else a node of its own."""
        node = self.fusable(src, sole)
        if node is not None:
            node["attrs"]["activation"] = kind
            return src
        return self.add(name, kind, [src])

    def channel_affine(self, name, src, scale, shift, sole):
        """y = x * scale[c] + shift[c] over channel axis 1: folded into the convolution or linear
        layer that makes x when nothing else reads it (a BatchNorm after a conv, a ConvNeXt layer
        scale), else a batch_norm node."""
        node = self.fusable(src, sole, ("conv2d", "linear"))
        if node is not None:
            # In double, rounded once: each folded weight is the nearest float to the exact
            # product (folding in float32 added a rounding per weight and fold).
            w, b = node["params"]
            shape = [-1] + [1] * (self.tensors[w].dim() - 1)
            s64 = scale.to(torch.float64)
            self.tensors[w] = (self.tensors[w].to(torch.float64) * s64.reshape(shape)).to(
                torch.float32).contiguous()
            self.tensors[b] = (self.tensors[b].to(torch.float64) * s64 +
                               shift.to(torch.float64)).to(torch.float32).contiguous()
            return src
        return self.add(name, "batch_norm", [src], {},
                        {f"{name}.scale": scale, f"{name}.shift": shift})

    def to_json(self, input_shape, outputs):
        return {"input": {"name": "input", "shape": list(input_shape)}, "nodes": self.nodes,
                "outputs": list(outputs)}


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


def write_model(out_dir, name, graph_json, tensors, metadata, ref_input, ref_output,
                exact_output=None):
    """<out_dir>/<name>.safetensors and <name>.ref.safetensors (the input, the output where there
    is one, and the output computed in float64 where there is one); returns the model's path."""
    meta = {"nsengine.format": str(FORMAT_VERSION), "nsengine.model": name,
            "nsengine.converter": CONVERTER_REVISION,
            "nsengine.graph": json.dumps(graph_json, separators=(",", ":"))}
    meta.update(metadata)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.safetensors")
    write_safetensors(path, tensors, meta)
    ref = {"input": ref_input}
    if ref_output is not None:
        ref["output"] = ref_output
    if exact_output is not None:
        ref["output_f64"] = exact_output
    write_safetensors(os.path.join(out_dir, f"{name}.ref.safetensors"), ref,
                      {"nsengine.model": name,
                       "nsengine.weights": metadata.get("nsengine.weights", "")})
    return path
