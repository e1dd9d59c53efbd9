#!/usr/bin/python3
"""A network of your own, as the README's "Bring your own model" converts it: a small CNN with a
squeeze-and-excite block and SiLU, built only from ops nsengine supports.

  /usr/bin/python3 tools/convert_torchvision.py --module examples/my_net.py:make \\
      --input-shape 1,3,64,64 --out models             # the nn.Module route
  /usr/bin/python3 examples/my_net.py my_net.onnx      # this file, exported to ONNX (opset 17)
  /usr/bin/python3 tools/convert_onnx.py my_net.onnx --out models   # the ONNX route
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class SqueezeExcite(nn.Module):
    def __init__(self, c, squeezed):
        super().__init__()
        self.reduce = nn.Conv2d(c, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MyNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(32), nn.SiLU())
        self.block = nn.Sequential(nn.Conv2d(32, 32, 5, padding=2, groups=32, bias=False),
                                   nn.BatchNorm2d(32), nn.SiLU(), SqueezeExcite(32, 8),
                                   nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(64, classes))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


def make():
    """The factory `--module examples/my_net.py:make` calls."""
    return MyNet()


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "my_net.onnx"
    torch.manual_seed(0)
    torch.onnx.export(make().eval(), torch.randn(1, 3, 64, 64), out, opset_version=17,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    print(f"wrote {out}")
