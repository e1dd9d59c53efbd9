"""The vision transformers' attention blocks, as torch.fx leaves them in the traced graph, to
nsengine nodes. Mixed into FxImporter.

Swin Transformer's wrapped functions (torchvision.models.swin_transformer):
shifted_window_attention(x [N, H, W, C], ...) becomes window_partition (pad, cyclic shift,
windows), linear (qkv), attention (windows, relative position bias, the shifted windows' mask),
linear (proj) and window_reverse; _patch_merging_pad becomes four strided slices and a concat.
The relative position bias, computed from the model's constants (a table lookup; Swin V2's
continuous-position MLP), arrives as a folded constant.

MaxViT's RelativePositionalMultiHeadAttention (traced as a leaf: LEAF_MODULES) on [B, G, P, D]
(G windows or grid cells of P tokens) becomes a reshape to [B, G P, D], linear (to_qkv),
attention over windows of P tokens with its relative position bias, linear (merge) and a reshape
back."""

import math

import torch

from .graph import Unsupported


def shift_mask(pad_h, pad_w, window, shift):
    """The -100/0 mask torchvision adds to a shifted window's scores: [windows, L, L], tokens of
    a window that came from different regions of the rolled map do not attend to each other."""
    regions = torch.zeros(pad_h, pad_w)
    count = 0
    for h in ((0, -window[0]), (-window[0], -shift[0]), (-shift[0], None)):
        for w in ((0, -window[1]), (-window[1], -shift[1]), (-shift[1], None)):
            regions[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    windows = (pad_h // window[0]) * (pad_w // window[1])
    regions = regions.view(pad_h // window[0], window[0], pad_w // window[1], window[1])
    regions = regions.permute(0, 2, 1, 3).reshape(windows, window[0] * window[1])
    diff = regions.unsqueeze(1) - regions.unsqueeze(2)
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


# Modules traced as leaves (their forward's einsums and chunked heads become one attention op).
LEAF_MODULES = ("torchvision.models.maxvit.RelativePositionalMultiHeadAttention",)


def is_leaf(module):
    return f"{type(module).__module__}.{type(module).__name__}" in LEAF_MODULES


class TransformerImports:
    def param_prefix(self, node, fallback):
        """'features.1.0.attn' for a weight fetched by get_attr as features.1.0.attn.qkv.weight."""
        if isinstance(node, torch.fx.Node) and node.op == "get_attr":
            return str(node.target).rsplit(".", 2)[0]
        return fallback

    def shifted_window_attention(self, n):
        names = ("input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size",
                 "num_heads", "shift_size", "attention_dropout", "dropout", "qkv_bias",
                 "proj_bias", "logit_scale")
        a = dict(zip(names, n.args))
        a.update(n.kwargs)
        x = a["input"]
        if not self.is_tensor(x) or self.rank(x) != 4:
            raise Unsupported(f"shifted_window_attention on other than an [N, H, W, C] tensor at "
                              f"{self.where(n)}")
        qkv_w, proj_w = self.const(a["qkv_weight"]), self.const(a["proj_weight"])
        bias = self.const(a["relative_position_bias"])
        qkv_b, proj_b = self.const(a.get("qkv_bias")), self.const(a.get("proj_bias"))
        logit = self.const(a.get("logit_scale"))
        window = [int(w) for w in self.const(a["window_size"])]
        shift = [int(s) for s in self.const(a.get("shift_size", [0, 0]))]
        heads = int(self.const(a["num_heads"]))
        for t in (qkv_w, proj_w, bias):
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                raise Unsupported(f"shifted_window_attention with weights computed from the "
                                  f"input at {self.where(n)}")
        _, h, w, c = self.shape(x)
        pad_h, pad_w = math.ceil(h / window[0]) * window[0], math.ceil(w / window[1]) * window[1]
        shift = [0 if window[0] >= pad_h else shift[0], 0 if window[1] >= pad_w else shift[1]]
        tokens = window[0] * window[1]
        label = self.param_prefix(a["qkv_weight"], n.name)
        src = self.materialize(self.env[x], n)
        part = self.g.add(f"{label}.windows", "window_partition", [src],
                          {"window": window, "shift": shift})
        qkv_b = qkv_b.clone() if qkv_b is not None else torch.zeros(qkv_w.shape[0])
        if logit is not None:
            qkv_b[c:2 * c] = 0  # (Swin V2's qkv bias has no k part)
        qkv = self.g.add(f"{label}.qkv", "linear", [part], {},
                         {f"{label}.qkv.weight": qkv_w, f"{label}.qkv.bias": qkv_b})
        # Params in the op's order: bias, mask, head_scale.
        attrs = {"heads": heads, "window": tokens, "bias": True}
        params = {f"{label}.relative_position_bias": bias.reshape(heads, tokens, tokens)}
        if sum(shift) > 0:
            attrs["mask"] = True
            params[f"{label}.shift_mask"] = shift_mask(pad_h, pad_w, window, shift)
        if logit is not None:
            # Swin V2's cosine attention: q and k normalised, scaled per head by the clamped
            # exp of logit_scale.
            attrs["normalize"] = attrs["head_scale"] = True
            params[f"{label}.logit_scale"] = torch.clamp(logit, max=math.log(100.0)).exp() \
                .reshape(heads)
        att = self.g.add(label, "attention", [qkv], attrs, params)
        proj_b = proj_b if proj_b is not None else torch.zeros(proj_w.shape[0])
        proj = self.g.add(f"{label}.proj", "linear", [att], {},
                          {f"{label}.proj.weight": proj_w, f"{label}.proj.bias": proj_b})
        self.bind(n, self.g.add(f"{label}.windows_back", "window_reverse", [proj],
                                {"window": window, "shift": shift, "size": [h, w]}))

    def patch_merging_pad(self, n):
        """x [..., H, W, C] -> [..., H/2, W/2, 4C]: the even/odd rows and columns side by side."""
        x = n.args[0]
        if not self.is_tensor(x) or self.rank(x) != 4:
            raise Unsupported(f"_patch_merging_pad on other than [N, H, W, C] at {self.where(n)}")
        _, h, w, _ = self.shape(x)
        if h % 2 or w % 2:
            raise Unsupported(f"patch merging of an odd {h}x{w} map (padding) at {self.where(n)}")
        src = self.materialize(self.env[x], n)
        parts = []
        for i, (r, c) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
            rows = self.g.add(f"{n.name}.x{i}.rows", "slice", [src],
                              {"dim": 1, "start": r, "end": h, "step": 2})
            parts.append(self.g.add(f"{n.name}.x{i}", "slice", [rows],
                                    {"dim": 2, "start": c, "end": w, "step": 2}))
        self.bind(n, self.g.add(n.name, "concat", parts, {"dim": 3}))

    def relative_attention(self, n, m):
        """MaxViT's attention on [B, G, P, D]: softmax(q (k scale)^T + bias) v per window or
        grid cell of P tokens, its heads of head_dim values, scale feat_dim^-0.5 (as it is)."""
        x = self.view(n)
        if self.rank(n.args[0]) != 4:
            raise Unsupported(f"RelativePositionalMultiHeadAttention on a rank-"
                              f"{self.rank(n.args[0])} tensor at module {n.target}")
        _, g, p, d = self.shape(n.args[0])
        src = self.materialize(x, n)
        flat = self.g.add(f"{n.target}.tokens", "reshape", [src], {"shape": [1, g * p, d]})
        qkv = self.g.add(f"{n.target}.to_qkv", "linear", [flat], {},
                         {f"{n.target}.to_qkv.weight": m.to_qkv.weight,
                          f"{n.target}.to_qkv.bias": m.to_qkv.bias})
        with torch.no_grad():
            bias = m.get_relative_positional_bias()[0].detach()
        att = self.g.add(n.target, "attention", [qkv],
                         {"heads": int(m.n_heads), "window": p, "scale": float(m.scale_factor),
                          "bias": True},
                         {f"{n.target}.relative_position_bias": bias})
        merge = self.g.add(f"{n.target}.merge", "linear", [att], {},
                           {f"{n.target}.merge.weight": m.merge.weight,
                            f"{n.target}.merge.bias": m.merge.bias})
        self.bind(n, self.g.add(f"{n.target}.windows", "reshape", [merge],
                                {"shape": [1, g, p, d]}))
