#!/usr/bin/python3
"""The converter stops with exit code 2 and names the op and module path it cannot convert."""
import contextlib
import io
import sys
import tempfile
import unittest

import torch
import torch.nn as nn

import convert_torchvision as cv


class Softplus(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.Softplus()

    def forward(self, x):
        return self.act(self.conv(x))


class BatchNormFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x)


class Cos(nn.Module):
    def forward(self, x):
        return torch.cos(x)


class Gate(nn.Module):
    """A sigmoid gate, as squeeze-and-excite blocks use: x * sigmoid(conv(x)) without the product."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return torch.sigmoid(self.gate(self.conv(x)))


class TokenAttention(nn.Module):
    """A conv's pixels as tokens through multi-head self-attention; the first token classified."""

    def __init__(self, batch_first=True, cross=False, mask=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=batch_first)
        self.fc = nn.Linear(16, 5)
        self.cross, self.mask = cross, mask

    def forward(self, x):
        x = self.conv(x).flatten(2).transpose(1, 2)
        y = x * 2 if self.cross else x
        m = torch.zeros(36, 36, dtype=torch.bool) if self.mask else None
        a, _ = self.attn(x, y, y, need_weights=False, attn_mask=m)
        return self.fc(a[:, 0])


class ConverterTest(unittest.TestCase):
    def reject(self, model, needle):
        with tempfile.TemporaryDirectory() as out:
            with self.assertRaises(cv.Unsupported) as ctx:
                cv.convert(model.eval(), "bad", [1, 3, 8, 8], out,
                           {"nsengine.weights": "random(seed=0)"}, 0)
        self.assertIn(needle, str(ctx.exception))

    def test_unsupported_module_named_with_path(self):
        self.reject(Softplus(), "unsupported op Softplus at module act")

    def test_unsupported_function(self):
        self.reject(Cos(), "unsupported op cos")

    def test_sigmoid_module_and_function(self):
        with tempfile.TemporaryDirectory() as out:
            _, graph = cv.convert(Gate().eval(), "gate", [1, 3, 8, 8], out,
                                  {"nsengine.weights": "random(seed=0)"}, 0)
        ops = [(n["op"], n["attrs"].get("activation")) for n in graph["nodes"]]
        self.assertEqual(ops, [("conv2d", None), ("sigmoid", None), ("sigmoid", None)])

    def test_batchnorm_without_conv_is_a_node(self):
        with tempfile.TemporaryDirectory() as out:
            _, graph = cv.convert(BatchNormFirst().eval(), "bn", [1, 3, 8, 8], out,
                                  {"nsengine.weights": "random(seed=0)"}, 0)
        self.assertEqual([n["op"] for n in graph["nodes"]], ["batch_norm"])

    def test_cli_exit_code(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as ctx:
            cv.main(["--out", tempfile.gettempdir()])
        self.assertNotEqual(ctx.exception.code, 0)
        with contextlib.redirect_stderr(err):
            self.assertEqual(cv.main(["no_such_net", "--out", tempfile.gettempdir()]), 2)
        self.assertIn("unknown model 'no_such_net'", err.getvalue())

    def test_self_attention_is_in_projection_attention_out_projection(self):
        with tempfile.TemporaryDirectory() as out:
            _, graph = cv.convert(TokenAttention().eval(), "attn", [1, 3, 8, 8], out,
                                  {"nsengine.weights": "random(seed=0)"}, 0)
        nodes = [(n["name"], n["op"]) for n in graph["nodes"]]
        self.assertEqual(nodes[-6:], [("attn.in_proj", "linear"), ("attn", "attention"),
                                      ("attn.out_proj", "linear"), ("getitem_2.1", "slice"),
                                      ("getitem_2", "reshape"), ("fc", "linear")])
        self.assertEqual(graph["nodes"][-5]["attrs"], {"heads": 2})

    def test_attention_other_than_plain_self_attention_is_refused(self):
        self.reject(TokenAttention(batch_first=False),
                    "MultiheadAttention(batch_first=False) at module attn")
        self.reject(TokenAttention(cross=True), "other than self-attention")
        self.reject(TokenAttention(mask=True), "with attn_mask at module attn")

    def test_state_dict_is_loaded(self):
        with tempfile.TemporaryDirectory() as out:
            torch.manual_seed(5)
            net = cv.LeNet()
            path = f"{out}/mine.pth"
            torch.save(net.state_dict(), path)
            self.assertEqual(cv.main(["lenet", "--state-dict", path, "--out", out]), 0)
            model, *_, label = cv.build_model("lenet", "random", 0, path)
            self.assertEqual(label, "state_dict(mine.pth)")
            self.assertTrue(torch.equal(model.state_dict()["features.0.weight"],
                                        net.state_dict()["features.0.weight"]))

    def test_state_dict_that_does_not_fit_is_one_line(self):
        with tempfile.TemporaryDirectory() as out:
            path = f"{out}/wrong.pth"
            torch.save({"x": torch.zeros(3)}, path)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = cv.main(["lenet", "--state-dict", path, "--out", out])
        self.assertEqual(code, 1)
        lines = err.getvalue().strip().splitlines()
        self.assertEqual(len(lines), 1, err.getvalue())
        self.assertIn("lenet: cannot load the weights", lines[0])
        self.assertIn("the lenet architecture", lines[0])

    def test_random_weights_answer_differently_per_input(self):
        # Seeded random weights are scaled from a random batch: the network's answer depends on
        # its input (torchvision's init alone gave AlexNet the same top class for any image).
        model, shape, *_ = cv.build_model("alexnet", "random", 0)
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            tops = {int(model(torch.randn(shape, generator=g)).argmax()) for _ in range(6)}
        self.assertGreater(len(tops), 1)

    def test_skip_existing_converts_stale_random_weights_again(self):
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()) as o:
            self.assertEqual(cv.main(["lenet", "--out", out]), 0)
            path = f"{out}/lenet.safetensors"
            self.assertEqual(cv.read_metadata(path)["nsengine.converter"], cv.CONVERTER_REVISION)
            self.assertEqual(cv.main(["lenet", "--out", out, "--skip-existing"]), 0)
            self.assertIn("exists, skipped", o.getvalue())
            # The same file as an older converter wrote it: random weights, no revision.
            model, shape, *_ = cv.build_model("lenet", "random", 0)
            cv.convert(model, "lenet", shape, out,
                       {"nsengine.weights": "random(seed=0)", "nsengine.converter": "1"}, 0)
            self.assertEqual(cv.main(["lenet", "--out", out, "--skip-existing"]), 0)
            self.assertIn("older converter; converting again", o.getvalue())
            self.assertEqual(cv.read_metadata(path)["nsengine.converter"], cv.CONVERTER_REVISION)
            # Real weights are never converted again.
            cv.convert(model, "lenet", shape, out, {"nsengine.weights": "imagenet"}, 0)
            cv.main(["lenet", "--out", out, "--skip-existing"])
            self.assertEqual(cv.read_metadata(path)["nsengine.weights"], "imagenet")

    def test_fused_graph_of_lenet(self):
        with tempfile.TemporaryDirectory() as out:
            model, shape, *_ = cv.build_model("lenet", "random", 0)
            _, graph = cv.convert(model, "lenet", shape, out, {"nsengine.weights": "r"}, 0)
        ops = [(n["op"], n["attrs"].get("activation")) for n in graph["nodes"]]
        self.assertEqual(ops[0], ("conv2d", "relu"))
        self.assertEqual([o for o, _ in ops].count("relu"), 0)


if __name__ == "__main__":
    unittest.main()
