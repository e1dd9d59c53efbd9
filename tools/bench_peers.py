#!/usr/bin/python3
"""Compare nsengine's CPU latency with PyTorch (eager and torch.jit.optimize_for_inference), ONNX
Runtime (onnxruntime-node's CPU build, through an opset-17 export; `npm install --ignore-scripts
onnxruntime-node` in build/ort or $NSE_ORT_DIR) and OpenCV DNN (through an ONNX export, when
python3-opencv and python3-onnx are installed).

For each model and thread count, every engine runs as its own process that has loaded the model
and warmed up. The engines then take turns (order rotated each round, so machine drift hits all
alike): a turn is --warm-runs untimed runs and --block timed ones in a row, as the engine's own
benchmark would run them. Before the next engine's turn the driver waits until none of this
engine's threads is running any more: PyTorch's OpenMP workers spin about 100 ms after each
inference before they sleep (measured here through /proc), and an engine started meanwhile
shares the cores with them (nsengine's MobileNetV2 at 2 threads took 8.8 ms after PyTorch eager
against 4.3 alone; AlexNet 24.9 against 12.9). `--block 1 --warm-runs 0 --no-settle` is the
earlier run-by-run interleaving. --gap-ms pauses before each run (default 0). Prints medians, the
median time each engine's threads took to go idle, and the ratio nsengine / best peer (< 1 means
nsengine is faster). All engines use the same seeded random weights' architecture, batch 1,
fp32, and the same thread count; peers get OPENBLAS_CORETYPE=SKYLAKEX on AVX-512 CPUs.

`--baseline PATH` races a second nsengine build too (say the previous commit's) and prints the
median over rounds of nsengine's per-round median over the baseline's: a before/after of a change
measured in the same interleaved turns as the peers.

  /usr/bin/python3 tools/bench_peers.py [--models lenet,alexnet] [--threads 1,2] [--runs 30]
                                        [--peers torch-jit,opencv|none] [--block 5] [--json]
                                        [--baseline OTHER_NSENGINE] [--isa avx2]
                                        [--baseline-cpu generic]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ["torch-eager", "torch-jit", "ort", "opencv"]
ORT_DIR = os.environ.get("NSE_ORT_DIR", os.path.join(ROOT, "build", "ort"))


# ---- worker side: one engine, one model, one thread count; a run per stdin line -------------
def worker(engine, model_name, threads, tmp_dir=None):
    import torch
    sys.path.insert(0, HERE)
    from convert_torchvision import build_model
    torch.set_num_threads(threads)
    model, shape, *_ = build_model(model_name, "random", 0)
    x = torch.randn(shape)
    if engine == "torch-eager":
        def run():
            with torch.no_grad():
                model(x)
    elif engine == "torch-jit":
        with torch.no_grad():
            jit = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))

        def run():
            with torch.no_grad():
                jit(x)
    elif engine == "ort":
        # The export goes into the driver's folder (--tmp-dir), which the driver removes when it
        # closes this engine: this process becomes Node below and cannot clean up after itself.
        path = os.path.join(tmp_dir or tempfile.mkdtemp(prefix="nse-ort-"), f"{model_name}.onnx")
        # (Not under no_grad: there nn.MultiheadAttention takes its fused fast path, an op
        # the exporter cannot write; with gradients on it exports as MatMul, Softmax, ...)
        torch.onnx.export(model, x, path, opset_version=17, input_names=["input"],
                          do_constant_folding=True)
        # ONNX Runtime runs in Node (onnxruntime-node): the worker becomes that process, with
        # this one's stdin and stdout.
        sys.stdout.flush()
        os.execvp("node", ["node", os.path.join(HERE, "ort_worker.js"), path, str(threads),
                           ",".join(str(d) for d in shape[1:])])
    elif engine == "opencv":
        import cv2
        cv2.setNumThreads(threads)
        net = cv2.dnn.readNetFromONNX(onnx_export(model, x))
        blob = x.numpy()

        def run():
            net.setInput(blob)
            net.forward()
    else:
        raise SystemExit(f"unknown engine {engine}")
    for _ in range(3):
        run()
    print("ready", flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        run()
        print(f"{(time.perf_counter() - t0) * 1e3:.4f}", flush=True)


def onnx_export(model, x):
    """ONNX bytes OpenCV 4.6 can read: torch dedups equal initialisers through Identity nodes,
    which OpenCV rejects, so those become plain initialisers again."""
    import io
    import onnx
    import torch
    f = io.BytesIO()
    torch.onnx.export(model, x, f, opset_version=10)  # Clip with attributes, as OpenCV 4.6 reads it
    m = onnx.load_from_string(f.getvalue())
    inits = {i.name: i for i in m.graph.initializer}
    for node in [n for n in m.graph.node if n.op_type == "Identity" and n.input[0] in inits]:
        copy = onnx.TensorProto()
        copy.CopyFrom(inits[node.input[0]])
        copy.name = node.output[0]
        m.graph.initializer.append(copy)
        m.graph.node.remove(node)
    return m.SerializeToString()


# ---- driver side --------------------------------------------------------------------------
class Engine:
    def __init__(self, name, cmd, env, tmp_dir=None):
        self.name = name
        self.tmp_dir = tmp_dir  # removed by close()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            err = self.proc.stderr.read().strip().splitlines()
            self.close()
            raise RuntimeError(f"{name} did not start: {err[-1] if err else line}")
        self.times = []
        self.settle_s = []

    def once(self, timed=True):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        ms = float(self.proc.stdout.readline())
        if timed:
            self.times.append(ms)

    def settle(self, limit_s=0.5):
        """Waits until none of this engine's threads is running (runtimes' workers spin for a
        while after a parallel region before they sleep: libgomp's do, for milliseconds), so the
        next engine's run does not share the cores with them. Returns the seconds waited."""
        t0 = time.perf_counter()
        task_dir = f"/proc/{self.proc.pid}/task"
        while time.perf_counter() - t0 < limit_s:
            running = False
            for tid in os.listdir(task_dir):
                try:
                    with open(f"{task_dir}/{tid}/stat") as f:
                        # the state follows the parenthesised command name
                        running = f.read().rpartition(")")[2].split()[0] == "R"
                except OSError:
                    continue  # the thread ended
                if running:
                    break
            if not running:
                break
        waited = time.perf_counter() - t0
        self.settle_s.append(waited)
        return waited

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait()
        if self.tmp_dir:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)


def available_peers():
    peers = ["torch-eager", "torch-jit"]
    if os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        peers.append("ort")
    else:
        print(f"bench_peers: ONNX Runtime skipped (cd {ORT_DIR} && npm install --ignore-scripts "
              "onnxruntime-node; or set NSE_ORT_DIR)", file=sys.stderr)
    try:
        import cv2  # noqa: F401
        import onnx  # noqa: F401
        peers.append("opencv")
    except ImportError:
        print("bench_peers: OpenCV DNN skipped (install python3-opencv python3-onnx)",
              file=sys.stderr)
    return peers


# --isa avx2: every engine limited to AVX2 + FMA, as on a CPU without AVX-512: nsengine's AVX2
# path, PyTorch's ATen and oneDNN kernels, OpenBLAS's Haswell kernels. (ONNX Runtime has no such
# switch: it is left out.)
ISA_ENV = {"avx2": {"NSE_CPU": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2",
                    "OPENBLAS_CORETYPE": "HASWELL"}}


def peer_env(threads, isa=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    env.update(ISA_ENV.get(isa, {}))
    with open("/proc/cpuinfo") as f:
        if "avx512f" in f.read():
            env.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")
    return env


def bench(model, threads, runs, nsengine, models_dir, peers, block, warm, gap_ms, settle,
          baseline=None, isa=None, baseline_cpu=None):
    engines = []
    try:
        builds = [("nsengine", nsengine)] + ([("baseline", baseline)] if baseline else [])
        for name, binary in builds:
            env = peer_env(threads, isa)
            if name == "baseline" and baseline_cpu:
                env["NSE_CPU"] = baseline_cpu
            engines.append(Engine(name, [binary, "bench", "--model", model, "--models-dir",
                                         models_dir, "--threads", str(threads), "--stdin"], env))
        for p in peers:
            # ONNX Runtime's worker exports the model (up to 550 MB for VGG16) into a folder of
            # ours, removed when the engine closes, also when it fails to start.
            tmp = tempfile.mkdtemp(prefix="nse-ort-") if p == "ort" else None
            cmd = [sys.executable, __file__, "--worker", p, "--model", model, "--threads",
                   str(threads)] + (["--tmp-dir", tmp] if tmp else [])
            try:
                engines.append(Engine(p, cmd, peer_env(threads, isa), tmp))
            except RuntimeError as e:
                print(f"bench_peers: {model}: {e}", file=sys.stderr)
        done, rnd = 0, 0
        while done < runs:
            b = min(block, runs - done)
            k = rnd % len(engines)
            for e in engines[k:] + engines[:k]:
                for i in range(warm + b):
                    time.sleep(gap_ms / 1e3)
                    e.once(timed=i >= warm)
                if settle:
                    e.settle()
            done, rnd = done + b, rnd + 1
            print(f"\r{model} @ {threads} thread(s): {done}/{runs}", end="", file=sys.stderr)
        print("\r\033[K", end="", file=sys.stderr)
        out = {e.name: {"median_ms": statistics.median(e.times), "min_ms": min(e.times),
                        "settle_ms": statistics.median(e.settle_s) * 1e3 if e.settle_s else 0.0}
               for e in engines}
        if baseline:
            # Rounds are the turns: every engine timed `block` runs in each (the last may be
            # shorter), so run i of one engine belongs to the same round as run i of another.
            a, b = engines[0].times, engines[1].times
            per_round = [statistics.median(a[i:i + block]) / statistics.median(b[i:i + block])
                         for i in range(0, len(a), block)]
            out["nsengine"]["vs_baseline"] = statistics.median(per_round)
        return out
    finally:
        for e in engines:
            e.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="lenet,alexnet,mobilenet_v2,resnet18,vgg16")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine")
    ap.add_argument("--block", type=int, default=5,
                    help="timed runs an engine makes in a row before the next engine's turn")
    ap.add_argument("--warm-runs", type=int, default=1,
                    help="untimed runs at the start of each turn")
    ap.add_argument("--peers", help=f"comma-separated subset of {','.join(PEERS)} (default: all "
                    "installed; 'none' times nsengine alone through the same harness)")
    ap.add_argument("--gap-ms", type=float, default=0, help="idle pause before each run")
    ap.add_argument("--nsengine", default=os.path.join(ROOT, "build", "tools", "nsengine"))
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "models"))
    ap.add_argument("--no-settle", action="store_true",
                    help="start each run at once, even while the previous engine's threads spin")
    ap.add_argument("--baseline", help="another nsengine binary to race (before/after a change)")
    ap.add_argument("--baseline-cpu", choices=["avx512", "avx2", "neon", "generic"],
                    help="run the baseline (default: this nsengine) on this CPU kernel path "
                    "(NSE_CPU): --isa avx2 --baseline-cpu generic races the AVX2 kernels against "
                    "the generic fallback")
    ap.add_argument("--isa", choices=["avx2"],
                    help="limit every engine to AVX2 + FMA (nsengine NSE_CPU=avx2, PyTorch "
                    "ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2, OpenBLAS HASWELL); ONNX "
                    "Runtime, which has no such switch, is left out")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--tmp-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.model, int(args.threads), args.tmp_dir)
    if args.runs < 1 or args.block < 1 or args.warm_runs < 0:
        ap.error("--runs and --block must be >= 1, --warm-runs >= 0")
    if not os.access(args.nsengine, os.X_OK):
        ap.error(f"{args.nsengine} not found: build first (scripts/build.sh)")
    if args.baseline_cpu and not args.baseline:
        args.baseline = args.nsengine
    if args.baseline and not os.access(args.baseline, os.X_OK):
        ap.error(f"--baseline {args.baseline}: not an executable")
    peers = available_peers()
    if args.peers:
        wanted = [] if args.peers == "none" else args.peers.split(",")
        unknown = [p for p in wanted if p not in PEERS]
        if unknown:
            ap.error(f"--peers: unknown {','.join(unknown)} (choose from {','.join(PEERS)})")
        peers = [p for p in peers if p in wanted]
    if args.isa:
        peers = [p for p in peers if p != "ort"]
    results = []
    for model in args.models.split(","):
        if not os.path.exists(os.path.join(args.models_dir, f"{model}.safetensors")):
            subprocess.run([sys.executable, os.path.join(HERE, "convert_torchvision.py"), model,
                            "--out", args.models_dir], check=True, stdout=subprocess.DEVNULL)
        for t in [int(v) for v in args.threads.split(",")]:
            r = bench(model, t, args.runs, args.nsengine, args.models_dir, peers, args.block,
                      args.warm_runs, args.gap_ms, not args.no_settle, args.baseline, args.isa,
                      args.baseline_cpu)
            best = min(((v["median_ms"], k) for k, v in r.items()
                        if k not in ("nsengine", "baseline")), default=None)
            results.append({"model": model, "threads": t, "engines": r,
                            "best_peer": best[1] if best else None,
                            "ratio": r["nsengine"]["median_ms"] / best[0] if best else None})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    cols = ["nsengine"] + (["baseline"] if args.baseline else []) + peers
    if args.isa:
        print(f"every engine limited to {args.isa}"
              + (f"; baseline = nsengine on the {args.baseline_cpu} path" if args.baseline_cpu
                 else ""))
    print(f"median ms over {args.runs} runs per engine in interleaved turns of {args.warm_runs} "
          f"untimed + {args.block} timed, batch 1 fp32 "
          f"(ratio = nsengine / best peer; < 1 is faster"
          + ("; vs base = median over rounds of nsengine / baseline" if args.baseline else "")
          + ")")
    print(f"{'model':<13}{'thr':>4}" + "".join(f"{c:>13}" for c in cols) +
          f"{'best peer':>13}{'ratio':>8}" + (f"{'vs base':>9}" if args.baseline else ""))
    for res in results:
        cells = "".join(f"{res['engines'][c]['median_ms']:>13.3f}" if c in res["engines"]
                        else f"{'-':>13}" for c in cols)
        ratio = f"{res['ratio']:>8.2f}" if res["ratio"] is not None else f"{'-':>8}"
        vs = (f"{res['engines']['nsengine']['vs_baseline']:>9.3f}" if args.baseline else "")
        print(f"{res['model']:<13}{res['threads']:>4}{cells}{res['best_peer'] or '-':>13}{ratio}"
              f"{vs}")
    if not args.no_settle:
        print("\nms until an engine's threads were all idle after its turn (median; the next "
              "turn waited for it)")
        for res in results:
            cells = "".join(f"{res['engines'][c]['settle_ms']:>13.1f}" if c in res["engines"]
                            else f"{'-':>13}" for c in cols)
            print(f"{res['model']:<13}{res['threads']:>4}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
