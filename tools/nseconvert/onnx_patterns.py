"""The multi-node forms exporters write for ops ONNX lacked before opset 17 or 20, recognised
as one nsengine op each: exact GELU (Div by sqrt 2, Erf, Add 1, Mul by x, Mul by 0.5) and layer
norm (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, [Mul gamma, Add beta])."""

import math

import numpy as np

from .onnx_fold import _attrs



class Patterns:
    """Mixed into OnnxImporter: uses its graph, users and consts."""

    def only_user(self, value, op_type):
        users = self.users.get(value, [])
        if len(users) == 1 and users[0] is not None and users[0].op_type == op_type:
            return users[0]
        return None

    def scalar(self, value):
        if value not in self.consts or np.asarray(self.consts[value]).size != 1:
            return None
        return float(np.asarray(self.consts[value]).reshape(-1)[0])

    def layer_norm_pattern(self, n):
        """ReduceMean at n over the last axis in the form exporters write layer norm before
        opset 17: d = x - mean(x); y = d / sqrt(mean(d^2) + eps) [* gamma + beta]. Returns
        (x, eps, gamma, beta, nodes, last node) or None."""
        x = n.input[0]
        rank = len(self.shapes.get(x, []))
        axes = _attrs(n).get("axes")
        if rank == 0 or axes is None or [int(a) % rank for a in axes] != [rank - 1]:
            return None
        sub = self.only_user(n.output[0], "Sub")
        if sub is None or list(sub.input) != [x, n.output[0]]:
            return None
        d = sub.output[0]
        users = self.users.get(d, [])
        pow_ = next((u for u in users if u is not None and u.op_type == "Pow"), None)
        div = next((u for u in users if u is not None and u.op_type == "Div"), None)
        if len(users) != 2 or pow_ is None or div is None or self.scalar(pow_.input[1]) != 2.0:
            return None
        mean2 = self.only_user(pow_.output[0], "ReduceMean")
        add = mean2 and self.only_user(mean2.output[0], "Add")
        sqrt = add and self.only_user(add.output[0], "Sqrt")
        if sqrt is None or list(div.input) != [d, sqrt.output[0]]:
            return None
        eps = self.scalar(add.input[1])
        if eps is None:
            return None
        nodes, last = [n, sub, pow_, mean2, add, sqrt, div], div
        gamma = beta = None
        mul = self.only_user(div.output[0], "Mul")
        if mul is not None and mul.input[1] in self.consts:
            gamma = np.asarray(self.consts[mul.input[1]], np.float32)
            nodes.append(mul)
            last = mul
            badd = self.only_user(mul.output[0], "Add")
            if badd is not None and badd.input[1] in self.consts:
                beta = np.asarray(self.consts[badd.input[1]], np.float32)
                nodes.append(badd)
                last = badd
        return x, eps, gamma, beta, nodes, last

    def gelu(self, n):
        """Erf at n in x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5 (either order of the
        products): the input tensor's name and the pattern's last node, or None."""
        div = next((m for m in self.graph.node if n.input[0] in m.output), None)
        if div is None or div.op_type not in ("Div", "Mul") or div.input[1] not in self.consts:
            return None
        c = float(np.asarray(self.consts[div.input[1]]).reshape(-1)[0])
        if not (abs(c - math.sqrt(2)) < 1e-3 if div.op_type == "Div" else
                abs(c - 1 / math.sqrt(2)) < 1e-3):
            return None
        x = div.input[0]
        chain = [div, n]
        cur = n
        seen = {"add": False, "mulx": False, "half": False}
        for _ in range(3):
            users = self.users.get(cur.output[0], [])
            if len(users) != 1 or users[0] is None:
                return None
            u = users[0]
            other = [i for i in u.input if i != cur.output[0]]
            if len(other) != 1:
                return None
            o = other[0]
            val = float(np.asarray(self.consts[o]).reshape(-1)[0]) if o in self.consts else None
            if u.op_type == "Add" and val == 1.0 and not seen["add"]:
                seen["add"] = True
            elif u.op_type == "Mul" and o == x and not seen["mulx"]:
                seen["mulx"] = True
            elif u.op_type == "Mul" and val == 0.5 and not seen["half"]:
                seen["half"] = True
            else:
                return None
            chain.append(u)
            cur = u
        return x, chain
