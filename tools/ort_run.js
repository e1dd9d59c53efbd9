// One ONNX Runtime (onnxruntime-node, CPU) inference for tools/convert_onnx.py's reference:
//   node tools/ort_run.js MODEL.onnx INPUT.bin N,C,H,W OUTPUT.bin
// reads float32 INPUT.bin, writes the first output as float32 OUTPUT.bin and prints its shape
// as JSON. The package is looked up in NSE_ORT_DIR/node_modules.
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [file, input, dims, output] = process.argv.slice(2);
  const dir = process.env.NSE_ORT_DIR || path.join(__dirname, "..", "build", "ort");
  const ort = require(path.join(dir, "node_modules", "onnxruntime-node"));
  const session = await ort.InferenceSession.create(file, {intraOpNumThreads: 1});
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const shape = dims.split(",").map(Number);
  const out = await session.run({[session.inputNames[0]]: new ort.Tensor("float32", data, shape)});
  const y = out[session.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(JSON.stringify({shape: y.dims}));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
