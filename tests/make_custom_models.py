#!/usr/bin/python3
"""Converts small hand-written nn.Modules, for the parity tests of ops and converter paths no
model of the test set exercises alone: a sigmoid gate, every smooth activation, a
squeeze-and-excite block, a DenseNet-order batch norm, a channel shuffle with chunk, a
ConvNeXt-style channels-last block, broadcasting constants, small vision transformers (ViT: class
token, position embedding, multi-head self-attention; Swin V1 and V2: shifted and padded
windows, relative position bias, cosine attention, patch merging; MaxViT: window and grid
partitions, MBConv), and the ONNX route (modules exported to ONNX and imported, the tiny ViT
among them, their reference computed by PyTorch). Writes
<out>/<name>.safetensors and <name>.ref.safetensors as convert_torchvision.py does.

  /usr/bin/python3 tests/make_custom_models.py OUT_DIR
"""
import os
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import convert_onnx  # noqa: E402
import convert_torchvision as cv  # noqa: E402
from nseconvert import zoo  # noqa: E402


class SigmoidGate(nn.Module):
    """conv + relu, a sigmoid gate over a second conv, flatten, a linear classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.gate = nn.Sigmoid()
        self.fc = nn.Linear(24 * 8 * 8, 10)

    def forward(self, x):
        x = self.gate(self.conv2(self.relu(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))


class Activations(nn.Module):
    """Every smooth activation, as modules and as functions, between convolutions."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.c3 = nn.Conv2d(8, 8, 1)
        self.act = nn.Hardswish()

    def forward(self, x):
        x = F.silu(self.c1(x))
        x = self.act(self.c2(x))
        x = F.gelu(self.c3(x)) + F.hardsigmoid(x) + torch.sigmoid(x) * 0.5
        return x.mean([2, 3])


class SqueezeExcite(nn.Module):
    """MobileNetV3's block: dilated depthwise 5x5, SE (pool, two 1x1 convs, hardsigmoid, the
    product broadcast over H, W), a residual add; then a grouped conv and an unfoldable BN."""

    def __init__(self, c=16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 5, padding=4, dilation=2, groups=c)
        self.fc1 = nn.Conv2d(c, 4, 1)
        self.fc2 = nn.Conv2d(4, c, 1)
        self.grouped = nn.Conv2d(c, 2 * c, 3, padding=1, groups=4)
        self.bn = nn.BatchNorm2d(2 * c)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)

    def forward(self, x):
        y = F.relu(self.dw(x))
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        y = y * s + x
        z = self.grouped(y)
        z = F.relu(self.bn(z + 0.25))
        return self.avg(self.pool(z))


class DenseOrder(nn.Module):
    """BN -> ReLU -> conv, as DenseNet's layers run (the BN cannot be folded), with concat."""

    def __init__(self):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(3)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(9)
        self.conv2 = nn.Conv2d(9, 4, 1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        x = torch.cat([x, y], 1)
        return torch.flatten(self.conv2(F.relu(self.bn2(x))), 1)


class CountedPadPools(nn.Module):
    """Average pools that count their padding (PyTorch's default), as inception_v3's branches
    (3x3, stride 1) and MaxViT's downsampling (3x3, stride 2) use them: ONNX exports each as a
    Pad of zeros before a pool without pads."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = F.avg_pool2d(F.relu(self.conv1(x)), 3, stride=1, padding=1)
        return torch.flatten(F.avg_pool2d(self.conv2(y), 3, stride=2, padding=1), 1)


class Shuffle(nn.Module):
    """ShuffleNetV2's unit: chunk, a branch, concat, channel shuffle (view, transpose, view)."""

    def __init__(self, c=16):
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(c // 2, c // 2, 1), nn.ReLU(),
                                    nn.Conv2d(c // 2, c // 2, 3, padding=1, groups=c // 2))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, self.branch(b)), dim=1)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous()
        return x.view(n, -1, h, w)


class ChannelsLast(nn.Module):
    """ConvNeXt's block: depthwise 7x7, permute to channels-last, layer norm, linear, GELU,
    linear, permute back, a layer scale, a residual add; then a layer norm over channels as
    ConvNeXt's LayerNorm2d computes it."""

    def __init__(self, c=16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.scale = nn.Parameter(0.5 + torch.rand(c, 1, 1))
        self.norm2 = nn.LayerNorm(c)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        x = x + self.scale * y
        x = self.norm2(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x


def tiny_vit():
    """torchvision's VisionTransformer at a test's size: 16 patches and a class token (17
    tokens, odd against every vector width), 4 heads of 16 values, 2 blocks."""
    import torchvision
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                                                num_heads=4, hidden_dim=64, mlp_dim=128,
                                                num_classes=10)


def tiny_swin(v2=False):
    """torchvision's Swin Transformer (V1, or V2's cosine attention and continuous position
    bias) at a test's size: a 20x20 map after the 2x2 patch embedding, windows of 4 (shifted by
    2) in stage one, 10x10 after merging (windows padded to 12x12), two stages."""
    from torchvision.models import swin_transformer as st
    kw = dict(block=st.SwinTransformerBlockV2, downsample_layer=st.PatchMergingV2) if v2 else {}
    return st.SwinTransformer(patch_size=[2, 2], embed_dim=24, depths=[2, 2], num_heads=[2, 3],
                              window_size=[4, 4], num_classes=10, **kw)


def tiny_maxvit():
    """torchvision's MaxViT at a test's size: a 32x32 input, partitions of 4 (window and grid
    attention over 16 tokens, heads of 8), two blocks of one layer each."""
    from torchvision.models.maxvit import MaxVit
    return MaxVit(input_size=(32, 32), stem_channels=16, partition_size=4, block_channels=[16, 32],
                  block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)


def write(model, name, shape, out, seed=7):
    torch.manual_seed(seed)
    model = model.eval()
    zoo.make_random(model, shape, seed)
    cv.convert(model, name, shape, out, {"nsengine.weights": f"random(seed={seed})",
                                         "nsengine.source": "tests/make_custom_models.py"}, seed)
    print(f"wrote {out}/{name}.safetensors")


def write_via_onnx(model, name, shape, out, seed=7, opset=13):
    """Exported to ONNX (a symbolic batch) and imported; PyTorch gives the reference."""
    torch.manual_seed(seed)
    model = model.eval()
    zoo.make_random(model, shape, seed)
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.onnx")
        torch.onnx.export(model, torch.randn(shape), path, opset_version=opset,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})

        def reference(x):
            with torch.no_grad():
                return model(x)
        convert_onnx.convert_onnx(onnx.load(path), name, out, None, seed, reference,
                                  {"nsengine.source": "tests/make_custom_models.py via ONNX"})
    print(f"wrote {out}/{name}.safetensors (through ONNX)")


def main(out):
    torch.manual_seed(7)
    model = SigmoidGate().eval()
    cv.convert(model, "sigmoid_gate", [1, 3, 16, 16], out,
               {"nsengine.weights": "random(seed=7)", "nsengine.source": "tests/make_custom_models.py"}, 7)
    print(f"wrote {out}/sigmoid_gate.safetensors")
    write(Activations(), "activations", [1, 3, 12, 12], out)
    write(SqueezeExcite(), "squeeze_excite", [1, 16, 15, 15], out)
    write(DenseOrder(), "dense_order", [1, 3, 6, 6], out)
    write(Shuffle(), "shuffle", [1, 16, 7, 9], out)
    write(ChannelsLast(), "channels_last", [1, 16, 10, 10], out)
    write(tiny_vit(), "tiny_vit", [1, 3, 32, 32], out)
    write(tiny_swin(), "tiny_swin", [1, 3, 40, 40], out)
    write(tiny_swin(v2=True), "tiny_swin_v2", [1, 3, 40, 40], out)
    write(tiny_maxvit(), "tiny_maxvit", [1, 3, 32, 32], out)
    write_via_onnx(Activations(), "onnx_activations", [1, 3, 12, 12], out)
    write_via_onnx(Shuffle(), "onnx_shuffle", [1, 16, 7, 9], out)
    write_via_onnx(ChannelsLast(), "onnx_channels_last", [1, 16, 10, 10], out)
    write_via_onnx(DenseOrder(), "onnx_dense_order", [1, 3, 6, 6], out)
    write_via_onnx(CountedPadPools(), "onnx_counted_pad_pools", [1, 3, 11, 11], out, opset=17)
    # nn.MultiheadAttention's exported form (slices, head reshapes, MatMul, Softmax, MatMul) as
    # one attention op, the class token's guarded expand folded, GELU into its linear layer.
    write_via_onnx(tiny_vit(), "onnx_tiny_vit", [1, 3, 32, 32], out, opset=17)
    # MaxViT's exported window and grid attention (three Slices, head reshapes, two Einsums, the
    # relative position bias added) as one attention op over windows; its MBConv's pools.
    write_via_onnx(tiny_maxvit(), "onnx_tiny_maxvit", [1, 3, 32, 32], out, opset=17)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models")
