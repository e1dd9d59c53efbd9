"""The networks the converter knows by name: every classification model torchvision lists
(built with its default input size and preprocessing) and LeNet-5; seeded random weights made
usable (scale_random_weights)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MNIST_PREPROCESS = {"resize": 28, "crop": 28, "mean": [0.1307], "std": [0.3081]}
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
ALIASES = {"alex_net": "alexnet", "vgg_net": "vgg16", "vgg": "vgg16", "le_net": "lenet",
           "mobile_net": "mobilenet_v2", "mobilenet": "mobilenet_v2", "resnet": "resnet18"}
# The models the tests and the demo use (convert_torchvision.py --all).
DEFAULT_SET = ["lenet", "alexnet", "mobilenet_v2", "resnet18", "vgg16"]
# Families the converter does not take yet, and why.
NOT_YET = {}


class LeNet(nn.Module):
    """LeNet-5 on 1x28x28 inputs, as in the seed project."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def torchvision_names():
    """Every classification model torchvision lists."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def known_names():
    return ["lenet"] + torchvision_names()


def not_yet(name):
    """Why the converter does not take this torchvision model yet, or None."""
    for prefix, why in NOT_YET.items():
        if name.startswith(prefix):
            return why
    return None


def canonical(name):
    return ALIASES.get(name, name)


def default_input(name):
    """(input shape, preprocess dict, class names) of a known model: torchvision's transforms of
    its default weights give the crop and resize sizes (299 for Inception v3, 600 for
    EfficientNet-B7)."""
    if name == "lenet":
        return [1, 1, 28, 28], MNIST_PREPROCESS, [str(d) for d in range(10)]
    weights = torchvision.models.get_model_weights(name).DEFAULT
    t = weights.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0])
    prep = {"resize": resize, "crop": crop, "mean": list(t.mean), "std": list(t.std)}
    return [1, 3, crop, crop], prep, list(weights.meta["categories"])


def build(name, weights):
    """The model, in eval mode; weights is 'random' or 'imagenet'."""
    if name == "lenet":
        if weights == "imagenet":
            raise SystemExit("lenet has no ImageNet weights; use --weights random or --state-dict")
        return LeNet().eval()
    kwargs = {}
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True  # (what torchvision does by default, without the warning)
    if name.startswith("vit_"):
        # A ViT takes one image size (its position embedding has a row per patch): the size of
        # its default weights' transforms, 518 for ViT-H/14 (torchvision's own constructor
        # defaults to 224 without weights).
        kwargs["image_size"] = default_input(name)[0][2]
    model = torchvision.models.get_model(name, weights="DEFAULT" if weights == "imagenet" else None,
                                         **kwargs)
    return model.eval()


def randomize_batchnorm(model, seed):
    """Fresh BatchNorm layers are identities; random statistics make the folding testable."""
    g = torch.Generator().manual_seed(seed + 7)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.1 * torch.randn(n, generator=g)
            m.running_mean = 0.1 * torch.randn(n, generator=g)
            m.running_var = 0.5 + torch.rand(n, generator=g)
    # ConvNeXt's layer scales start at 1e-6, which would hide every block from the comparison;
    # weights that start at zero (ViT's classifier head and class token) would hide the whole
    # network: they get seeded values of the scale a fresh layer of their fan-in has.
    for pname, p in model.named_parameters():
        if pname.endswith("layer_scale"):
            p.data = 0.2 + 0.3 * torch.rand(p.shape, generator=g)
        elif p.dim() >= 2 and not p.any():
            p.data = torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5


def scale_random_weights(model, shape, seed):
    """Random weights as torchvision initialises them lose the input layer after layer: AlexNet,
    VGG16 and MobileNetV2 gave the same classes and probabilities (to 1e-9) for any image. As a
    data-dependent initialisation does, each convolution, linear and BatchNorm layer is set from
    its statistics on a seeded random batch, in one forward pass (each layer's hook adjusts the
    layer and passes on the output the adjusted layer gives): convolutions and linear layers
    with a bias have each output channel centred and scaled to unit deviation, those without
    only scaled; BatchNorm layers get the batch's mean and variance as running statistics (their
    random scale and shift stay, so the folding is still tested). The network's cost is
    unchanged; its answers now depend on the input."""
    g = torch.Generator().manual_seed(seed + 11)
    x = torch.randn([2 if shape[2] > 256 else 4] + list(shape[1:]), generator=g)
    done = set()

    def hook(layer, inputs, y):
        if layer in done:
            return None
        done.add(layer)
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(inputs[0].mean(dim=(0, 2, 3)))
            layer.running_var.copy_(inputs[0].var(dim=(0, 2, 3)) + 1e-3)
            return F.batch_norm(inputs[0], layer.running_mean, layer.running_var, layer.weight,
                                layer.bias, False, 0.0, layer.eps)
        dims = tuple(range(y.dim() - 1)) if isinstance(layer, nn.Linear) else (0, 2, 3)
        shape = [1] * (y.dim() - 1) + [-1] if isinstance(layer, nn.Linear) else [1, -1, 1, 1]
        samples = y.numel() // y.shape[-1 if isinstance(layer, nn.Linear) else 1]
        if samples >= 64:
            std = y.std(dim=dims).clamp_min(1e-6)
        else:
            # Too few values per channel (a classifier on a batch of four, a squeeze-and-excite
            # convolution on 1x1 maps) for a statistic of each: one scale for the layer, or the
            # quiet channels are blown up and the network's answer becomes chaotic.
            std = y.std().clamp_min(1e-6).expand(y.shape[-1 if isinstance(layer, nn.Linear)
                                                         else 1]).clone()
        layer.weight /= std.view([-1] + [1] * (layer.weight.dim() - 1))
        if layer.bias is None:
            return y / std.view(shape)
        mean = y.mean(dim=dims) if samples >= 64 else y.mean().expand_as(std).clone()
        layer.bias -= mean
        layer.bias /= std
        return (y - mean.view(shape)) / std.view(shape)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def make_random(model, shape, seed):
    randomize_batchnorm(model, seed)
    scale_random_weights(model, shape, seed)
