#!/usr/bin/env python3
"""Times an ONNX model in onnxruntime (CPU), for comparison with tract in docs/benchmarks.md.

usage: ort_bench.py MODEL.onnx [--threads N] [--runs N] [--sizes 320x240,640x480] [--json] [--profile]

With --json it prints one JSON object per size (`atelier bench --compare-ort` reads them). With
--profile it also prints onnxruntime's own per-node times (its profiler, medians over the runs),
to set beside `atelier bench --profile`: the two name nodes alike, since both read the same file.
"""
import collections
import json
import argparse
import os
import statistics
import tempfile
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
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    for size in args.sizes.split(","):
        session = open_session(args, size)
        run_size(session, args, size)


def open_session(args, size):
    """One session per size, so a profile holds that size's runs only."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    if args.profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(prefix="ort-profile-"), size)
    return ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])


def run_size(session, args, size) -> None:
    names = [i.name for i in session.get_inputs()]
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
    if args.profile:
        print_profile(session.end_profiling(), size, args.runs + 3)


def print_profile(path: str, size: str, runs: int) -> None:
    """Per-node medians from onnxruntime's trace (its `dur` is microseconds; printed in ms), and
    their sums per op."""
    with open(path) as f:
        events = json.load(f)
    per_node = collections.defaultdict(list)
    op_of = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per_node[node].append(e["dur"] / 1e3)
            op_of[node] = e.get("args", {}).get("op_name", "?")
    rows = sorted(((statistics.median(v), n) for n, v in per_node.items()), reverse=True)
    total = sum(ms for ms, _ in rows)
    print(f"onnxruntime profile {size}: {total:.2f} ms in {len(rows)} nodes (medians of {runs} calls)")
    for ms, node in rows:
        print(f"  {ms:8.3f} ms  {op_of[node]:<24} {node}")
    per_op = collections.Counter()
    for ms, node in rows:
        per_op[op_of[node]] += ms
    for op, ms in per_op.most_common():
        print(f"  {ms:8.3f} ms  {op} (all)")
    os.remove(path)


if __name__ == "__main__":
    main()
