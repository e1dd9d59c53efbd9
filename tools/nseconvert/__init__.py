"""nsengine's converters: a graph builder shared by the PyTorch (torch.fx) and ONNX importers,
the torchvision zoo, and the model file writer."""
