#!/usr/bin/env python3
"""Checks the converted selfie segmentation ONNX files against the original tflite models on real
photos. Run through scripts/segmenter.sh; its numbers are the table in models/segmenter/README.md.

  check_segmenter.py --pair SQUARE.tflite SQUARE.onnx --pair LANDSCAPE.tflite LANDSCAPE.onnx \
      --photos data/people data/controls --report check.json --contact masks.jpg

Reference: the tflite interpreter (ai-edge-litert, which knows MediaPipe's custom op). Checked: the
ONNX under onnxruntime, and under tract (the Python bindings of the same tract release as the
engine's tract-onnx), because tract is what runs it in the product and its Resize/pad handling is
its own. Every photo is stretched to the model input with PIL bilinear, as the engine stretches
camera frames.

Fails (exit 1) when, for any model, photo and runtime: the max abs difference from tflite exceeds
--max-diff, or more than --max-flips of the pixels change side of 0.5; or when a photo of a person
(a directory named `people`) has less than --min-coverage of its mask above 0.5.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tract
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageDraw


class Tflite:
    def __init__(self, path):
        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]
        _, self.height, self.width, _ = (int(d) for d in self.inp['shape'])

    def __call__(self, hwc):
        self.it.set_tensor(self.inp['index'], hwc[None])
        self.it.invoke()
        return self.it.get_tensor(self.out['index'])[0, :, :, 0].copy()


class Onnxruntime:
    def __init__(self, path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # a shared machine
        self.s = ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])
        (i,), (o,) = self.s.get_inputs(), self.s.get_outputs()
        if (i.name, o.name) != ('image', 'mask'):
            sys.exit(f'check_segmenter: {path}: expected input `image` and output `mask`, got {i.name}, {o.name}')

    def __call__(self, hwc):
        return self.s.run(None, {'image': hwc.transpose(2, 0, 1)[None]})[0][0, 0]


class Tract:
    def __init__(self, path):
        # The engine's path: load, type, optimise, run (edge/src/person/segmenter.rs).
        self.plan = tract.onnx().load(str(path)).into_model().into_runnable()

    def __call__(self, hwc):
        return self.plan.run([np.ascontiguousarray(hwc.transpose(2, 0, 1)[None])])[0].to_numpy()[0, 0]


def load_photo(path, width, height):
    img = Image.open(path).convert('RGB')
    small = img.resize((width, height), Image.BILINEAR)
    return img, np.asarray(small, np.float32) / 255.0


def overlay(img, mask, height):
    """The photo at `height` px with the mask stretched back onto it, the person tinted magenta."""
    w = round(img.width * height / img.height)
    photo = np.asarray(img.resize((w, height), Image.BILINEAR), np.float32)
    alpha = np.asarray(Image.fromarray(mask.astype(np.float32), 'F').resize((w, height), Image.BILINEAR))
    alpha = np.clip(alpha, 0, 1)[..., None] * 0.6
    tinted = photo * (1 - alpha) + np.array([255, 0, 170], np.float32) * alpha
    return Image.fromarray(tinted.round().astype(np.uint8))


def contact_sheet(title, cells, path, max_width=1200, pad=6):
    """cells: (label, [images of equal height]); laid out left to right, wrapping at max_width."""
    blocks = []
    for label, images in cells:
        w = sum(i.width for i in images) + pad * (len(images) - 1)
        block = Image.new('RGB', (w, images[0].height + 16), 'white')
        x = 0
        for i in images:
            block.paste(i, (x, 16))
            x += i.width + pad
        ImageDraw.Draw(block).text((2, 2), label, fill='black')
        blocks.append(block)
    rows, row, width = [], [], 0
    for b in blocks:
        if row and width + pad + b.width > max_width:
            rows.append(row)
            row, width = [], 0
        row.append(b)
        width += b.width + (pad if len(row) > 1 else 0)
    rows.append(row)
    sheet_w = min(max_width, max(sum(b.width for b in r) + pad * (len(r) - 1) for r in rows))
    sheet = Image.new('RGB', (sheet_w, 16 + sum(max(b.height for b in r) + pad for r in rows)), 'white')
    ImageDraw.Draw(sheet).text((2, 2), title, fill='black')
    y = 16
    for r in rows:
        x = 0
        for b in r:
            sheet.paste(b, (x, y))
            x += b.width + pad
        y += max(b.height for b in r) + pad
    sheet.save(path, quality=88)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--pair', nargs=2, action='append', required=True, metavar=('TFLITE', 'ONNX'))
    ap.add_argument('--photos', nargs='+', required=True, help='directories of JPEGs')
    ap.add_argument('--report', required=True, help='JSON report to write')
    ap.add_argument('--contact', help='contact sheet (JPEG) of the ONNX masks over the photos')
    ap.add_argument('--max-diff', type=float, default=1e-3)
    ap.add_argument('--max-flips', type=float, default=1e-3, help='fraction of pixels')
    ap.add_argument('--min-coverage', type=float, default=0.05)
    args = ap.parse_args()

    photos = [p for d in args.photos for p in sorted(Path(d).glob('*.jp*g'))]
    if not photos:
        sys.exit(f'check_segmenter: no JPEG in {" ".join(args.photos)}')
    report, failures = {'thresholds': {'max_diff': args.max_diff, 'max_flips': args.max_flips,
                                       'min_coverage_people': args.min_coverage}, 'models': {}}, []
    masks = {}  # photo -> [onnxruntime mask per model]
    for tflite_path, onnx_path in args.pair:
        ref = Tflite(tflite_path)
        runtimes = {'onnxruntime': Onnxruntime(onnx_path), 'tract': Tract(onnx_path)}
        rows, seconds = [], {k: [] for k in ['tflite', *runtimes]}
        for photo in photos:
            img, hwc = load_photo(photo, ref.width, ref.height)
            t = time.perf_counter()
            want = ref(hwc)
            seconds['tflite'].append(time.perf_counter() - t)
            row = {'photo': f'{photo.parent.name}/{photo.name}', 'coverage_tflite': float((want > 0.5).mean())}
            for name, run in runtimes.items():
                t = time.perf_counter()
                got = run(hwc)
                seconds[name].append(time.perf_counter() - t)
                if got.shape != want.shape:
                    sys.exit(f'check_segmenter: {onnx_path} under {name}: mask {got.shape}, tflite {want.shape}')
                diff = float(np.abs(got - want).max())
                flips = int(((got > 0.5) != (want > 0.5)).sum())
                row[name] = {'max_diff': diff, 'flips': flips, 'coverage': float((got > 0.5).mean())}
                if diff > args.max_diff:
                    failures.append(f'{Path(onnx_path).name} {row["photo"]} {name}: max diff {diff:.2e} > {args.max_diff}')
                if flips > args.max_flips * got.size:
                    failures.append(f'{Path(onnx_path).name} {row["photo"]} {name}: {flips} pixels change side of 0.5')
                if name == 'onnxruntime':
                    masks.setdefault(photo, (img, []))[1].append(got)
            if photo.parent.name == 'people' and row['onnxruntime']['coverage'] < args.min_coverage:
                failures.append(f'{Path(onnx_path).name} {row["photo"]}: person coverage '
                                f'{row["onnxruntime"]["coverage"]:.3f} < {args.min_coverage}')
            rows.append(row)
            print(f'{Path(onnx_path).name:24} {row["photo"]:34} coverage {row["coverage_tflite"]:.3f}  ' +
                  '  '.join(f'{n}: diff {row[n]["max_diff"]:.1e} flips {row[n]["flips"]}' for n in runtimes),
                  file=sys.stderr)
        # The first call of each runtime warms it up: the median over the photos is the steady state.
        report['models'][Path(onnx_path).name] = {
            'tflite': Path(tflite_path).name, 'input': [1, 3, ref.height, ref.width], 'photos': rows,
            'median_ms_single_thread': {k: round(1000 * float(np.median(v)), 2) for k, v in seconds.items()}}

    report['passed'] = not failures
    report['failures'] = failures
    Path(args.report).write_text(json.dumps(report, indent=1) + '\n')
    if args.contact:
        height = 150
        title = ('ONNX masks (onnxruntime) stretched back onto each photo, magenta = 0.6 x person probability; '
                 'per photo: ' + ', then '.join(Path(o).stem for _, o in args.pair))
        contact_sheet(title, [(f'{p.parent.name}/{p.name}', [overlay(img, m, height) for m in ms])
                       for p, (img, ms) in masks.items()], args.contact)
    for f in failures:
        print(f'check_segmenter: FAILED {f}', file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f'check_segmenter: {len(photos)} photos x {len(args.pair)} models passed', file=sys.stderr)


if __name__ == '__main__':
    main()
