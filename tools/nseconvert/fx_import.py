"""A PyTorch nn.Module to an nsengine graph through torch.fx.

The module is traced symbolically and run once on the reference input through an interpreter
that records every node's value: what is not a tensor (sizes, their arithmetic) becomes a
constant, and every reshape takes the shape the run produced. Permutations are kept as views of
the tensor they permute until an op needs the values in another order: ConvNeXt's channels-last
blocks (permute, layer norm over the last axis, linear, GELU, linear, permute back) become a
layer norm over the channels and two 1x1 convolutions of the NCHW map, with no copy.
"""

import dis
import inspect
import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from .fx_transformers import TransformerImports, is_leaf
from .graph import Graph, Unsupported

try:
    import torchvision.ops
    import torchvision.ops.misc
    _STOCHASTIC_DEPTH = (torchvision.ops.stochastic_depth,)
    _DROP_MODULES = (torchvision.ops.StochasticDepth,)
    _PERMUTE_MODULES = (torchvision.ops.misc.Permute,)
except (ImportError, AttributeError):  # pragma: no cover (torchvision is a dependency)
    _STOCHASTIC_DEPTH, _DROP_MODULES, _PERMUTE_MODULES = (), (), ()


def _proxy_iter(self):
    """torch.fx's Proxy.__iter__ finds the caller's UNPACK_SEQUENCE by indexing instructions
    with f_lasti // 2, which Python 3.11's inline caches break ("Proxy object cannot be
    iterated" on `a, b = x.chunk(2)`); this finds it by offset."""
    frame = inspect.currentframe().f_back
    for inst in dis.get_instructions(frame.f_code):
        if inst.offset == frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
            break
    return self.tracer.iter(self)


torch.fx.proxy.Proxy.__iter__ = _proxy_iter


def _meta(v):
    """A value as the importer keeps it: tensors as shape-only meta tensors (the largest
    networks' activations, all kept, took gigabytes), parameters and python values as they are."""
    if isinstance(v, torch.Tensor) and not isinstance(v, nn.Parameter):
        return torch.empty(v.shape, device="meta")
    if isinstance(v, (tuple, list)) and any(isinstance(x, torch.Tensor) for x in v):
        return type(v)(_meta(x) for x in v)
    return v


class _Recorder(torch.fx.Interpreter):
    """Runs the traced module and keeps every node's value (tensors as their shapes)."""

    def __init__(self, gm):
        super().__init__(gm)
        self.values = {}

    def run_node(self, n):
        v = super().run_node(n)
        self.values[n] = v if n.op == "get_attr" else _meta(v)
        return v


class View:
    """An fx tensor value: nsengine tensor `name` seen through `perm` (None: as it is), i.e. the
    fx value equals name.permute(perm)."""

    def __init__(self, name, perm=None):
        self.name, self.perm = name, perm


class Parts:
    """The tuple chunk/split returns: `bounds` along `dim` of the viewed tensor."""

    def __init__(self, view, dim, bounds):
        self.view, self.dim, self.bounds = view, dim, bounds


class Items:
    """A tuple a module returned (nn.MultiheadAttention's (output, weights)): its elements as
    importer values (a View, or None)."""

    def __init__(self, items):
        self.items = items


def _pair(v):
    return [int(v[0]), int(v[1])] if isinstance(v, (tuple, list)) else [int(v), int(v)]


def _compose(outer, inner):
    """The perm of (x.permute(inner)).permute(outer), relative to x."""
    if inner is None:
        return None if outer == list(range(len(outer))) else list(outer)
    r = [inner[p] for p in outer]
    return None if r == list(range(len(r))) else r


_UNARY_MODULES = {nn.Sigmoid: "sigmoid", nn.SiLU: "silu", nn.Hardswish: "hardswish",
                  nn.Hardsigmoid: "hardsigmoid"}
_UNARY_FUNCTIONS = {torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.silu: "silu", torch.tanh: "tanh",
                    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", F.gelu: "gelu"}
_UNARY_METHODS = {"sigmoid": "sigmoid"}
_BINARY = {operator.add: "add", operator.iadd: "add", torch.add: "add", operator.mul: "mul",
           operator.imul: "mul", torch.mul: "mul", operator.sub: "sub", operator.isub: "sub",
           torch.sub: "sub", operator.truediv: "div", operator.itruediv: "div", torch.div: "div"}
_BINARY_METHODS = {"add": "add", "add_": "add", "mul": "mul", "mul_": "mul", "sub": "sub",
                   "div": "div"}


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, with the attention modules of fx_transformers.LEAF_MODULES as leaves."""

    def is_leaf_module(self, m, qualname):
        return is_leaf(m) or super().is_leaf_module(m, qualname)


class FxImporter(TransformerImports):
    def __init__(self, model, example):
        self.model = model
        try:
            tracer = _Tracer()
            graph = tracer.trace(model)
            self.gm = torch.fx.GraphModule(tracer.root, graph, type(model).__name__)
        except Exception as e:  # noqa: BLE001 (any tracing failure becomes one line)
            why = " ".join(str(e).split())[:300]
            raise Unsupported(f"torch.fx cannot trace the model: {type(e).__name__}: {why}") from e
        self.modules = dict(self.gm.named_modules())
        rec = _Recorder(self.gm)
        with torch.no_grad():
            self.output = rec.run(example)
        self.values = rec.values
        self.g = Graph()
        self.env = {}  # fx node -> View, Parts, constant (python value or tensor)

    # -- helpers --------------------------------------------------------------------------------
    def where(self, n):
        if n.op == "call_module":
            return f"module {n.target}"
        stack = n.meta.get("nn_module_stack")
        return f"{n.name} (in {list(stack)[-1] if stack else '<top level>'})"

    def name_of(self, n):
        return n.target if n.op == "call_module" else n.name

    def is_tensor(self, a):
        return isinstance(a, torch.fx.Node) and isinstance(self.env.get(a), View)

    def const(self, a):
        """The value of a non-tensor argument (a python value, or a constant tensor)."""
        if isinstance(a, torch.fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.const(x) for x in a)
        return a

    def view(self, n, i=0):
        a = n.args[i] if i < len(n.args) else None
        v = self.env.get(a) if isinstance(a, torch.fx.Node) else None
        if not isinstance(v, View):
            raise Unsupported(f"{n.format_node()}: argument {i} is not a tensor, at {self.where(n)}")
        return v

    def plain(self, n, i=0):
        """Argument i as an nsengine tensor in its own order (a permute node where it is a view)."""
        return self.materialize(self.view(n, i), n)

    def materialize(self, v, n):
        if v.perm is None:
            return v.name
        name = self.g.add(f"{self.name_of(n)}.permute", "permute", [v.name], {"perm": v.perm})
        return name

    def rank(self, n):
        return self.values[n].dim()

    def shape(self, n):
        return list(self.values[n].shape)

    def sole(self, tensor, reader):
        """True if no fx node other than `reader` reads any value that is the tensor."""
        for q, v in self.env.items():
            if isinstance(v, View) and v.name == tensor:
                for u in q.users:
                    if u is not reader and not (isinstance(self.env.get(u), View)
                                                and self.env[u].name == tensor):
                        return False
        return True

    def bind(self, n, name, perm=None):
        self.env[n] = View(name, perm)

    # -- ops ------------------------------------------------------------------------------------
    def conv(self, n, m):
        if m.padding_mode != "zeros":
            raise Unsupported(f"Conv2d padding_mode={m.padding_mode} at module {n.target}")
        padding = m.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = (0, 0)
            else:  # "same": stride 1, the total padding k-1 split evenly (odd kernels)
                k = _pair(m.kernel_size)
                d = _pair(m.dilation)
                total = [d[i] * (k[i] - 1) for i in range(2)]
                if any(t % 2 for t in total):
                    raise Unsupported(f"Conv2d padding='same' with an even kernel at {n.target}")
                padding = (total[0] // 2, total[1] // 2)
        bias = m.bias if m.bias is not None else torch.zeros(m.out_channels)
        name = self.g.add(n.target, "conv2d", [self.plain(n)],
                          {"stride": _pair(m.stride), "padding": _pair(padding),
                           "dilation": _pair(m.dilation), "groups": int(m.groups)},
                          {f"{n.target}.weight": m.weight, f"{n.target}.bias": bias})
        self.bind(n, name)

    def batchnorm(self, n, m):
        if not m.track_running_stats or m.running_mean is None:
            raise Unsupported(f"BatchNorm2d without running statistics at module {n.target}")
        # (in double: the fold rounds once, in Graph.channel_affine)
        var, mean = m.running_var.double(), m.running_mean.double()
        scale = (m.weight.double() if m.affine else torch.ones_like(var)) / torch.sqrt(var + m.eps)
        shift = (m.bias.double() if m.affine else torch.zeros_like(mean)) - mean * scale
        src = self.plain(n)
        self.bind(n, self.g.channel_affine(n.target, src, scale.detach(), shift.detach(),
                                           self.sole(src, n)))

    def activation(self, n, kind):
        v = self.view(n)
        self.bind(n, self.g.activation(self.name_of(n), kind, v.name, self.sole(v.name, n)),
                  v.perm)

    def unary(self, n, kind):
        v = self.view(n)  # element-wise: any order will do
        if kind == "gelu" and v.perm is None:
            # A transformer MLP's GELU joins the linear layer that feeds only it.
            node = self.g.fusable(v.name, self.sole(v.name, n), ("linear",))
            if node is not None:
                node["attrs"]["activation"] = "gelu"
                return self.bind(n, v.name)
        self.bind(n, self.g.add(self.name_of(n), kind, [v.name]), v.perm)

    def max_pool(self, n, kernel, stride, padding, dilation, ceil_mode):
        stride = stride if stride not in (None, []) else kernel
        self.bind(n, self.g.add(self.name_of(n), "max_pool2d", [self.plain(n)],
                                {"kernel_size": _pair(kernel), "stride": _pair(stride),
                                 "padding": _pair(padding), "dilation": _pair(dilation),
                                 "ceil_mode": bool(ceil_mode)}))

    def avg_pool(self, n, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
        if divisor is not None:
            raise Unsupported(f"avg_pool2d with divisor_override at {self.where(n)}")
        stride = stride if stride not in (None, []) else kernel
        self.bind(n, self.g.add(self.name_of(n), "avg_pool2d", [self.plain(n)],
                                {"kernel_size": _pair(kernel), "stride": _pair(stride),
                                 "padding": _pair(padding), "ceil_mode": bool(ceil_mode),
                                 "count_include_pad": bool(count_include_pad)}))

    def adaptive(self, n, size):
        size = _pair(size) if size is not None and None not in (
            size if isinstance(size, (list, tuple)) else [size]) else None
        if size is None:
            raise Unsupported(f"adaptive_avg_pool2d with a None output size at {self.where(n)}")
        self.bind(n, self.g.add(self.name_of(n), "adaptive_avg_pool2d", [self.plain(n)],
                                {"output_size": size}))

    def linear(self, n, weight, bias, label):
        v = self.view(n)
        out_f, in_f = weight.shape
        bias = bias if bias is not None else torch.zeros(out_f)
        r = self.rank(n.args[0])
        if r == 4 and v.perm is not None and v.perm[-1] == 1:
            # The last axis of a channels-last view is the channel axis of the map: a linear
            # layer on it is a 1x1 convolution, and the result keeps the view.
            name = self.g.add(label, "conv2d", [v.name],
                              {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1],
                               "groups": 1},
                              {f"{label}.weight": weight.reshape(out_f, in_f, 1, 1),
                               f"{label}.bias": bias})
            return self.bind(n, name, v.perm)
        # Over the last axis of [N, ..., features] (a transformer's tokens: [N, L, E]).
        name = self.g.add(label, "linear", [self.plain(n)], {},
                          {f"{label}.weight": weight, f"{label}.bias": bias})
        return self.bind(n, name)

    def attention(self, n, m):
        """nn.MultiheadAttention as self-attention (query, key and value the same tensor,
        batch_first): its packed in-projection, the fused attention, its out-projection."""
        args = list(n.args) + [None] * 3
        q, k, v = (n.kwargs.get(key, args[i]) for i, key in enumerate(("query", "key", "value")))
        if not (q is k is v) or not self.is_tensor(q):
            raise Unsupported(f"MultiheadAttention other than self-attention (query, key and "
                              f"value one tensor) at module {n.target}")
        for key in ("key_padding_mask", "attn_mask"):
            if n.kwargs.get(key) is not None:
                raise Unsupported(f"MultiheadAttention with {key} at module {n.target}")
        if not m.batch_first:
            raise Unsupported(f"MultiheadAttention(batch_first=False) at module {n.target}")
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise Unsupported(f"MultiheadAttention with kdim/vdim, bias_k/bias_v or add_zero_attn "
                              f"at module {n.target}")
        if self.rank(q) != 3:
            raise Unsupported(f"MultiheadAttention on a rank-{self.rank(q)} tensor at module "
                              f"{n.target}")
        e = m.embed_dim
        src = self.materialize(self.env[q], n)
        in_bias = m.in_proj_bias if m.in_proj_bias is not None else torch.zeros(3 * e)
        qkv = self.g.add(f"{n.target}.in_proj", "linear", [src], {},
                         {f"{n.target}.in_proj_weight": m.in_proj_weight,
                          f"{n.target}.in_proj_bias": in_bias})
        heads = self.g.add(n.target, "attention", [qkv], {"heads": int(m.num_heads)})
        out_bias = m.out_proj.bias if m.out_proj.bias is not None else torch.zeros(e)
        out = self.g.add(f"{n.target}.out_proj", "linear", [heads], {},
                         {f"{n.target}.out_proj.weight": m.out_proj.weight,
                          f"{n.target}.out_proj.bias": out_bias})
        self.env[n] = Items([View(out), None])

    def layer_norm(self, n, normalized_shape, weight, bias, eps):
        v = self.view(n)
        shape = list(normalized_shape) if isinstance(normalized_shape, (list, tuple)) else [
            normalized_shape]
        if len(shape) != 1:
            raise Unsupported(f"layer_norm over {len(shape)} axes at {self.where(n)} (nsengine "
                              "normalises over one)")
        r = self.rank(n.args[0])
        dim = v.perm[-1] if v.perm is not None else r - 1
        params = {}
        label = self.name_of(n)
        if weight is not None:
            params[f"{label}.weight"] = weight
            params[f"{label}.bias"] = bias if bias is not None else torch.zeros(shape[0])
        name = self.g.add(label, "layer_norm", [v.name], {"dim": int(dim), "eps": float(eps)},
                          params)
        self.bind(n, name, v.perm)

    def binary(self, n, op):
        if n.kwargs.get("alpha", 1) != 1 or n.kwargs.get("rounding_mode") is not None:
            raise Unsupported(f"{op} with alpha or rounding_mode at {self.where(n)}")
        a, b = n.args[0], n.args[1]
        ta, tb = self.is_tensor(a), self.is_tensor(b)
        label = self.name_of(n)
        if ta and tb:
            va, vb = self.env[a], self.env[b]
            if va.perm == vb.perm and self.shape(a) == self.shape(b):
                if op == "add":
                    return self.bind(n, self.g.add(label, "add", [va.name, vb.name]), va.perm)
                return self.bind(n, self.g.add(label, op, [va.name, vb.name]), va.perm)
            return self.bind(n, self.g.add(label, op, [self.plain(n, 0), self.plain(n, 1)]))
        if not (ta or tb):
            if not isinstance(self.values.get(n), torch.Tensor):
                self.env[n] = self.values[n]  # arithmetic of sizes: a python number
                return
            raise Unsupported(f"{op} of two constants at {self.where(n)}")
        if op in ("sub", "div") and tb:
            raise Unsupported(f"{op} of a constant by a tensor at {self.where(n)}")
        x = n.args[0] if ta else n.args[1]
        c = self.const(n.args[1] if ta else n.args[0])
        c = torch.as_tensor(c, dtype=torch.float32)
        if op == "sub":
            op, c = "add", -c
        if op == "div":
            op, c = "mul", 1.0 / c
        src = self.plain(n, 0 if ta else 1)
        rank = self.rank(x)
        # A scale (and a shift) per channel of a map folds into the conv that makes it.
        per_channel = (rank == 4 and c.dim() <= 3 and c.dim() >= 1 and
                       (c.dim() < 3 or list(c.shape[1:]) == [1, 1]) and
                       (c.dim() < 2 or c.shape[-1] == 1) and c.numel() == self.shape(x)[1])
        if per_channel and c.dim() == 3:
            flat = c.reshape(-1)
            scale = flat if op == "mul" else torch.ones_like(flat)
            shift = torch.zeros_like(flat) if op == "mul" else flat
            return self.bind(n, self.g.channel_affine(label, src, scale, shift,
                                                      self.sole(src, n)))
        return self.bind(n, self.g.add(label, op, [src], {}, {f"{label}.constant": c}))

    def cat(self, n):
        tensors, dim = n.args[0], n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)
        constants = [i for i, a in enumerate(tensors) if not self.is_tensor(a)]
        attrs, params = {"dim": int(dim)}, {}
        if constants:
            # One constant piece of one image's shape (a transformer's class token).
            c = self.const(tensors[constants[0]]) if len(constants) == 1 else None
            r = self.rank(n)
            if (not isinstance(c, torch.Tensor) or c.device.type == "meta" or c.dim() != r
                    or c.shape[0] != 1 or int(dim) % r == 0):
                raise Unsupported(f"cat of tensors with other than one constant of one image's "
                                  f"shape at {self.where(n)}")
            attrs["constant_at"] = constants[0]
            params[f"{n.name}.constant"] = c.float()
        names = [self.materialize(self.env[a], n) for a in tensors if self.is_tensor(a)]
        self.bind(n, self.g.add(n.name, "concat", names, attrs, params))

    def expand(self, n):
        """x.expand(sizes) of a constant to one image's shape (a class token's expand(n, -1,
        -1) at batch 1): the constant itself."""
        src = n.args[0]
        c = self.env.get(src) if isinstance(src, torch.fx.Node) else None
        if (isinstance(c, torch.Tensor) and c.device.type != "meta"
                and list(self.values[n].shape) == list(c.shape)):
            self.env[n] = c
            return
        raise Unsupported(f"expand at {self.where(n)} (nsengine takes it only of a constant to "
                          "its own shape)")

    def permute(self, n, perm):
        v = self.view(n)
        r = self.rank(n.args[0])
        perm = [int(p) % r for p in perm]
        self.env[n] = View(v.name, _compose(perm, v.perm))

    def transpose(self, n, d0, d1):
        r = self.rank(n.args[0])
        perm = list(range(r))
        perm[int(d0) % r], perm[int(d1) % r] = perm[int(d1) % r], perm[int(d0) % r]
        self.permute(n, perm)

    def reshape(self, n):
        src = self.plain(n)
        self.bind(n, self.g.add(n.name, "reshape", [src], {"shape": self.shape(n)}))

    def flatten(self, n, start, end):
        r = self.rank(n.args[0])
        start, end = int(start) % r, int(end) % r
        if start == end:
            return self.bind(n, self.view(n).name, self.view(n).perm)
        self.bind(n, self.g.add(self.name_of(n), "flatten", [self.plain(n)],
                                {"start_dim": start, "end_dim": end}))

    def split(self, n, sizes, dim):
        """chunk / split: the parts as slices, made when indexed."""
        v = self.view(n)
        parts = self.values[n]
        dim = int(dim) % self.rank(n.args[0])
        bounds, at = [], 0
        for p in parts:
            bounds.append((at, at + p.shape[dim]))
            at += p.shape[dim]
        self.env[n] = Parts(v, dim, bounds)

    def getitem(self, n):
        src, idx = n.args
        v = self.env.get(src)
        if isinstance(v, Parts):
            start, end = v.bounds[idx]
            name = self.materialize(v.view, n)
            self.bind(n, self.g.add(n.name, "slice", [name],
                                    {"dim": v.dim, "start": start, "end": end}))
            return
        if isinstance(v, Items):
            self.env[n] = v.items[idx]
            return
        if isinstance(v, View):
            return self.index(n, v, idx if isinstance(idx, tuple) else (idx,))
        self.env[n] = self.values[n]  # a size, an element of a tuple of constants

    def index(self, n, v, idx):
        """x[i, a:b:c, ...] of a tensor: a slice per indexed axis, then a reshape dropping the
        axes an integer took (a transformer's class token: x[:, 0])."""
        r = self.rank(n.args[0])
        if any(i is Ellipsis or i is None for i in idx) or len(idx) > r:
            raise Unsupported(f"indexing with ... or None at {self.where(n)}")
        name, dropped = self.materialize(v, n), False
        shape = self.shape(n.args[0])
        for dim, i in enumerate(idx):
            if isinstance(i, torch.fx.Node):
                i = self.const(i)
            if isinstance(i, slice):
                start, end, step = i.indices(shape[dim])
                if step < 1:
                    raise Unsupported(f"a slice with step {step} at {self.where(n)}")
                if (start, end, step) == (0, shape[dim], 1):
                    continue
            elif isinstance(i, int):
                start = i % shape[dim]
                end, step, dropped = start + 1, 1, True
            else:
                raise Unsupported(f"indexing by {type(i).__name__} at {self.where(n)}")
            if dim == 0:
                raise Unsupported(f"indexing the batch axis at {self.where(n)}")
            name = self.g.add(f"{n.name}.{dim}", "slice", [name],
                              {"dim": dim, "start": start, "end": end, "step": step})
        if dropped:
            name = self.g.add(n.name, "reshape", [name], {"shape": self.shape(n)})
        self.bind(n, name)

    def mean(self, n):
        dims = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else None)
        keep = n.kwargs.get("keepdim", n.args[2] if len(n.args) > 2 else False)
        r = self.rank(n.args[0])
        dims = sorted(int(d) % r for d in (dims if isinstance(dims, (list, tuple)) else [dims]))
        if r != 4 or dims != [2, 3]:
            raise Unsupported(f"mean over {dims} at {self.where(n)} (nsengine averages over H, W)")
        name = self.g.add(n.name, "adaptive_avg_pool2d", [self.plain(n)], {"output_size": [1, 1]})
        if not keep:
            name = self.g.add(f"{n.name}.flatten", "flatten", [name], {"start_dim": 1})
        self.bind(n, name)

    # -- dispatch -------------------------------------------------------------------------------
    def call_module(self, n):
        m = self.modules[n.target]
        if isinstance(self.values.get(n), torch.Tensor) and self.constant_inputs(n):
            self.fold(n)
        elif isinstance(m, nn.Conv2d):
            self.conv(n, m)
        elif isinstance(m, nn.BatchNorm2d):
            self.batchnorm(n, m)
        elif isinstance(m, nn.ReLU):
            self.activation(n, "relu")
        elif isinstance(m, nn.ReLU6):
            self.activation(n, "relu6")
        elif type(m) in _UNARY_MODULES:
            self.unary(n, _UNARY_MODULES[type(m)])
        elif isinstance(m, nn.GELU):
            if m.approximate != "none":
                raise Unsupported(f"GELU(approximate='{m.approximate}') at module {n.target}")
            self.unary(n, "gelu")
        elif isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise Unsupported(f"MaxPool2d(return_indices=True) at module {n.target}")
            self.max_pool(n, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        elif isinstance(m, nn.AvgPool2d):
            self.avg_pool(n, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                          m.count_include_pad, m.divisor_override)
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            self.adaptive(n, m.output_size)
        elif isinstance(m, nn.Linear):
            self.linear(n, m.weight, m.bias, n.target)
        elif isinstance(m, nn.LayerNorm):
            self.layer_norm(n, m.normalized_shape, m.weight, m.bias, m.eps)
        elif isinstance(m, nn.MultiheadAttention):
            self.attention(n, m)
        elif is_leaf(m):
            self.relative_attention(n, m)
        elif isinstance(m, nn.Tanh):
            self.unary(n, "tanh")
        elif isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity) + _DROP_MODULES):
            self.env[n] = self.view(n)
        elif isinstance(m, _PERMUTE_MODULES):
            self.permute(n, m.dims)
        elif isinstance(m, nn.Flatten):
            self.flatten(n, m.start_dim, m.end_dim)
        elif isinstance(m, nn.Softmax):
            self.bind(n, self.g.add(n.target, "softmax", [self.plain(n)],
                                    {"dim": int(m.dim if m.dim is not None else -1)}))
        else:
            raise Unsupported(f"unsupported op {type(m).__name__} at module {n.target}")

    def arg(self, n, i, key, default):
        if key in n.kwargs:
            return self.const(n.kwargs[key])
        return self.const(n.args[i]) if i < len(n.args) else default

    def constant_inputs(self, n):
        """Whether no argument of n is (part of) a tensor the graph computes."""
        found = []
        torch.fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(a))
        return not any(isinstance(self.env.get(a), (View, Parts, Items)) for a in found)

    def fold(self, n):
        """Evaluates a node of constants (Swin's relative position bias from its table and
        index, Swin V2's bias MLP) with their real values."""
        args = torch.fx.node.map_arg(n.args, lambda a: self.env[a])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: self.env[a])
        with torch.no_grad():
            if n.op == "call_module":
                v = self.modules[n.target](*args, **kwargs)
            elif n.op == "call_method":
                v = getattr(args[0], n.target)(*args[1:], **kwargs)
            else:
                v = n.target(*args, **kwargs)
        self.env[n] = v.detach() if isinstance(v, torch.Tensor) else v

    def call_function(self, n):
        f, method = n.target, n.op == "call_method"
        name = f if method else getattr(f, "__name__", str(f))
        fname = getattr(f, "__name__", "")
        if isinstance(self.values.get(n), torch.Tensor) and self.constant_inputs(n):
            self.fold(n)
        elif not method and fname == "shifted_window_attention":
            self.shifted_window_attention(n)
        elif not method and fname == "_patch_merging_pad":
            self.patch_merging_pad(n)
        elif (not method and f in _BINARY) or (method and f in _BINARY_METHODS):
            self.binary(n, _BINARY_METHODS[f] if method else _BINARY[f])
        elif (not method and f in (F.relu, torch.relu)) or (method and f in ("relu", "relu_")):
            self.activation(n, "relu")
        elif not method and f is F.relu6:
            self.activation(n, "relu6")
        elif not method and f in _UNARY_FUNCTIONS:
            if f is F.gelu and n.kwargs.get("approximate", "none") != "none":
                raise Unsupported(f"gelu(approximate=...) at {self.where(n)}")
            self.unary(n, _UNARY_FUNCTIONS[f])
        elif method and f in _UNARY_METHODS:
            self.unary(n, _UNARY_METHODS[f])
        elif (not method and f is torch.flatten) or (method and f == "flatten"):
            self.flatten(n, self.arg(n, 1, "start_dim", 0), self.arg(n, 2, "end_dim", -1))
        elif not method and f is F.adaptive_avg_pool2d:
            self.adaptive(n, self.arg(n, 1, "output_size", None))
        elif not method and f is F.max_pool2d:
            self.max_pool(n, self.arg(n, 1, "kernel_size", None), self.arg(n, 2, "stride", None),
                          self.arg(n, 3, "padding", 0), self.arg(n, 4, "dilation", 1),
                          self.arg(n, 5, "ceil_mode", False))
        elif not method and f is F.avg_pool2d:
            self.avg_pool(n, self.arg(n, 1, "kernel_size", None), self.arg(n, 2, "stride", None),
                          self.arg(n, 3, "padding", 0), self.arg(n, 4, "ceil_mode", False),
                          self.arg(n, 5, "count_include_pad", True),
                          self.arg(n, 6, "divisor_override", None))
        elif not method and f in (F.dropout, F.dropout2d) + _STOCHASTIC_DEPTH:
            self.env[n] = self.view(n)
        elif (not method and f is torch.cat) or (not method and f is torch.concat):
            self.cat(n)
        elif (not method and f in (F.softmax, torch.softmax)) or (method and f == "softmax"):
            dim = self.arg(n, 1, "dim", None)
            if dim is None:
                raise Unsupported(f"softmax without dim at {self.where(n)}")
            self.bind(n, self.g.add(n.name, "softmax", [self.plain(n)], {"dim": int(dim)}))
        elif (not method and f is torch.permute) or (method and f == "permute"):
            dims = n.args[1:] if method else [self.arg(n, 1, "dims", None)]
            dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims
            self.permute(n, [self.const(d) for d in dims])
        elif (not method and f in (torch.transpose, torch.swapaxes)) or (
                method and f in ("transpose", "swapaxes")):
            self.transpose(n, self.const(n.args[1]), self.const(n.args[2]))
        elif method and f == "contiguous":
            self.env[n] = self.view(n)
        elif (method and f in ("view", "reshape")) or (not method and f is torch.reshape):
            self.reshape(n)
        elif (method and f in ("chunk", "split")) or (not method and f in (torch.chunk,
                                                                            torch.split)):
            self.split(n, None, self.arg(n, 2, "dim", 0))
        elif not method and f is operator.getitem:
            self.getitem(n)
        elif method and f == "mean":
            self.mean(n)
        elif method and f == "expand":
            self.expand(n)
        elif not method and f is F.layer_norm:
            self.layer_norm(n, self.arg(n, 1, "normalized_shape", None),
                            self.arg(n, 2, "weight", None), self.arg(n, 3, "bias", None),
                            self.arg(n, 4, "eps", 1e-5))
        elif method and f == "size" or not isinstance(self.values.get(n), torch.Tensor):
            self.env[n] = self.values[n]  # sizes and their arithmetic: constants
        else:
            raise Unsupported(f"unsupported op {name} at {self.where(n)}")

    def run(self, input_shape):
        outputs = []
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if any(isinstance(v, View) for v in self.env.values()):
                    raise Unsupported(f"more than one input ({n.name}); nsengine takes one")
                self.bind(n, "input")
            elif n.op == "get_attr":
                self.env[n] = self.values[n].detach()
            elif n.op == "call_module":
                self.call_module(n)
            elif n.op in ("call_function", "call_method"):
                self.call_function(n)
            elif n.op == "output":
                outs = n.args[0] if isinstance(n.args[0], (tuple, list)) else [n.args[0]]
                for o in outs:
                    if not self.is_tensor(o):
                        raise Unsupported("the model's output is not a tensor")
                outputs = [self.materialize(self.env[o], n) for o in outs]
                if len(set(outputs)) != len(outputs) or "input" in outputs:
                    raise Unsupported("the model returns its input or one tensor twice")
            else:
                raise Unsupported(f"unsupported fx node {n.op} {n.target} at {self.where(n)}")
        return self.g.to_json(input_shape, outputs), self.g.tensors
