#!/usr/bin/env python3
"""Converts MediaPipe's selfie segmentation network (.tflite, from the mediapipe 0.10.21 wheel) into
an ONNX file that tract runs. Run through scripts/segmenter.sh; the result is described in
models/segmenter/README.md.

  convert_selfie_segmentation.py SRC.tflite DST.onnx --source 'mediapipe 0.10.21 selfie_segmentation.tflite'

Why a converter of our own: tflite2onnx does not know HARD_SWISH, and tf2onnx leaves MediaPipe's
custom `Convolution2DTransposeBias` op in the graph (plus ~30 Transposes), which onnxruntime refuses.
The graph is small and uses a dozen ops, so it is translated op by op here.

The ONNX graph is NCHW throughout: every 4-D activation of the tflite graph (NHWC) keeps its meaning
with its axes permuted, so 4-D broadcasts (squeeze-excitation MUL by [1,1,1,C] -> [1,C,1,1]) stay
valid and no Transpose is needed; only the constant weights are permuted here. The fp16 weights
(behind DEQUANTIZE ops) are stored as fp32 initialisers, so the ONNX computes what the tflite
interpreter computes (it dequantizes them too).

Contract: input `image` float32 [1,3,H,W], RGB in [0,1]; output `mask` float32 [1,1,H,W], person
probability (the network's final sigmoid).
"""
import argparse
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 14  # HardSwish appeared in opset 14; tract 0.23 and onnxruntime read it
IR_VERSION = 8  # what the repository's other ONNX files use; readable by older runtimes too

OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith('_')}
DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
          tflite.TensorType.INT32: np.int32}
# tflite's schema Padding enum (builtin options) differs from TfLitePadding, the C enum the custom op
# copies its options into (0 unknown, 1 same, 2 valid).
SCHEMA_PADDING = {tflite.Padding.SAME: 'SAME', tflite.Padding.VALID: 'VALID'}
CUSTOM_PADDING = {1: 'SAME', 2: 'VALID'}


def fail(msg):
    sys.exit(f'convert_selfie_segmentation: {msg}')


def same_pads(size, kernel, stride, padding):
    """TF padding for one spatial axis as (before, after). SAME pads so that out = ceil(in/stride)
    and puts the odd pixel after (bottom/right), which ONNX auto_pad=SAME_UPPER also does, but
    explicit pads keep the rule visible and do not depend on a runtime's auto_pad support."""
    if padding == 'VALID':
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def convert(src, source):
    buf = open(src, 'rb').read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        fail(f'{src}: expected one subgraph, found {model.SubgraphsLength()}')
    g = model.Subgraphs(0)

    def shape(i):
        return [int(d) for d in g.Tensors(i).ShapeAsNumpy()]

    def nchw(i):  # shape of a 4-D activation in ONNX layout
        n, h, w, c = shape(i)
        return [n, c, h, w]

    consts = {}  # tensor index -> numpy array, for every constant the graph reads
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if not isinstance(data, int) and data.size:  # DataAsNumpy() returns 0 for an empty buffer
            if t.Type() not in DTYPES:
                fail(f'tensor {t.Name().decode()}: unsupported constant type {t.Type()}')
            consts[i] = np.frombuffer(data.tobytes(), DTYPES[t.Type()]).reshape(shape(i))

    if g.InputsLength() != 1 or g.OutputsLength() != 1:
        fail(f'{src}: expected one input and one output')
    inp, out = g.Inputs(0), g.Outputs(0)
    names = {inp: 'image', out: 'mask'}

    def name(i):
        return names.get(i, f't{i}')

    nodes, inits = [], []

    def weight(key, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), key))
        return key

    def activation(code, y, tag):
        """Applies a fused activation: returns the node output feeding y."""
        if code == tflite.ActivationFunctionType.NONE:
            return y
        mid = f'{tag}_pre'
        if code == tflite.ActivationFunctionType.RELU:
            nodes.append(helper.make_node('Relu', [mid], [y], name=f'{tag}_relu'))
        elif code == tflite.ActivationFunctionType.RELU6:
            lo, hi = weight(f'{tag}_lo', np.float32(0)), weight(f'{tag}_hi', np.float32(6))
            nodes.append(helper.make_node('Clip', [mid, lo, hi], [y], name=f'{tag}_relu6'))
        else:
            fail(f'{tag}: unsupported fused activation {code}')
        return mid

    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code_entry = model.OperatorCodes(op.OpcodeIndex())
        # Newer schemas keep codes > 127 in BuiltinCode and cap DeprecatedBuiltinCode at 127.
        code = max(code_entry.BuiltinCode(), code_entry.DeprecatedBuiltinCode())
        kind = code_entry.CustomCode().decode() if code == tflite.BuiltinOperator.CUSTOM else OP_NAMES.get(code, str(code))
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        y = op.Outputs(0)
        tag = f'op{k}_{kind.lower()}'
        opts = op.BuiltinOptions()

        def options(cls):
            o = cls()
            o.Init(opts.Bytes, opts.Pos)
            return o

        if kind == 'DEQUANTIZE':  # fp16 weight -> fp32 constant, folded away
            consts[y] = consts[ins[0]].astype(np.float32)
        elif kind in ('CONV_2D', 'DEPTHWISE_CONV_2D', 'Convolution2DTransposeBias'):
            x, w, b = ins
            w, b = consts[w], consts[b]
            _, h_in, w_in, c_in = shape(x)
            if kind == 'Convolution2DTransposeBias':
                # MediaPipe's op: custom options are TfLiteTransposeConvParams (padding, stride_w,
                # stride_h as int32); weights [Cout,kh,kw,Cin] -> ONNX [Cin,Cout,kh,kw].
                pad_code, sw, sh = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), '<i4')
                if pad_code not in CUSTOM_PADDING:
                    fail(f'{tag}: unknown padding {pad_code}')
                _, kh, kw, _ = w.shape
                _, h_out, w_out, _ = shape(y)
                # Transposed conv pads crop the full output (in-1)*s+k down to the tflite output size.
                crop = [(h_in - 1) * sh + kh - h_out, (w_in - 1) * sw + kw - w_out]
                if min(crop) < 0 or (CUSTOM_PADDING[pad_code] == 'VALID' and max(crop) > 0):
                    fail(f'{tag}: output {h_out}x{w_out} does not follow from input {h_in}x{w_in}')
                pads = [crop[0] // 2, crop[1] // 2, crop[0] - crop[0] // 2, crop[1] - crop[1] // 2]
                node = helper.make_node('ConvTranspose', [], [], name=tag, kernel_shape=[int(kh), int(kw)],
                                        strides=[int(sh), int(sw)], pads=[int(p) for p in pads])
                w = w.transpose(3, 0, 1, 2)
                act = tflite.ActivationFunctionType.NONE
            else:
                o = options(tflite.Conv2DOptions if kind == 'CONV_2D' else tflite.DepthwiseConv2DOptions)
                if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                    fail(f'{tag}: dilation is not supported')
                if kind == 'CONV_2D':  # [Cout,kh,kw,Cin] -> [Cout,Cin,kh,kw]
                    w, group = w.transpose(0, 3, 1, 2), 1
                else:  # [1,kh,kw,Cin*mult] -> [Cin*mult,1,kh,kw], one group per input channel
                    w, group = w.transpose(3, 0, 1, 2), c_in
                kh, kw = w.shape[2:]
                sh, sw = o.StrideH(), o.StrideW()
                padding = SCHEMA_PADDING[o.Padding()]
                (top, bottom), (left, right) = same_pads(h_in, kh, sh, padding), same_pads(w_in, kw, sw, padding)
                node = helper.make_node('Conv', [], [], name=tag, kernel_shape=[int(kh), int(kw)],
                                        strides=[sh, sw], pads=[top, left, bottom, right], group=group)
                act = o.FusedActivationFunction()
            node.input.extend([name(x), weight(f'{tag}_w', w), weight(f'{tag}_b', b.reshape(-1))])
            node.output.append(activation(act, name(y), tag))
            nodes.append(node)
        elif kind in ('ADD', 'MUL'):
            a, b = ins
            if a in consts or b in consts or len(shape(a)) != 4 or len(shape(b)) != 4:
                fail(f'{tag}: only 4-D activation operands are supported (constants would need permuting)')
            o = options(tflite.AddOptions if kind == 'ADD' else tflite.MulOptions)
            node = helper.make_node(kind.capitalize(), [name(a), name(b)], [], name=tag)
            node.output.append(activation(o.FusedActivationFunction(), name(y), tag))
            nodes.append(node)
        elif kind in ('RELU', 'LOGISTIC', 'HARD_SWISH'):
            # tflite HARD_SWISH is x * relu6(x + 3) / 6: ONNX HardSwish's default alpha 1/6, beta 1/2.
            onnx_op = {'RELU': 'Relu', 'LOGISTIC': 'Sigmoid', 'HARD_SWISH': 'HardSwish'}[kind]
            nodes.append(helper.make_node(onnx_op, [name(ins[0])], [name(y)], name=tag))
        elif kind in ('MEAN', 'AVERAGE_POOL_2D'):
            # Both appear only as the global spatial average of squeeze-excitation blocks (the
            # landscape model uses MEAN, the square one AVERAGE_POOL_2D over the whole map).
            _, h_in, w_in, _ = shape(ins[0])
            if kind == 'MEAN':
                axes = sorted(int(a) % 4 for a in consts[ins[1]].ravel())
                ok = axes == [1, 2] and options(tflite.ReducerOptions).KeepDims()
            else:
                o = options(tflite.Pool2DOptions)
                ok = (o.FilterHeight(), o.FilterWidth()) == (h_in, w_in) and o.FusedActivationFunction() == 0
            if not ok or shape(y)[1:3] != [1, 1]:
                fail(f'{tag}: only a global spatial average is supported')
            nodes.append(helper.make_node('GlobalAveragePool', [name(ins[0])], [name(y)], name=tag))
        elif kind == 'RESIZE_BILINEAR':
            o = options(tflite.ResizeBilinearOptions)
            if o.AlignCorners() or not o.HalfPixelCenters():
                fail(f'{tag}: only half-pixel-centre resizing is supported')
            (_, h_in, w_in, _), (_, h_out, w_out, _) = shape(ins[0]), shape(y)
            # Constant f32 scales (tract folds them); the coordinate rule is the same with sizes as
            # long as the ratio is exact, which the integer factor asserted here guarantees.
            if h_out % h_in or w_out % w_in:
                fail(f'{tag}: non-integer scale {h_in}x{w_in} -> {h_out}x{w_out}')
            scales = weight(f'{tag}_scales', np.array([1, 1, h_out // h_in, w_out // w_in], np.float32))
            nodes.append(helper.make_node('Resize', [name(ins[0]), '', scales], [name(y)], name=tag, mode='linear',
                                          coordinate_transformation_mode='half_pixel'))
        else:
            fail(f'{tag}: unsupported op {kind}')

    if shape(inp)[3] != 3 or shape(out)[3] != 1:
        fail(f'expected an RGB input and a one-channel output, got {shape(inp)} -> {shape(out)}')
    # Shapes of every activation, from the tflite file: onnx.checker's strict shape inference
    # then cross-checks the conversion's layout and padding arithmetic.
    produced = {o for n in nodes for o in n.output} - {'image', 'mask'}
    value_info = [helper.make_tensor_value_info(t, TensorProto.FLOAT, nchw(int(t[1:])))
                  for t in sorted(produced) if t.startswith('t')]
    graph = helper.make_graph(nodes, 'selfie_segmentation',
                              [helper.make_tensor_value_info('image', TensorProto.FLOAT, nchw(inp))],
                              [helper.make_tensor_value_info('mask', TensorProto.FLOAT, nchw(out))],
                              initializer=inits, value_info=value_info)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                          producer_name='atelier scripts/convert_selfie_segmentation.py')
    m.ir_version = IR_VERSION
    m.doc_string = ('MediaPipe selfie segmentation (Apache-2.0). image [1,3,H,W] float32 RGB in [0,1] '
                    '-> mask [1,1,H,W] float32 person probability.')
    helper.set_model_props(m, {'atelier.kind': 'segmenter', 'atelier.source': source,
                               'atelier.licence': 'Apache-2.0', 'atelier.input_range': '0..1'})
    onnx.checker.check_model(m, full_check=True)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('src', help='selfie_segmentation[_landscape].tflite')
    ap.add_argument('dst', help='output .onnx')
    ap.add_argument('--source', required=True, help='atelier.source metadata (what the tflite came from)')
    args = ap.parse_args()
    m = convert(args.src, args.source)
    onnx.save(m, args.dst)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f'{args.dst}: {len(m.graph.node)} nodes ({", ".join(ops)}), '
          f'{sum(np.prod(i.dims) for i in m.graph.initializer)} parameters', file=sys.stderr)


if __name__ == '__main__':
    main()
