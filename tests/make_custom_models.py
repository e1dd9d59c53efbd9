#!/usr/bin/python3
"""Converts small hand-written nn.Modules with the converter, for the parity tests of ops that no
converted torchvision model of the test set uses yet (a sigmoid gate). Writes
<out>/<name>.safetensors and <name>.ref.safetensors as convert_torchvision.py does.

  /usr/bin/python3 tests/make_custom_models.py OUT_DIR
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import convert_torchvision as cv  # noqa: E402


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


def main(out):
    torch.manual_seed(7)
    model = SigmoidGate().eval()
    cv.convert(model, "sigmoid_gate", [1, 3, 16, 16], out,
               {"nsengine.weights": "random(seed=7)", "nsengine.source": "tests/make_custom_models.py"}, 7)
    print(f"wrote {out}/sigmoid_gate.safetensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models")
