// ONNX Runtime (onnxruntime-node, CPU) as a bench_peers.py engine: loads MODEL.onnx with
// THREADS intra-op threads, runs 3 warm-ups, prints "ready", then runs once per stdin line and
// prints the latency in ms. The package is looked up in NSE_ORT_DIR/node_modules
// (`npm install --ignore-scripts onnxruntime-node` there).
//   node tools/ort_worker.js MODEL.onnx THREADS C,H,W
"use strict";
const path = require("path");
const readline = require("readline");

async function main() {
  const [file, threads, dims] = process.argv.slice(2);
  const dir = process.env.NSE_ORT_DIR || path.join(__dirname, "..", "build", "ort");
  let ort;
  try {
    ort = require(path.join(dir, "node_modules", "onnxruntime-node"));
  } catch (e) {
    console.error(`onnxruntime-node not found under ${dir}/node_modules ` +
                  "(npm install --ignore-scripts onnxruntime-node there, or set NSE_ORT_DIR)");
    process.exit(1);
  }
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all"});
  const shape = [1, ...dims.split(",").map(Number)];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i);  // any fixed input
  const feeds = {[session.inputNames[0]]: new ort.Tensor("float32", data, shape)};
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  console.log("ready");
  const rl = readline.createInterface({input: process.stdin});
  for await (const _ of rl) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(4));
  }
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
