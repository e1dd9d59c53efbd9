#!/usr/bin/python3
"""The converter's other routes and their bad input: your own nn.Module (--module), the model
list (--list), and ONNX files (tools/convert_onnx.py): each mistake is one clear line and exit
code 2, never a traceback."""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import convert_onnx as co  # noqa: E402
import convert_torchvision as cv  # noqa: E402

MODULE = '''
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)
    def forward(self, x):
        return self.fc(F.silu(self.conv(x)).mean([2, 3]))

def make():
    return Net()

def broken():
    raise ValueError("no such layer size")

def softplus_net():
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.Softplus())

not_callable = 3
'''


def read_tensor(path, name):
    """One F32 tensor of a safetensors file."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        begin, end = header[name]["data_offsets"]
        f.seek(8 + n + begin)
        data = f.read(end - begin)
    return torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(header[name]["shape"])


def run_main(fn, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fn(argv)
    return code, out.getvalue(), err.getvalue()


class ModuleRoute(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.file = os.path.join(self.dir, "mine.py")
        with open(self.file, "w") as f:
            f.write(MODULE)

    def tearDown(self):
        self.tmp.cleanup()

    def convert(self, *extra):
        return run_main(cv.main, ["--out", self.dir, *extra])

    def test_converts_with_its_shape_and_name(self):
        code, out, err = self.convert("--module", f"{self.file}:make", "--input-shape",
                                      "1,3,10,12", "--name", "mine")
        self.assertEqual(code, 0, err)
        meta = cv.read_metadata(os.path.join(self.dir, "mine.safetensors"))
        graph = json.loads(meta["nsengine.graph"])
        self.assertEqual(graph["input"]["shape"], [1, 3, 10, 12])
        self.assertEqual([n["op"] for n in graph["nodes"]],
                         ["conv2d", "silu", "adaptive_avg_pool2d", "flatten", "linear"])
        self.assertTrue(meta["nsengine.source"].startswith("module mine.py"))

    def test_state_dict_is_loaded(self):
        torch.manual_seed(3)
        sys.path.insert(0, self.dir)
        import mine  # noqa: E402
        net = mine.make()
        torch.save(net.state_dict(), os.path.join(self.dir, "w.pth"))
        code, _, err = self.convert("--module", f"{self.file}:make", "--input-shape", "1,3,8,8",
                                    "--state-dict", os.path.join(self.dir, "w.pth"))
        self.assertEqual(code, 0, err)
        got = read_tensor(os.path.join(self.dir, "mine.safetensors"), "conv.weight")
        self.assertTrue(torch.equal(got, net.state_dict()["conv.weight"]))

    def one_line(self, code, err, needle):
        self.assertEqual(code, 2, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(needle, lines[0])

    def test_needs_input_shape(self):
        self.one_line(*self.convert("--module", f"{self.file}:make")[::2],
                      "--module needs --input-shape")

    def test_missing_file_and_factory(self):
        self.one_line(*self.convert("--module", "/nonexistent/x.py:make", "--input-shape",
                                    "1,3,8,8")[::2], "no file /nonexistent/x.py")
        self.one_line(*self.convert("--module", f"{self.file}:nope", "--input-shape",
                                    "1,3,8,8")[::2], "has no callable 'nope'")
        self.one_line(*self.convert("--module", f"{self.file}:not_callable", "--input-shape",
                                    "1,3,8,8")[::2], "has no callable 'not_callable'")
        self.one_line(*self.convert("--module", self.file, "--input-shape", "1,3,8,8")[::2],
                      "takes FILE.py:FACTORY")
        self.one_line(*self.convert("--module", f"{self.file}:broken", "--input-shape",
                                    "1,3,8,8")[::2], "broken() failed: ValueError")

    def test_wrong_input_shape(self):
        self.one_line(*self.convert("--module", f"{self.file}:make", "--input-shape",
                                    "1,4,8,8")[::2], "does not run on an input of shape")
        self.one_line(*self.convert("--module", f"{self.file}:make", "--input-shape",
                                    "1,3,x,8")[::2], "--input-shape takes N,C,H,W integers")
        self.one_line(*self.convert("--module", f"{self.file}:make", "--input-shape",
                                    "2,3,8,8")[::2], "must be 1,C,H,W")

    def test_unsupported_op_names_module(self):
        self.one_line(*self.convert("--module", f"{self.file}:softplus_net", "--input-shape",
                                    "1,3,8,8")[::2], "unsupported op Softplus at module 1")


class ListRoute(unittest.TestCase):
    def test_list_names_every_torchvision_model(self):
        code, out, _ = run_main(cv.main, ["--list", "--json"])
        self.assertEqual(code, 0)
        rows = {r["name"]: r for r in json.loads(out)}
        import torchvision
        for name in torchvision.models.list_models(module=torchvision.models):
            self.assertIn(name, rows)
        self.assertTrue(rows["shufflenet_v2_x1_0"]["converts"])
        self.assertTrue(rows["vit_b_16"]["converts"])
        self.assertTrue(rows["maxvit_t"]["converts"])
        # All 80 and LeNet
        self.assertEqual(sum(r["converts"] for r in rows.values()), 81)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.cos(self.conv(x))


class Tokens(nn.Module):
    """8x8 -> 16 tokens of 8 values, then self-attention that also returns its weights (the
    attention pattern does not hold: the weights are read) or a token picked by Gather on the
    batch axis."""

    def __init__(self, what):
        super().__init__()
        self.what = what
        self.conv = nn.Conv2d(3, 8, 2, stride=2)
        self.att = nn.MultiheadAttention(8, 2)

    def forward(self, x):
        t = self.conv(x).flatten(2).permute(2, 0, 1)  # [L, N, E]
        if self.what == "weights":
            y, w = self.att(t, t, t, need_weights=True)
            return y.sum(0) + w.sum(1)[:, :8]
        return t[0]  # Gather on axis 0, which the importer takes for the batch


class OnnxRoute(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def export(self, model, name, dynamic=None, opset=13):
        path = os.path.join(self.dir, f"{name}.onnx")
        torch.onnx.export(model.eval(), torch.randn(1, 3, 8, 8), path, opset_version=opset,
                          input_names=["input"], dynamic_axes=dynamic)
        return path

    def one_line(self, argv, needle):
        code, _, err = run_main(co.main, argv + ["--out", self.dir])
        self.assertEqual(code, 2, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(needle, lines[0])

    def test_silu_is_one_op(self):
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(8, 5))
        code, _, err = run_main(co.main, [self.export(net, "silu", opset=17), "--out", self.dir])
        self.assertEqual(code, 0, err)
        graph = json.loads(cv.read_metadata(os.path.join(self.dir, "silu.safetensors"))
                           ["nsengine.graph"])
        self.assertEqual([n["op"] for n in graph["nodes"]],
                         ["conv2d", "silu", "adaptive_avg_pool2d", "flatten", "linear"])

    def test_unsupported_op_names_node_and_type(self):
        self.one_line([self.export(Tiny(), "tiny")], "unsupported op Cos at node")

    def test_attention_weights_read_and_gather_on_the_batch(self):
        self.one_line([self.export(Tokens("weights"), "weights", opset=17)],
                      "MatMul other than [N, ..., in] x constant")
        self.one_line([self.export(Tokens("gather"), "gather", opset=17)],
                      "Gather other than one index along a non-batch axis")

    def test_truncated_and_missing_files(self):
        path = self.export(nn.Conv2d(3, 4, 3), "conv")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        self.one_line([path], "is not a valid ONNX model")
        self.one_line([os.path.join(self.dir, "none.onnx")], "no file")

    def test_dynamic_non_batch_dimension(self):
        path = self.export(nn.Conv2d(3, 4, 3), "dyn", {"input": {0: "b", 2: "height"}})
        self.one_line([path], "dynamic dimension 2 ('height'): give --input-shape")
        code, out, err = run_main(co.main, [path, "--out", self.dir, "--input-shape",
                                            "1,3,8,8"])
        self.assertEqual(code, 0, err)
        self.one_line([path, "--input-shape", "1,5,8,8"], "does not fit input")

    def test_opset_out_of_range(self):
        self.one_line([self.export(nn.Conv2d(3, 4, 3), "old", opset=9)],
                      "opset 9: nsengine imports opsets 11 to 17")


if __name__ == "__main__":
    unittest.main()
