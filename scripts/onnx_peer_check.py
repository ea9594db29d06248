#!/usr/bin/env python3
"""ONNX peer check: every model must pass the ONNX checker and give the same output in
onnxruntime as in tract (the mirror's engine) on the same input, within a tolerance.

usage: onnx_peer_check.py ATELIER_BIN MODEL.onnx [MODEL.onnx ...]

For each model and size, `atelier infer` runs tract on a seeded random input and dumps the
input, style weights and output tensors; this script feeds the same tensors to onnxruntime.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

SIZES = ["64x48", "96x128"]
TOLERANCE = float(os.environ.get("ATELIER_PEER_TOLERANCE", "1e-4"))


def check(atelier: str, path: str) -> list[str]:
    failures = []
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker raises several exception types
        return [f"{path}: onnx.checker rejected it: {e}"]
    quant = {p.key: p.value for p in model.metadata_props}.get("atelier.quantization", "f32")
    tolerance = TOLERANCE if quant in ("f32", "int8-weights") else 5e-3
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    for i, size in enumerate(SIZES):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([atelier, "infer", "--model", path, "--size", size, "--seed", str(i), "--dump", tmp],
                           check=True, stdout=subprocess.DEVNULL)
            index = json.load(open(os.path.join(tmp, "tensors.json")))
            tensors = {name: np.fromfile(os.path.join(tmp, name), dtype="<f4").reshape(shape)
                       for name, shape in index["tensors"]}
            feeds = {"image": tensors["image.f32"]}
            if "style.f32" in tensors:
                feeds["style"] = tensors["style.f32"]
            (ort_out,) = session.run(["stylized"], feeds)
            diff = float(np.abs(ort_out - tensors["stylized.f32"]).max())
            status = "ok" if diff <= tolerance else "FAIL"
            print(f"{status}  {path} {size} ({quant}): max |onnxruntime - tract| = {diff:.2e} (tolerance {tolerance:g})")
            if diff > tolerance:
                failures.append(f"{path} at {size}: max difference {diff:.2e} > {tolerance:g}")
    return failures


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    atelier, models = sys.argv[1], sys.argv[2:]
    failures = []
    for path in models:
        failures += check(atelier, path)
    print(f"{len(models) * len(SIZES) - len(failures)} passed, {len(failures)} failed")
    for f in failures:
        print("  " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
