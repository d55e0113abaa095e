#!/usr/bin/env python3
"""Prints bodyzone's times beside its peers' and the ratios; helper of bench/compare.sh.

    compare.py [--record RESULTS.md] FILE.json...

Files are named by compare.sh: bodyzone.<model>.<threads>.json (`bodyzone bench --json`),
ort.<model>.<threads>.json and mediapipe.<model>.json (`peer_bench.py`). Ratios are
bodyzone / peer on medians: below 1 bodyzone is faster. Inference is compared with ONNX Runtime
(the report's ONNX file: the same one, or for int8 ONNX Runtime's own int8 quantization of the same
convolutions; same thread count); the whole frame (1280x720 RGB in, mask out) with MediaPipe.
"""
import argparse
import datetime
import json
import os
import platform
import sys


def load(paths):
    runs = {}
    for path in paths:
        parts = os.path.basename(path).split(".")
        with open(path) as f:
            runs[tuple(parts[:-1])] = json.load(f)
    return runs


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rows(runs):
    models = sorted({key[1] for key in runs if key[0] == "bodyzone"})
    for model in models:
        for threads in ("1", "2"):
            ours = runs.get(("bodyzone", model, threads))
            if ours is None:
                continue
            inf = ours["stages"]["inference"]["median_ms"]
            e2e = ours["stages"]["end_to_end"]["median_ms"]
            ort = runs.get(("ort", model, threads))
            mp = runs.get(("mediapipe", model)) if threads == "1" else None
            # The precision beside a model that is not f32, so a recorded row says what ran.
            label = model if ours["precision"] == "f32" else f"{model} {ours['precision']}"
            yield {
                "model": label,
                "threads": threads,
                "inference": inf,
                "end_to_end": e2e,
                "ort": ort and ort["median_ms"],
                "ort_version": ort and ort["peer"],
                "mediapipe": mp and mp["median_ms"],
                "mediapipe_version": mp and mp["peer"],
            }


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return None if b is None else a / b


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--record", metavar="RESULTS.md")
    p.add_argument("files", nargs="+")
    args = p.parse_args()
    runs = load(args.files)
    table = list(rows(runs))
    header = (f"{'model':<15} {'thr':>3} {'tract inf':>9} {'ORT inf':>8} {'ratio':>6} "
              f"{'frame':>7} {'MediaPipe':>9} {'ratio':>6}   (median ms; ratio = bodyzone/peer)")
    print(header)
    if table:
        ort_files = sorted({runs[key]["model"] for key in runs if key[0] == "ort"})
        print("ONNX Runtime ran " + (", ".join(os.path.basename(f) for f in ort_files) or "nothing"))
    for r in table:
        print(f"{r['model']:<15} {r['threads']:>3} {r['inference']:>9.2f} {fmt(r['ort']):>8} "
              f"{fmt(ratio(r['inference'], r['ort'])):>6} {r['end_to_end']:>7.2f} "
              f"{fmt(r['mediapipe']):>9} {fmt(ratio(r['end_to_end'], r['mediapipe'])):>6}")
    if not any(r["ort"] for r in table):
        print("(peers skipped: ratios unavailable)")
    if args.record:
        date = datetime.date.today().isoformat()
        machine = f"{cpu_name()}, {os.cpu_count()} cpus"
        with open(args.record, "a") as f:
            for r in table:
                f.write(f"| {date} | {machine} | {r['model']} | {r['threads']} | {r['inference']:.2f} | "
                        f"{fmt(r['ort'])} | {fmt(ratio(r['inference'], r['ort']))} | {r['end_to_end']:.2f} | "
                        f"{fmt(r['mediapipe'])} | {fmt(ratio(r['end_to_end'], r['mediapipe']))} |\n")
        print(f"recorded in {args.record}", file=sys.stderr)


if __name__ == "__main__":
    main()
