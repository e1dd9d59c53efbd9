"""An ONNX model (opsets 11-17) to an nsengine graph.

Initializers are the weights; every node whose inputs are all constant (a shape computation:
Shape, Gather, Concat, Unsqueeze, Cast, ...) is evaluated here and its result used as a
constant; ONNX's shape inference, run with the input's shape fixed, gives each Reshape,
Flatten, Squeeze and Unsqueeze its static output shape. Conv + BatchNormalization is folded,
Relu and Clip(0, 6) fused, the exported form of exact GELU (Div by sqrt 2, Erf, Add 1, Mul by
x, Mul by 0.5) recognised as one op. An op outside the set stops the import naming the node and
its op type.
"""

import math
import os
import tempfile

import numpy as np
import torch

from .graph import Graph, Unsupported
from .onnx_fold import ConstantFolding, _attrs
from .onnx_patterns import Patterns

OPSETS = range(11, 18)


def _pair(v):
    return [int(v[0]), int(v[1])]


def _pad_counted(a):
    """Whether an AveragePool with attributes `a`, after a zero Pad, averages that padding as
    values: it counts its own (count_include_pad), or has none (torch exports avg_pool2d's
    padding, counted by default, as a Pad before a pool without pads: inception_v3)."""
    return bool(a.get("count_include_pad", 0)) or not any(a.get("pads", [0, 0, 0, 0]))


class OnnxImporter(ConstantFolding, Patterns):
    def __init__(self, model, input_shape=None):
        import onnx
        import onnx.numpy_helper
        import onnx.shape_inference
        self.onnx = onnx
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                    default=0)
        if opset not in OPSETS:
            raise Unsupported(f"opset {opset}: nsengine imports opsets 11 to 17")
        graph = model.graph
        self.consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise Unsupported(f"{len(inputs)} graph inputs ({', '.join(i.name for i in inputs)}); "
                              "nsengine takes one")
        self.input_name = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        shape = []
        for k, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            elif k == 0:
                shape.append(1)  # a symbolic batch: nsengine runs batch 1
            elif input_shape is None:
                raise Unsupported(f"input '{self.input_name}' has a dynamic dimension {k} "
                                  f"('{d.dim_param or '?'}'): give --input-shape")
            else:
                shape.append(None)
        if input_shape is not None:
            if len(input_shape) != len(dims) or any(
                    s is not None and s != i for s, i in zip(shape[1:], input_shape[1:])):
                raise Unsupported(f"--input-shape {input_shape} does not fit input "
                                  f"'{self.input_name}' of shape {shape}")
            shape = list(input_shape)
        if shape and shape[0] != 1:
            raise Unsupported(f"input batch {shape[0]}: nsengine models take batch 1")
        self.input_shape = shape
        # Shape inference with the input's shape fixed.
        fixed = onnx.ModelProto()
        fixed.CopyFrom(model)
        d = fixed.graph.input[[i.name for i in fixed.graph.input].index(self.input_name)]
        for k, v in enumerate(shape):
            d.type.tensor_type.shape.dim[k].Clear()
            d.type.tensor_type.shape.dim[k].dim_value = v
        # Shape inference with the input's shape fixed, then the constant computations folded
        # into initializers, and again while folding finds more (a Reshape whose target shape
        # was computed from Shape nodes gets a static output shape in the next round).
        for _ in range(len(model.graph.node) + 1):
            try:
                inferred = onnx.shape_inference.infer_shapes(fixed, data_prop=True)
            except Exception as e:  # noqa: BLE001
                raise Unsupported(f"ONNX shape inference failed: "
                                  f"{' '.join(str(e).split())[:200]}") from e
            self.shapes = {self.input_name: shape}
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
                dims = vi.type.tensor_type.shape.dim
                if vi.type.tensor_type.HasField("shape") and all(x.HasField("dim_value")
                                                                 for x in dims):
                    self.shapes[vi.name] = [int(x.dim_value) for x in dims]
            folded = [n for n in fixed.graph.node if self.try_fold(n)]
            if not folded:
                break
            for n in folded:
                fixed.graph.node.remove(n)
                for o in n.output:
                    if o in self.consts:
                        fixed.graph.initializer.append(
                            onnx.numpy_helper.from_array(np.asarray(self.consts[o]), o))
        graph = fixed.graph
        self.graph = graph
        self.g = Graph()
        self.env = {self.input_name: "input"}  # ONNX value -> nsengine tensor name
        # ONNX value -> perm where the value is env[value].permute(perm): Transpose makes views
        # and only ops that cannot take one materialise it (tensor()), so a channels-last block
        # (Transpose, LayerNormalization, MatMul, GELU, MatMul, Transpose) runs on the NCHW map.
        self.perm = {}
        self.plain = {}  # ONNX value -> its materialised permute node
        self.pad_of = {}  # ONNX value -> (pad_h, pad_w) of a zero Pad a conv or pool absorbs
        self.users = {}
        for n in graph.node:
            for i in n.input:
                self.users.setdefault(i, []).append(n)
        for o in graph.output:
            self.users.setdefault(o.name, []).append(None)
        self.skip = set()  # nodes consumed by a pattern
        self.find_attention_blocks()
        self.find_gelus()

    # -- helpers --------------------------------------------------------------------------------
    def where(self, n):
        return f"node '{n.name or n.output[0]}' ({n.op_type})"

    def tensor(self, n, i=0):
        """Input i as an nsengine tensor in its own order (a permute node where it is a view)."""
        return self.tensor_of(self.value(n, i))

    def tensor_of(self, v):
        """ONNX value v as an nsengine tensor in its own order."""
        perm = self.perm.get(v)
        if perm is None:
            return self.env[v]
        if v not in self.plain:
            self.plain[v] = self.g.add(f"{v}.permute", "permute", [self.env[v]], {"perm": perm})
        return self.plain[v]

    def value(self, n, i=0):
        v = n.input[i]
        if v not in self.env:
            raise Unsupported(f"{self.where(n)}: input {i} ('{v}') is not a tensor the graph "
                              "computes")
        return v

    def view_out(self, n, tensor, perm):
        """Output 0 is `tensor` seen through `perm` (None: as it is)."""
        self.env[n.output[0]] = tensor
        if perm is not None:
            self.perm[n.output[0]] = perm

    def channel_view(self, n, i=0):
        """(tensor, perm) where input i is a channels-last view of an NCHW map (its last axis
        is axis 1 of the tensor), else None."""
        v = self.value(n, i)
        perm = self.perm.get(v)
        if perm is not None and len(perm) == 4 and perm[-1] == 1:
            return self.env[v], perm
        return None

    def const(self, n, i, what="input"):
        if i >= len(n.input) or n.input[i] == "":
            return None
        v = n.input[i]
        if v not in self.consts:
            raise Unsupported(f"{self.where(n)}: {what} {i} must be constant")
        return self.consts[v]

    def shape_of(self, n, name=None):
        name = name or n.output[0]
        if name not in self.shapes:
            raise Unsupported(f"{self.where(n)}: the shape of '{name}' is not static")
        return self.shapes[name]

    def sole(self, value, reader):
        return [u for u in self.users.get(value, []) if u is not reader] == []

    def out(self, n, tensor):
        self.env[n.output[0]] = tensor

    @staticmethod
    def torch_of(a):
        """float32 (a writable copy); float64 arrays stay float64 until the graph rounds them."""
        a = np.asarray(a)
        return torch.from_numpy(np.array(a, dtype=np.float64 if a.dtype == np.float64
                                         else np.float32))

    # -- ops ------------------------------------------------------------------------------------
    def conv(self, n, a):
        w = self.const(n, 1, "weight")
        if w.ndim != 4:
            raise Unsupported(f"{self.where(n)}: only 2-D convolutions")
        b = self.const(n, 2, "bias")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        k = list(w.shape[2:])
        dil = list(a.get("dilations", [1, 1]))
        stride = list(a.get("strides", [1, 1]))
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if stride != [1, 1] or any((dil[i] * (k[i] - 1)) % 2 for i in range(2)):
                raise Unsupported(f"{self.where(n)}: auto_pad {auto} that pads unevenly")
            pads = [dil[0] * (k[0] - 1) // 2, dil[1] * (k[1] - 1) // 2] * 2
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        pads = self.extra_pad(n, pads)
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise Unsupported(f"{self.where(n)}: asymmetric padding {pads}")
        bias = b if b is not None else np.zeros(w.shape[0], np.float32)
        label = n.name or n.output[0]
        self.out(n, self.g.add(label, "conv2d", [self.tensor(n)],
                               {"stride": _pair(stride), "padding": _pair(pads[:2]),
                                "dilation": _pair(dil), "groups": int(a.get("group", 1))},
                               {f"{label}.weight": self.torch_of(w),
                                f"{label}.bias": self.torch_of(bias)}))

    def batchnorm(self, n, a):
        gamma, beta, mean, var = (self.const(n, i, "statistic") for i in range(1, 5))
        f64 = [np.asarray(v, np.float64) for v in (gamma, beta, mean, var)]
        scale = f64[0] / np.sqrt(f64[3] + a.get("epsilon", 1e-5))
        shift = f64[1] - f64[2] * scale
        src = self.tensor(n)
        self.out(n, self.g.channel_affine(n.name or n.output[0], src, self.torch_of(scale),
                                          self.torch_of(shift), self.sole(n.input[0], n)))

    def activation(self, n, kind):
        self.out(n, self.g.activation(n.name or n.output[0], kind, self.tensor(n),
                                      self.sole(n.input[0], n)))

    def binary(self, n, op):
        a, b = n.input
        label = n.name or n.output[0]
        ta, tb = a in self.env, b in self.env
        if ta and tb:
            pa, pb = self.perm.get(a), self.perm.get(b)
            if pa is not None and pa == pb and self.shapes.get(a) == self.shapes.get(b):
                self.view_out(n, self.g.add(label, op, [self.env[a], self.env[b]]), pa)
            else:
                self.out(n, self.g.add(label, op, [self.tensor(n, 0), self.tensor(n, 1)]))
            return
        if op in ("sub", "div") and tb:
            raise Unsupported(f"{self.where(n)}: a constant {op} a tensor")
        x = a if ta else b
        c = np.asarray(self.consts[b if ta else a], dtype=np.float32)
        if op == "sub":
            op, c = "add", -c
        if op == "div":
            op, c = "mul", 1.0 / c
        cv = self.channel_view(n, 0 if ta else 1)
        if cv is not None and c.size > 1 and c.shape[-1] == c.size:
            # A vector along the last axis of a channels-last view: one value per channel.
            src, perm = cv
            flat = c.reshape(-1)
            scale = flat if op == "mul" else np.ones_like(flat)
            shift = np.zeros_like(flat) if op == "mul" else flat
            self.view_out(n, self.g.channel_affine(label, src, self.torch_of(scale),
                                                   self.torch_of(shift), self.sole(x, n)), perm)
            return
        shape = self.shapes.get(x)
        if (shape and len(shape) == 4 and c.ndim == 3 and c.shape[1:] == (1, 1)
                and c.shape[0] == shape[1]):
            flat = c.reshape(-1)
            scale = flat if op == "mul" else np.ones_like(flat)
            shift = np.zeros_like(flat) if op == "mul" else flat
            self.out(n, self.g.channel_affine(label, self.tensor(n, 0 if ta else 1),
                                              self.torch_of(scale), self.torch_of(shift),
                                              self.sole(x, n)))
            return
        self.out(n, self.g.add(label, op, [self.tensor(n, 0 if ta else 1)], {},
                               {f"{label}.constant": self.torch_of(c)}))

    def matmul(self, n, a):
        """MatMul by a constant [in, out] (with the Add of a bias that follows folded in): a
        linear layer on [N, in]."""
        w = self.const(n, 1, "weight")
        cv = self.channel_view(n)
        rank = len(self.shapes.get(n.input[0], []))
        v = n.input[0]
        # Over the last axis of [N, ..., in] (tokens), or of a view that keeps it last.
        rows = rank >= 2 and (v not in self.perm or self.perm[v][-1] == rank - 1)
        if w.ndim != 2 or (rank != 2 and cv is None and not rows):
            raise Unsupported(f"{self.where(n)}: MatMul other than [N, ..., in] x constant "
                              "[in, out] or the channels of a channels-last map")
        label = n.name or n.output[0]
        bias = np.zeros(w.shape[1], np.float32)
        users = self.users.get(n.output[0], [])
        out_node = n
        if len(users) == 1 and users[0] is not None and users[0].op_type == "Add":
            add = users[0]
            other = [i for i in add.input if i != n.output[0]]
            if len(other) == 1 and other[0] in self.consts and \
                    np.asarray(self.consts[other[0]]).size == w.shape[1]:
                bias = np.asarray(self.consts[other[0]], np.float32).reshape(-1)
                self.skip.add(id(add))
                out_node = add
        if cv is not None:
            # On the channels of a channels-last map: a 1x1 convolution of the NCHW map.
            src, perm = cv
            name = self.g.add(label, "conv2d", [src],
                              {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1],
                               "groups": 1},
                              {f"{label}.weight": self.torch_of(w.T).reshape(w.shape[1],
                                                                             w.shape[0], 1, 1),
                               f"{label}.bias": self.torch_of(bias)})
            for o in {n.output[0], out_node.output[0]}:
                self.env[o] = name
                self.perm[o] = perm
            return
        perm = self.perm.get(v) if rows and rank > 2 else None
        src = self.env[v] if perm is not None else self.tensor(n)
        name = self.g.add(label, "linear", [src], {},
                          {f"{label}.weight": self.torch_of(w.T), f"{label}.bias":
                           self.torch_of(bias)})
        for o in {n.output[0], out_node.output[0]}:
            self.env[o] = name
            if perm is not None:
                self.perm[o] = perm

    def concat(self, n, a, label):
        """Concat of tensors, at most one of them a constant of one image's shape (a
        transformer's class token, expanded to the batch)."""
        axis = int(a["axis"])
        constants = [i for i, v in enumerate(n.input) if v in self.consts]
        attrs, params = {"dim": axis}, {}
        if constants:
            c = np.asarray(self.consts[n.input[constants[0]]], np.float32)
            rank = len(self.shapes.get(n.output[0], []))
            if len(constants) > 1 or c.ndim != rank or c.shape[0] != 1 or axis % rank == 0:
                raise Unsupported(f"{self.where(n)}: Concat with other than one constant of one "
                                  "image's shape")
            attrs["constant_at"] = constants[0]
            params[f"{label}.constant"] = self.torch_of(c)
        names = [self.tensor(n, i) for i in range(len(n.input)) if i not in constants]
        self.out(n, self.g.add(label, "concat", names, attrs, params))

    def gemm(self, n, a):
        if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            raise Unsupported(f"{self.where(n)}: Gemm with alpha, beta or transA")
        w = self.const(n, 1, "weight")
        w = w if a.get("transB", 0) else w.T
        b = self.const(n, 2, "bias")
        label = n.name or n.output[0]
        bias = np.broadcast_to(b, (w.shape[0],)) if b is not None else np.zeros(w.shape[0])
        self.out(n, self.g.add(label, "linear", [self.tensor(n)], {},
                               {f"{label}.weight": self.torch_of(w),
                                f"{label}.bias": self.torch_of(bias)}))

    def pool(self, n, a, kind):
        k = list(a["kernel_shape"])
        if len(k) != 2:
            raise Unsupported(f"{self.where(n)}: only 2-D pooling")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto = a.get("auto_pad", b"NOTSET")
        if (auto.decode() if isinstance(auto, bytes) else auto) != "NOTSET":
            raise Unsupported(f"{self.where(n)}: auto_pad")
        pads = self.extra_pad(n, pads)
        if self.pad_of.get(n.input[0]):
            a = dict(a, count_include_pad=1)  # the Pad's zeros are counted
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise Unsupported(f"{self.where(n)}: asymmetric padding {pads}")
        attrs = {"kernel_size": _pair(k), "stride": _pair(a.get("strides", [1, 1])),
                 "padding": _pair(pads[:2]), "ceil_mode": bool(a.get("ceil_mode", 0))}
        if kind == "max_pool2d":
            attrs["dilation"] = _pair(a.get("dilations", [1, 1]))
        else:
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
        self.out(n, self.g.add(n.name or n.output[0], kind, [self.tensor(n)], attrs))

    def pad(self, n, a):
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = a.get("pads", None)
        if pads is None:
            pads = self.const(n, 1, "pads")
        pads = [int(p) for p in pads]
        value = self.const(n, 2, "value") if len(n.input) > 2 and n.input[2] else None
        value = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
        v = self.value(n)
        if not any(pads):
            return self.view_out(n, self.env[v], self.perm.get(v))
        r = len(pads) // 2
        users = self.users.get(n.output[0], [])
        absorbable = (mode == "constant" and value == 0.0 and r == 4 and
                      not any(pads[:2] + pads[4:6]) and pads[2] == pads[6] and
                      pads[3] == pads[7] and users and
                      all(u is not None and (u.op_type == "Conv" or (
                          u.op_type == "AveragePool" and _pad_counted(_attrs(u))))
                          for u in users))
        if not absorbable:
            raise Unsupported(f"{self.where(n)}: Pad other than zeros on H and W before a Conv "
                              "or AveragePool")
        self.out(n, self.tensor(n))
        self.pad_of[n.output[0]] = (pads[2], pads[3])

    def extra_pad(self, n, pads):
        """The node's pads [t, l, b, r] plus those of a zero Pad before it."""
        ph, pw = self.pad_of.get(n.input[0], (0, 0))
        return [pads[0] + ph, pads[1] + pw, pads[2] + ph, pads[3] + pw]

    def reshape_to(self, n):
        self.out(n, self.g.add(n.name or n.output[0], "reshape", [self.tensor(n)],
                               {"shape": self.shape_of(n)}))

    def node(self, n):
        t, a = n.op_type, _attrs(n)
        label = n.name or n.output[0]
        if id(n) in self.attention_at:
            return self.emit_attention(n, self.attention_at[id(n)])
        if id(n) in self.gelu_at:
            return self.emit_gelu(n, *self.gelu_at[id(n)])
        if t in ("Relu",):
            self.activation(n, "relu")
        elif t == "Clip":
            lo = a.get("min", None)
            hi = a.get("max", None)
            if len(n.input) > 1 and n.input[1]:
                lo = float(np.asarray(self.const(n, 1)).reshape(-1)[0])
            if len(n.input) > 2 and n.input[2]:
                hi = float(np.asarray(self.const(n, 2)).reshape(-1)[0])
            if lo == 0 and hi == 6:
                self.activation(n, "relu6")
            elif lo == 0 and (hi is None or math.isinf(hi)):
                self.activation(n, "relu")
            else:
                raise Unsupported(f"{self.where(n)}: Clip({lo}, {hi}) (nsengine has 0-6 and 0-inf)")
        elif t == "Sigmoid" and (mul := self.silu_product(n)) is not None:
            # x * sigmoid(x), as SiLU exports: one op, one pass over the tensor.
            v = self.value(n)
            self.view_out(mul, self.g.add(mul.name or mul.output[0], "silu", [self.env[v]]),
                          self.perm.get(v))
            self.skip.add(id(mul))
        elif t in ("Sigmoid", "HardSwish", "Tanh"):
            v = self.value(n)
            self.view_out(n, self.g.add(label, t.lower(), [self.env[v]]), self.perm.get(v))
        elif t == "HardSigmoid":
            if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
                raise Unsupported(f"{self.where(n)}: HardSigmoid other than x/6 + 1/2")
            self.out(n, self.g.add(label, "hardsigmoid", [self.tensor(n)]))
        elif t == "Erf":  # (find_gelus took every Erf of the GELU pattern)
            raise Unsupported(f"{self.where(n)}: Erf outside the GELU pattern")
        elif t == "Conv":
            self.conv(n, a)
        elif t == "BatchNormalization":
            self.batchnorm(n, a)
        elif t in ("Add", "Mul", "Sub", "Div"):
            self.binary(n, t.lower())
        elif t == "Gemm":
            self.gemm(n, a)
        elif t == "MatMul":
            self.matmul(n, a)
        elif t == "MaxPool":
            if len(n.output) > 1 and n.output[1]:
                raise Unsupported(f"{self.where(n)}: MaxPool with indices")
            self.pool(n, a, "max_pool2d")
        elif t == "AveragePool":
            self.pool(n, a, "avg_pool2d")
        elif t == "GlobalAveragePool":
            self.out(n, self.g.add(label, "adaptive_avg_pool2d", [self.tensor(n)],
                                   {"output_size": [1, 1]}))
        elif t == "ReduceMean" and self.layer_norm_pattern(n):
            x, eps, gamma, beta, nodes, last = self.layer_norm_pattern(n)
            params = {}
            if gamma is not None:
                params = {f"{label}.weight": self.torch_of(gamma.reshape(-1)),
                          f"{label}.bias": self.torch_of(
                              (beta if beta is not None else np.zeros_like(gamma)).reshape(-1))}
            perm = self.perm.get(x)
            dim = perm[-1] if perm is not None else -1
            name = self.g.add(label, "layer_norm", [self.env[x]], {"dim": int(dim), "eps": eps},
                              params)
            for m in nodes:
                self.skip.add(id(m))
            self.env[last.output[0]] = name
            if perm is not None:
                self.perm[last.output[0]] = perm
        elif t == "ReduceMean":
            axes = a.get("axes", None)
            if axes is None and len(n.input) > 1:
                axes = list(self.const(n, 1))
            rank = len(self.shapes.get(n.input[0], []))
            if rank != 4 or sorted(int(x) % 4 for x in axes or []) != [2, 3]:
                raise Unsupported(f"{self.where(n)}: ReduceMean other than over H, W")
            name = self.g.add(label, "adaptive_avg_pool2d", [self.tensor(n)],
                              {"output_size": [1, 1]})
            if not a.get("keepdims", 1):
                name = self.g.add(f"{label}.flatten", "flatten", [name], {"start_dim": 1})
            self.out(n, name)
        elif t == "Concat":
            self.concat(n, a, label)
        elif t == "Flatten":
            axis = int(a.get("axis", 1))
            if axis != 1:
                self.reshape_to(n)
            else:
                self.out(n, self.g.add(label, "flatten", [self.tensor(n)], {"start_dim": 1}))
        elif t in ("Reshape", "Squeeze", "Unsqueeze"):
            self.reshape_to(n)
        elif t == "Transpose":
            v = self.value(n)
            outer = [int(p) for p in a["perm"]]
            inner = self.perm.get(v)
            r = outer if inner is None else [inner[p] for p in outer]
            self.view_out(n, self.env[v], None if r == list(range(len(r))) else r)
        elif t == "Pad":
            self.pad(n, a)
        elif t == "Softmax":
            self.out(n, self.g.add(label, "softmax", [self.tensor(n)],
                                   {"dim": int(a.get("axis", -1))}))
        elif t in ("Identity", "Dropout"):
            v = self.value(n)
            self.view_out(n, self.env[v], self.perm.get(v))
        elif t == "Split":
            axis = int(a.get("axis", 0))
            src = self.tensor(n)
            at = 0
            for o in n.output:
                size = self.shapes[o][axis] if o in self.shapes else None
                if size is None:
                    raise Unsupported(f"{self.where(n)}: the shape of '{o}' is not static")
                self.env[o] = self.g.add(f"{label}.{o}", "slice", [src],
                                         {"dim": axis, "start": at, "end": at + size})
                at += size
        elif t == "Slice":
            starts, ends = self.const(n, 1), self.const(n, 2)
            axes = self.const(n, 3)
            steps = self.const(n, 4)
            if len(starts) != 1:
                raise Unsupported(f"{self.where(n)}: Slice along more than one axis")
            step = int(steps[0]) if steps is not None else 1
            if step < 1:
                raise Unsupported(f"{self.where(n)}: Slice with a step below 1")
            end = int(ends[0])
            self.out(n, self.g.add(label, "slice", [self.tensor(n)],
                                   {"dim": int(axes[0]) if axes is not None else 0,
                                    "start": int(starts[0]), "end": min(end, 2**62),
                                    "step": step}))
        elif t == "Gather":
            # One index along an axis (a transformer's class token: x[:, 0]): a slice, and the
            # axis dropped where the index is a scalar.
            idx = np.asarray(self.const(n, 1, "indices"))
            axis = int(a.get("axis", 0))
            rank = len(self.shapes.get(n.input[0], []))
            if idx.size != 1 or rank == 0 or axis % rank == 0:
                raise Unsupported(f"{self.where(n)}: Gather other than one index along a "
                                  "non-batch axis")
            dim = axis % rank
            i = int(idx.reshape(-1)[0]) % self.shapes[n.input[0]][dim]
            name = self.g.add(label, "slice", [self.tensor(n)],
                              {"dim": dim, "start": i, "end": i + 1, "step": 1})
            if idx.ndim == 0:
                name = self.g.add(f"{label}.squeeze", "reshape", [name],
                                  {"shape": self.shape_of(n)})
            self.out(n, name)
        elif t == "LayerNormalization":
            axis = int(a.get("axis", -1))
            rank = len(self.shapes.get(n.input[0], []))
            if axis % max(rank, 1) != rank - 1:
                raise Unsupported(f"{self.where(n)}: LayerNormalization over more than the last "
                                  "axis")
            w, b = self.const(n, 1, "scale"), self.const(n, 2, "bias")
            params = {f"{label}.weight": self.torch_of(w),
                      f"{label}.bias": self.torch_of(b if b is not None else np.zeros_like(w))}
            v = self.value(n)
            perm = self.perm.get(v)
            dim = perm[-1] if perm is not None else -1  # the view's last axis
            self.view_out(n, self.g.add(label, "layer_norm", [self.env[v]],
                                        {"dim": int(dim), "eps": float(a.get("epsilon", 1e-5))},
                                        params), perm)
        else:
            raise Unsupported(f"unsupported op {t} at {self.where(n)}")

    def run(self):
        for n in self.graph.node:
            if id(n) in self.skip:
                continue
            if self.try_fold(n):
                continue
            self.node(n)
        outputs = []
        for o in self.graph.output:
            if o.name not in self.env:
                raise Unsupported(f"graph output '{o.name}' is not computed from the input")
            if o.name in self.perm:
                outputs.append(self.g.add(f"{o.name}.permute", "permute", [self.env[o.name]],
                                          {"perm": self.perm[o.name]}))
            else:
                outputs.append(self.env[o.name])
        return self.g.to_json(self.input_shape, outputs), self.g.tensors


def load_onnx(path):
    """The ONNX model in a file; Unsupported with one line when it cannot be read."""
    import onnx
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file {path}")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 (truncated, not ONNX, inconsistent)
        raise Unsupported(f"{path} is not a valid ONNX model: "
                          f"{' '.join(str(e).split())[:200]}") from e
    return model


def import_torch_via_onnx(model, x, why):
    """A PyTorch model torch.fx could not trace, exported to ONNX (opset 17) and imported."""
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                              output_names=["output"], do_constant_folding=True)
        except Exception as e:  # noqa: BLE001
            raise Unsupported(f"{why}; the ONNX export failed too: "
                              f"{' '.join(str(e).split())[:200]}") from e
        return OnnxImporter(onnx.load(path), list(x.shape)).run()
