"""The multi-node forms exporters write for ops ONNX lacked before opset 17 or 20, recognised
as one nsengine op each: SiLU (x * Sigmoid(x)), exact GELU (Div by sqrt 2, Erf, Add 1, Mul by
x, Mul by 0.5), layer norm (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, [Mul
gamma, Add beta]), nn.MultiheadAttention's scaled dot-product attention on its packed
projection (three Slices, Reshapes to heads, Transposes, a scale, MatMul, Softmax, MatMul,
Transpose, Reshape), and MaxViT's attention over windows (the same on [B, G, P, 3 E] with
Einsums and a bias added)."""

import math

import numpy as np

from .graph import Unsupported
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

    def silu_product(self, sigmoid):
        """The Mul of x and Sigmoid(x) when it is the Sigmoid's only reader, else None."""
        mul = self.only_user(sigmoid.output[0], "Mul")
        if mul is None or sorted(mul.input) != sorted([sigmoid.input[0], sigmoid.output[0]]):
            return None
        return mul

    def find_gelus(self):
        """Marks each GELU pattern's nodes as consumed; its first (the Div or Mul by sqrt 2)
        emits the gelu when the importer reaches it, so no node of it is emitted unused."""
        self.gelu_at = {}
        for m in self.graph.node:
            if m.op_type == "Erf" and id(m) not in self.skip:
                found = self.gelu(m)
                if found:
                    x, chain = found
                    self.gelu_at[id(chain[0])] = (x, chain)
                    self.skip.update(id(c) for c in chain[1:])

    def emit_gelu(self, n, x, chain):
        out = chain[-1].output[0]
        perm = self.perm.get(x)
        if perm is None:
            # A transformer MLP's GELU joins the linear layer that feeds only it.
            only_chain = all(u is not None and any(u is c for c in chain)
                             for u in self.users.get(x, []))
            node = self.g.fusable(self.env[x], only_chain, ("linear",))
            if node is not None:
                node["attrs"]["activation"] = "gelu"
                self.env[out] = self.env[x]
                return
        name = self.g.add(n.name or n.output[0], "gelu", [self.env[x]])  # element-wise
        self.env[out] = name
        if perm is not None:
            self.perm[out] = perm

    # -- multi-head attention ---------------------------------------------------------------------
    def producer(self, value):
        if not hasattr(self, "_producers"):
            self._producers = {o: m for m in self.graph.node for o in m.output}
        return self._producers.get(value)

    def _head_view(self, value, perm, rank=3, heads_rank=3):
        """value = Transpose(perm) of Reshape(to rank `heads_rank`) of Slice(P, [a, b) on the
        last axis of a rank-`rank` P): (P, a, b, the Reshape's shape, nodes) or None.
        nn.MultiheadAttention's: P [L, N, 3 E] to [L, N h, d]; MaxViT's: P [B, G, P, 3 E] to
        [B, G, P, h, d]."""
        t = self.producer(value)
        if t is None or t.op_type != "Transpose" or list(_attrs(t).get("perm", [])) != perm:
            return None
        r = self.producer(t.input[0])
        if r is None or r.op_type != "Reshape" or \
                len(self.shapes.get(r.output[0], [])) != heads_rank:
            return None
        sl = self.producer(r.input[0])
        if sl is None or sl.op_type != "Slice" or len(sl.input) < 4:
            return None
        starts, ends, axes = (np.asarray(self.consts.get(i, [])).reshape(-1)
                              for i in sl.input[1:4])
        steps = np.asarray(self.consts.get(sl.input[4], [1])).reshape(-1) \
            if len(sl.input) > 4 and sl.input[4] else [1]
        if len(self.shapes.get(sl.input[0], [])) != rank or len(starts) != 1 or \
                len(ends) != 1 or len(axes) != 1 or int(axes[0]) % rank != rank - 1 or \
                int(steps[0]) != 1:
            return None
        return sl.input[0], int(starts[0]), int(ends[0]), self.shapes[r.output[0]], [sl, r, t]

    def _scaled(self, value):
        """(what value is a scalar multiple of, the factor, [the node]) or (value, None, [])."""
        s = self.producer(value)
        if s is not None and s.op_type in ("Div", "Mul") and self.scalar(s.input[1]) is not None:
            c = self.scalar(s.input[1])
            return s.input[0], (1.0 / c if s.op_type == "Div" else c), [s]
        return value, None, []

    def attention_block(self, mm):
        """The pattern from MatMul `mm` (scaled q times k transposed) on: a dict of what the
        attention op needs, or None where it is something else."""
        ins = list(mm.input)
        q_value, scale, nodes = self._scaled(ins[0])
        q = self._head_view(q_value, [1, 0, 2])
        k = self._head_view(ins[1], [1, 2, 0])
        soft = self.only_user(mm.output[0], "Softmax")
        if q is None or k is None or soft is None or scale is None:
            return None
        if int(_attrs(soft).get("axis", -1)) % 3 != 2:
            return None
        mm2 = self.only_user(soft.output[0], "MatMul")
        if mm2 is None or mm2.input[0] != soft.output[0]:
            return None
        v = self._head_view(mm2.input[1], [1, 0, 2])
        back = self.only_user(mm2.output[0], "Transpose")
        if v is None or back is None or list(_attrs(back).get("perm", [])) != [1, 0, 2]:
            return None
        merge = self.only_user(back.output[0], "Reshape")
        if merge is None:
            return None
        P = q[0]
        L, N, E3 = self.shapes.get(P, [0, 0, 0])
        E = E3 // 3
        if k[0] != P or v[0] != P or E3 != 3 * E or [q[1], q[2], k[1], k[2], v[1], v[2]] != \
                [0, E, E, 2 * E, 2 * E, 3 * E]:
            return None
        Lr, NH, d = q[3]
        if Lr != L or NH % N or k[3] != q[3] or v[3] != q[3] or NH // N * d != E:
            return None
        nodes += q[4] + k[4] + v[4] + [mm, soft, mm2, back, merge]
        found = {"qkv": P, "heads": NH // N, "scale": scale, "tokens": L, "batch": N, "dim": E,
                 "out": merge.output[0], "nodes": nodes, "proj": None}
        # The output projection on [L N, E] rows, back to [L, N, E] and to [N, L, E]: taken in,
        # as a linear layer on the attention's [N, L, E] (no reshapes and copies around it).
        gemm = self.only_user(merge.output[0], "Gemm")
        r = gemm and self.only_user(gemm.output[0], "Reshape")
        tt = r and self.only_user(r.output[0], "Transpose")
        if tt is not None and self.shapes.get(merge.output[0]) == [L * N, E] and \
                self.shapes.get(r.output[0]) == [L, N, E] and \
                list(_attrs(tt).get("perm", [])) == [1, 0, 2] and \
                all(i in self.consts for i in gemm.input[1:]) and \
                _attrs(gemm).get("alpha", 1.0) == 1.0 and _attrs(gemm).get("beta", 1.0) == 1.0 \
                and not _attrs(gemm).get("transA", 0):
            found["proj"] = gemm
            found["out"] = tt.output[0]
            nodes += [gemm, r, tt]
        inner = {o for m in nodes for o in m.output} - {found["out"]}
        if any(u not in nodes for o in inner for u in self.users.get(o, [])):
            return None  # an intermediate read elsewhere (attention weights returned, say)
        return found

    @staticmethod
    def _einsum(n):
        """'scores' for an Einsum of q [.., i, d] and k [.., j, d] to [.., i, j], 'mix' for
        one of weights [.., i, j] and v [.., j, d] to [.., i, d] (the same batch letters in
        front), else None."""
        eq = _attrs(n).get("equation", b"")
        eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
        if "->" not in eq or eq.count(",") != 1:
            return None
        (a, b), out = eq.split("->")[0].split(","), eq.split("->")[1]
        if not (len(a) == len(b) == len(out) >= 3) or a[:-2] != b[:-2] or a[:-2] != out[:-2]:
            return None
        x, y, z, w, o1, o2 = a[-2], a[-1], b[-2], b[-1], out[-2], out[-1]
        if len({x, y, z}) == 3 and w == y and (o1, o2) == (x, z):
            return "scores"
        if len({x, y, w}) == 3 and z == y and (o1, o2) == (x, w):
            return "mix"
        return None

    def window_attention_block(self, e1):
        """MaxViT's attention as exported, from the Einsum `e1` of q and (scaled) k over
        [B, G, h, P, d] (G windows or grid cells of P tokens; q, k and v three Slices of one
        [B, G, P, 3 E] projection, each reshaped to heads and transposed), a constant bias
        added, Softmax, the Einsum with v, Transpose and Reshape back to [B, G, P, E]: a dict
        of what the attention op needs, or None."""
        if self._einsum(e1) != "scores":
            return None
        q_value, qs, q_nodes = self._scaled(e1.input[0])
        k_value, ks, k_nodes = self._scaled(e1.input[1])
        if (qs is None) == (ks is None):
            return None  # one scale, on q or on k
        heads_of = [0, 1, 3, 2, 4]
        q = self._head_view(q_value, heads_of, 4, 5)
        k = self._head_view(k_value, heads_of, 4, 5)
        if q is None or k is None:
            return None
        nodes = q_nodes + k_nodes + q[4] + k[4] + [e1]
        scores, bias = e1.output[0], None
        add = self.only_user(scores, "Add")
        if add is not None:
            other = [i for i in add.input if i != scores]
            if len(other) != 1 or other[0] not in self.consts:
                return None
            bias, scores = np.asarray(self.consts[other[0]], np.float32), add.output[0]
            nodes.append(add)
        soft = self.only_user(scores, "Softmax")
        if soft is None or int(_attrs(soft).get("axis", -1)) % 5 != 4:
            return None
        e2 = self.only_user(soft.output[0], "Einsum")
        if e2 is None or self._einsum(e2) != "mix" or e2.input[0] != soft.output[0]:
            return None
        v = self._head_view(e2.input[1], heads_of, 4, 5)
        back = self.only_user(e2.output[0], "Transpose")
        if v is None or back is None or list(_attrs(back).get("perm", [])) != heads_of:
            return None
        merge = self.only_user(back.output[0], "Reshape")
        if merge is None:
            return None
        X = q[0]
        B, G, P, E3 = self.shapes.get(X, [0, 0, 0, 0])
        E = E3 // 3
        if k[0] != X or v[0] != X or E3 != 3 * E or [q[1], q[2], k[1], k[2], v[1], v[2]] != \
                [0, E, E, 2 * E, 2 * E, 3 * E]:
            return None
        _, _, _, h, d = q[3]
        if q[3] != [B, G, P, h, d] or k[3] != q[3] or v[3] != q[3] or h * d != E or \
                self.shapes.get(merge.output[0]) != [B, G, P, E]:
            return None
        if bias is not None:
            if bias.ndim < 3 or any(s != 1 for s in bias.shape[:-3]) or \
                    list(bias.shape[-3:]) not in ([h, P, P], [1, P, P]):
                return None
            bias = np.broadcast_to(bias.reshape(bias.shape[-3:]), (h, P, P))
        nodes += v[4] + [soft, e2, back, merge]
        inner = {o for m in nodes for o in m.output} - {merge.output[0]}
        if any(u not in nodes for o in inner for u in self.users.get(o, [])):
            return None
        return {"windows": True, "qkv": X, "heads": h, "scale": qs if ks is None else ks,
                "window": P, "shape": [B, G, P, E], "bias": bias, "out": merge.output[0],
                "nodes": nodes}

    def find_attention_blocks(self):
        """Marks each attention block's nodes as consumed; the first of them (in graph order)
        emits the attention op when the importer reaches it."""
        self.attention_at = {}
        order = {id(m): i for i, m in enumerate(self.graph.node)}
        for m in self.graph.node:
            if m.op_type == "Einsum":
                found = self.window_attention_block(m)
            elif m.op_type == "MatMul" and m.input[1] not in self.consts:
                found = self.attention_block(m)
            else:
                continue
            if found:
                first = min(found["nodes"], key=lambda x: order[id(x)])
                self.attention_at[id(first)] = found
                self.skip.update(id(x) for x in found["nodes"] if x is not first)

    def emit_attention(self, n, found):
        """The attention op for a block found by find_attention_blocks, at its first node."""
        P = found["qkv"]
        if P not in self.env:
            raise Unsupported(f"{self.where(n)}: attention on a value the graph does not compute")
        if found.get("windows"):
            return self.emit_window_attention(n, found)
        if self.perm.get(P) != [1, 0, 2]:
            raise Unsupported(f"{self.where(n)}: attention whose [tokens, batch, 3 E] projection "
                              "is not a view of a [batch, tokens, 3 E] tensor")
        label = n.name or n.output[0]
        att = self.g.add(f"{label}.attention", "attention", [self.env[P]],
                         {"heads": int(found["heads"]), "scale": float(found["scale"])})
        out, L, N, E = found["out"], found["tokens"], found["batch"], found["dim"]
        shape = self.shapes.get(out)
        gemm = found["proj"]
        if gemm is not None:
            w = np.asarray(self.consts[gemm.input[1]], np.float32)
            w = w if _attrs(gemm).get("transB", 0) else w.T
            b = np.asarray(self.consts[gemm.input[2]], np.float32) if len(gemm.input) > 2 \
                else np.zeros(w.shape[0], np.float32)
            name = gemm.name or gemm.output[0]
            self.env[out] = self.g.add(name, "linear", [att], {},
                                       {f"{name}.weight": self.torch_of(w), f"{name}.bias":
                                        self.torch_of(np.broadcast_to(b, (w.shape[0],)))})
        elif shape == [L, N, E]:
            self.env[out] = att
            self.perm[out] = [1, 0, 2]
        elif shape == [L * N, E] and N == 1:
            self.env[out] = self.g.add(f"{label}.tokens", "reshape", [att], {"shape": [L, E]})
        else:
            raise Unsupported(f"{self.where(n)}: attention output reshaped to {shape}")

    def emit_window_attention(self, n, found):
        """[B, G, P, 3 E] -> [B, G P, 3 E] -> attention over windows of P tokens (with the
        bias) -> [B, G P, E] -> [B, G, P, E]: the op MaxViT's torch.fx route makes."""
        X, (B, G, P, E) = found["qkv"], found["shape"]
        label = n.name or n.output[0]
        flat = self.g.add(f"{label}.tokens", "reshape", [self.tensor_of(X)],
                          {"shape": [B, G * P, 3 * E]})
        params = {}
        if found["bias"] is not None:
            params[f"{label}.relative_position_bias"] = self.torch_of(found["bias"])
        att = self.g.add(f"{label}.attention", "attention", [flat],
                         {"heads": int(found["heads"]), "window": int(P),
                          "scale": float(found["scale"]), "bias": found["bias"] is not None},
                         params)
        self.env[found["out"]] = self.g.add(f"{label}.windows", "reshape", [att],
                                            {"shape": [B, G, P, E]})
