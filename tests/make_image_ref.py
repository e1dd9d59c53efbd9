#!/usr/bin/python3
"""Writes OUT/test_image.png (a synthetic 301x217 photo-like picture) and
OUT/test_image.ref.safetensors: torchvision's preprocessing of it for ImageNet models
(Resize(256), CenterCrop(224), ToTensor, Normalize) and for LeNet (greyscale, Resize(28),
CenterCrop(28), Normalize). The C++ image tests compare nsengine's preprocessing with these."""
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from nseconvert.graph import write_safetensors  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
h, w = 217, 301
yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
rng = np.random.default_rng(3)
img = np.stack([128 + 100 * np.sin(xx / 17.0), 128 + 100 * np.cos(yy / 11.0),
                (xx + yy) % 256], axis=-1)
img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
path = os.path.join(out, "test_image.png")
Image.fromarray(img).save(path)

pil = Image.open(path).convert("RGB")
imagenet = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(pil)
mnist = transforms.Compose([
    transforms.Grayscale(), transforms.Resize(28), transforms.CenterCrop(28),
    transforms.ToTensor(), transforms.Normalize([0.1307], [0.3081])])(pil)
write_safetensors(os.path.join(out, "test_image.ref.safetensors"),
                  {"imagenet": imagenet.unsqueeze(0), "mnist": mnist.unsqueeze(0)}, {})
print(f"wrote {path} and its torchvision preprocessing")
