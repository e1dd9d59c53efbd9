"""The loop tools/zoo.py and tools/zoo_onnx.py share: one row per model, progress on stderr,
the JSON rows and the markdown table rewritten after every model (a long sweep that stops
keeps what it did), and with --models and an existing --json the other models' rows kept."""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def arguments(doc, out, markdown, cuts):
    """The options both sweeps take; `doc`: the tool's docstring (description and epilog),
    `out` and `markdown`: the default model folder and table, relative to the repository."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])
    ap.add_argument("--models", help="comma-separated subset (default: every model)")
    ap.add_argument("--out", default=os.path.join(ROOT, out),
                    help=f"folder for the converted models (default: {out})")
    ap.add_argument("--nsengine", default=os.path.join(ROOT, "build", "tools", "nsengine"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cuts", type=int, default=cuts, help="cuts checked per model")
    ap.add_argument("--doc", default=os.path.join(ROOT, markdown),
                    help=f"the table (default: {markdown})")
    ap.add_argument("--json", help="also write the rows as JSON here")
    return ap


def run(names, every, args, one, markdown, status):
    """one(name, args) -> row; markdown(rows, args) -> the doc; status(row) -> a short line.
    `every`: the full list, which orders the table. Returns the rows made this time."""
    kept = {}
    if args.models and args.json and os.path.exists(args.json):
        with open(args.json) as f:
            kept = {r["model"]: r for r in json.load(f) if r["model"] not in names}
    rows = []
    for i, name in enumerate(names):
        t0 = time.time()
        row = one(name, args)
        rows.append(row)
        print(f"[{i + 1}/{len(names)}] {name}: {status(row)} ({time.time() - t0:.0f} s)",
              file=sys.stderr, flush=True)
        merged = {**kept, **{r["model"]: r for r in rows}}
        table = [merged[n] for n in every if n in merged] + [
            r for n, r in merged.items() if n not in every]
        if args.json:
            with open(args.json, "w") as f:
                json.dump(table, f, indent=1)
        with open(args.doc, "w") as f:
            f.write(markdown(table, args))
    return rows
