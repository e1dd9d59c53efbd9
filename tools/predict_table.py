#!/usr/bin/python3
"""Predicted against measured whole-model latency for many converted models: runs `nsengine
predict --json` on each (one at a time) and prints a markdown table and how many fall within
+-10 %, raw and corrected for the machine's speed now (the predict command times the deployment
phase's synthetic networks before and after, `machine_now`).

  /usr/bin/python3 tools/predict_table.py --profile edge.json --threads 1
                                          [--models-dir build/zoo] [--models a,b] [--json F]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "build", "zoo"))
    ap.add_argument("--models", help="comma-separated subset (default: every model in the folder)")
    ap.add_argument("--nsengine", default=os.path.join(ROOT, "build", "tools", "nsengine"))
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    if args.models:
        names = args.models.split(",")
    else:
        names = sorted(os.path.basename(p)[:-len(".safetensors")]
                       for p in glob.glob(os.path.join(args.models_dir, "*.safetensors"))
                       if not p.endswith(".ref.safetensors"))
    rows = []
    for i, name in enumerate(names):
        t0 = time.time()
        path = os.path.join(args.models_dir, f"{name}.safetensors")
        # Fewer runs for the slowest networks: the median of 5 is enough where one run is long.
        p = subprocess.run([args.nsengine, "predict", "--model", path, "--profile", args.profile,
                            "--threads", str(args.threads), "--runs", "7", "--json"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            rows.append({"model": name, "error": (p.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            d = json.loads(p.stdout)
            rows.append({"model": name, "predicted_ms": d["predicted_ms"],
                         "measured_ms": d["measured_ms"], "error": None,
                         "rel": d["whole_rel_error"],
                         "rel_now": d.get("machine_now", {}).get("whole_rel_error")})
        r = rows[-1]
        print(f"[{i + 1}/{len(names)}] {name}: " + (r["error"] or
              f"predicted {r['predicted_ms']:.1f} ms, measured {r['measured_ms']:.1f} ms, "
              f"{100 * r['rel']:+.1f} % ({100 * (r['rel_now'] or 0):+.1f} % now)") +
              f" ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    ok = [r for r in rows if not r["error"]]
    within = sum(abs(r["rel"]) <= 0.10 for r in ok)
    within_now = sum(r["rel_now"] is not None and abs(r["rel_now"]) <= 0.10 for r in ok)
    print(f"| model | predicted ms | measured ms | error | error, machine now |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        if r["error"]:
            print(f"| {r['model']} | | | {r['error']} | |")
        else:
            now = f"{100 * r['rel_now']:+.1f} %" if r["rel_now"] is not None else ""
            print(f"| {r['model']} | {r['predicted_ms']:.1f} | {r['measured_ms']:.1f} | "
                  f"{100 * r['rel']:+.1f} % | {now} |")
    print(f"\n{within} of {len(rows)} within +-10 % ({within_now} corrected for the machine's "
          f"speed now), {args.threads} thread(s), profile {os.path.basename(args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
