#!/usr/bin/env python3
"""Times an ONNX model in onnxruntime (CPU), for comparison with tract in docs/benchmarks.md.

usage: ort_bench.py MODEL.onnx [--threads N] [--runs N] [--sizes 320x240,640x480] [--json]

With --json it prints one JSON object per size (`atelier bench --compare-ort` reads them).
"""
import json
import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--sizes", default="320x240,640x480")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        feeds = {"image": np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)}
        if "style" in names:
            s = session.get_inputs()[names.index("style")].shape[1]
            feeds["style"] = np.eye(s, dtype=np.float32)[:1]
        for _ in range(3):
            session.run(None, feeds)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            session.run(None, feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        ms = statistics.median(times)
        if args.json:
            print(json.dumps({"runtime": f"onnxruntime {ort.__version__}", "size": size, "threads": args.threads, "ms": ms}))
        else:
            print(f"onnxruntime {ort.__version__} {size} threads={args.threads}: median {ms:.1f} ms/frame")


if __name__ == "__main__":
    main()
