"""Constant folding for the ONNX importer: a node whose inputs are all constants (the shape
computations exporters write: Shape, Gather, Concat, Unsqueeze, Cast, ...) is evaluated with
NumPy and its output becomes a constant."""

import numpy as np

from .graph import Unsupported


def _attrs(node):
    import onnx.helper
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class ConstantFolding:
    """Mixed into OnnxImporter: uses its consts, shapes and where()."""

    def try_fold(self, n):
        try:
            return self.fold(n)
        except Exception as e:  # noqa: BLE001 (numpy's complaint about a malformed node)
            raise Unsupported(f"{self.where(n)}: cannot evaluate its constant inputs: "
                              f"{' '.join(str(e).split())[:200]}") from e

    def fold(self, n):
        """Evaluates a node whose inputs are all constants; False if it cannot."""
        if n.op_type == "Shape" and n.input[0] in self.shapes:
            shape = self.shapes[n.input[0]]
            a = _attrs(n)
            self.consts[n.output[0]] = np.array(shape[a.get("start", 0):a.get("end", None)],
                                                dtype=np.int64)
            return True
        ins = [self.consts.get(i) if i else None for i in n.input]
        if any(i and i not in self.consts for i in n.input):
            return False
        a = _attrs(n)
        t = n.op_type
        x = ins[0] if ins else None
        if t == "Constant":
            import onnx.numpy_helper
            if "value" not in a:
                return False
            r = onnx.numpy_helper.to_array(a["value"])
        elif t in ("Cast", "Identity"):
            r = x
        elif t == "Gather":
            r = np.take(x, ins[1], axis=a.get("axis", 0))
        elif t == "Unsqueeze":
            axes = a.get("axes", ins[1] if len(ins) > 1 else None)
            r = x
            for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
                r = np.expand_dims(r, ax)
        elif t == "Squeeze":
            axes = a.get("axes", ins[1] if len(ins) > 1 else None)
            r = np.squeeze(x, axis=tuple(int(v) for v in axes)) if axes is not None \
                else np.squeeze(x)
        elif t == "Concat":
            r = np.concatenate([i for i in ins], axis=a["axis"])
        elif t in ("Add", "Sub", "Mul", "Div"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}.get(t)
            if t == "Div":
                r = (x // ins[1]) if np.issubdtype(x.dtype, np.integer) else x / ins[1]
            else:
                r = f(x, ins[1])
        elif t == "Slice":
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            r = x[tuple(sl)]
        elif t == "Reshape":
            r = x.reshape([int(v) if v != 0 else x.shape[k] for k, v in enumerate(ins[1])])
        elif t == "ConstantOfShape":
            import onnx.numpy_helper
            v = onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            r = np.full([int(d) for d in x], v.reshape(-1)[0], dtype=v.dtype)
        elif t == "Sqrt":
            r = np.sqrt(x)
        elif t in ("Equal", "Less", "Greater", "And", "Or", "Mod", "Pow", "Max", "Min"):
            # (the guards of a class token's expand, shape arithmetic)
            f = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
                 "And": np.logical_and, "Or": np.logical_or, "Pow": np.power,
                 "Max": np.maximum, "Min": np.minimum}.get(t)
            if t == "Mod":
                f = np.fmod if a.get("fmod", 0) else np.mod
            r = x
            for other in ins[1:]:  # Max and Min take one or more inputs, the others two
                r = f(r, other)
        elif t == "Not":
            r = np.logical_not(x)
        elif t == "Where":
            r = np.where(x, ins[1], ins[2])
        elif t == "Expand":
            shape = [int(d) for d in ins[1]]
            r = x * np.ones(shape, dtype=x.dtype)  # numpy broadcasting is ONNX's here
        elif t == "Range":
            r = np.arange(x, ins[1], ins[2])
        elif t == "Transpose":
            perm = a.get("perm")
            r = np.transpose(x, perm)
        else:
            return False
        self.consts[n.output[0]] = np.asarray(r)
        return True
