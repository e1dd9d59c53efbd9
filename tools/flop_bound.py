#!/usr/bin/env python3
"""How fast a torchvision network could run at a core's FMA peak, against a peer's measured time.

For each model: the multiply-adds of its convolutions and linear layers as PyTorch runs them
(2 FLOP each), once as direct convolutions and once with the 3x3 layers nsengine runs by
Winograd (kernels/cpu/winograd.h's rule: F(4x4) where a map has at least 25 tiles of 4x4,
F(2x2) where it has at least 36 of 2x2 and 128 channels in and out) counted at their
transforms' multiplies, tile padding included; each divided by --peak (GFLOP/s, a loop of
independent FMA chains measures it) and by the peer's time. A ratio above a speed goal (say
0.8 of the peer) means the goal needs fewer multiply-adds than the network has, not faster
kernels. Memory traffic (AlexNet's fully connected weights) is not counted.

  /usr/bin/python3 tools/flop_bound.py --peak 113 mobilenet_v2=7.53 resnet50=77.04 ...
"""
import argparse
import math
import warnings

import torch
import torchvision


def flops(name):
    """(direct FLOP, FLOP with nsengine's Winograd layers) of one forward pass at 224x224."""
    net = getattr(torchvision.models, name)().eval()
    total = [0.0, 0.0]

    def conv(m, inp, out):
        c = inp[0].shape[1]
        k, p, q = out.shape[1:]
        f = 2.0 * k * p * q * (c // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        eff = f
        if (m.kernel_size == (3, 3) and m.stride == (1, 1) and m.dilation == (1, 1)
                and m.groups == 1 and c >= 16 and k >= 16):
            t4 = math.ceil(p / 4) * math.ceil(q / 4)
            t2 = math.ceil(p / 2) * math.ceil(q / 2)
            if t4 >= 25:
                eff = f * (36 / 144) * (t4 * 16) / (p * q)
            elif t2 >= 36 and c >= 128 and k >= 128:
                eff = f * (16 / 36) * (t2 * 4) / (p * q)
        total[0] += f
        total[1] += eff

    def linear(m, inp, out):
        f = 2.0 * m.out_features * inp[0].numel()  # every row of tokens or images
        total[0] += f
        total[1] += f

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        net(torch.randn(1, 3, 224, 224))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peak", type=float, required=True, help="the core's FMA peak, GFLOP/s")
    ap.add_argument("models", nargs="+", help="MODEL=PEER_MS (a torchvision name)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print("| model | GFLOP | peer ms | at peak, direct ms | / peer | at peak, with Winograd ms "
          "| / peer |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for item in args.models:
        name, _, ms = item.partition("=")
        if not hasattr(torchvision.models, name) or not ms:
            ap.error(f"{item}: want MODEL=PEER_MS with a torchvision model name")
        peer = float(ms)
        direct, wino = flops(name)
        d, w = direct / 1e6 / args.peak, wino / 1e6 / args.peak
        print(f"| {name} | {direct / 1e9:.2f} | {peer:.2f} | {d:.2f} | {d / peer:.2f} | {w:.2f} "
              f"| {w / peer:.2f} |")


if __name__ == "__main__":
    main()
