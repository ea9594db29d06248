//! The engine's own convolution for x86-64 CPUs with AVX-512 ([`FlatConv`]), in place of
//! tract's for the generator's 3×3 convolutions at the low resolutions and its strided ones.
//!
//! tract 0.23 runs those convolutions as im2col and its 16×6 matrix-product kernel at ~44 GMAC/s
//! on this project's Zen 4 (the residual blocks: 4.1 ms each at 640×480, onnxruntime's blocked
//! kernels 3.1 ms), and its direct form needs output rows of at least 128 points, which the
//! residual blocks' 80 are not (`MIN_DIRECT_SPATIAL_W`, a constant). Measured in
//! `docs/benchmarks.md` ("The engine's own convolution").
//!
//! Each input plane, already padded by the graph's own `Pad`, is read as one flat run: output
//! point `f = y·W + x` of the *padded* width `W` sums `input[f + ky·W + kx]`, so a tile of 48
//! consecutive points needs no row bookkeeping. The points that fall on the padding columns are
//! computed and not stored (2 in 82 at 640×480). A tile holds 8 output channels × 3 vectors of 16
//! points in 24 of the 32 vector registers; each step of the sum loads 3 input vectors and
//! broadcasts 8 weights for 24 multiply-adds, so the loads never limit it.
//!
//! A convolution of stride `s` first splits each input plane into its `s × s` phases (the
//! values at rows `py + s·r`, columns `px + s·c`); every tap then reads one phase at stride 1,
//! and the same tiles run over the phases' flat runs.

use std::borrow::Cow;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Output channels per tile; weights are padded with zeros to whole tiles. (The kernel spells
/// out its 8 × 3 accumulators.)
const CHANNELS: usize = 8;
/// Vectors of [`LANES`] points per tile.
const VECTORS: usize = 3;
/// f32 lanes of a 512-bit vector.
const LANES: usize = 16;
/// Tiles per pass of the channel blocks: the input they read (here ~90 KB for 64 channels at
/// 640×480) stays in L2 while every block of output channels passes over it.
const TILES_PER_PASS: usize = 4;

/// An undilated, unpadded f32 convolution, NCHW with OIHW weights and one group, with the same
/// stride on both axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatConv {
    inputs: usize,
    outputs: usize,
    /// Kernel height and width.
    kernel: (usize, usize),
    stride: usize,
    /// Where each step of the sum reads, for the plan's one input size: worked out once, not
    /// per frame.
    geometry: Geometry,
    /// Weights by block of [`CHANNELS`] outputs, then input channel, kernel row, kernel column,
    /// output in the block: one tile's broadcasts are consecutive. Zeros past `outputs`.
    weights: Arc<Tensor>,
    /// One per output channel, zeros past `outputs`.
    bias: Arc<Tensor>,
}

/// Whether this CPU runs [`FlatConv`].
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

impl FlatConv {
    /// The flat form of the convolution `node` of `model`, when it has one and is faster than
    /// tract's: the conditions of [`FlatConv`], constant weights and bias, a concrete f32 input,
    /// and [`prefers_flat`].
    pub fn from_conv(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<FlatConv>> {
        let spec = &conv.pool_spec;
        let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&s| s == 1));
        let stride = spec.strides.as_ref().map_or(1, |s| s.first().copied().unwrap_or(1));
        let square = spec.strides.as_ref().is_none_or(|s| s.iter().all(|&s| s == stride));
        let unpadded = match &spec.padding {
            PaddingSpec::Valid => true,
            PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 0),
            _ => false,
        };
        let plain = conv.q_params.is_none()
            && conv.group == 1
            && spec.data_format == DataFormat::NCHW
            && conv.kernel_fmt == KernelFormat::OIHW
            && spec.kernel_shape.len() == 2
            && square
            && ones(&spec.dilations)
            && unpadded
            && node.inputs.len() == 3
            && prefers_flat(conv.output_channels(), stride);
        if !plain {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let (Some(kernel), Some(bias)) = (
            model.outlet_fact(node.inputs[1])?.konst.clone(),
            model.outlet_fact(node.inputs[2])?.konst.clone(),
        ) else {
            return Ok(None);
        };
        let concrete = input.shape.as_concrete().is_some_and(|s| s.len() == 4);
        if input.datum_type != DatumType::F32 || kernel.datum_type() != DatumType::F32 || !concrete {
            return Ok(None);
        }
        let (outputs, inputs) = (conv.output_channels(), conv.input_channels());
        let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
        if kernel.shape() != [outputs, inputs, kh, kw] {
            return Ok(None);
        }
        let mut bias = match bias.len() {
            1 => vec![bias.cast_to_scalar::<f32>()?; outputs],
            n if n == outputs => bias.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
            _ => return Ok(None),
        };
        let kernel = kernel.try_as_plain_ram()?;
        let kernel = kernel.as_slice::<f32>()?;
        let taps = kh * kw;
        let blocks = outputs.div_ceil(CHANNELS);
        let mut weights = Vec::with_capacity(blocks * CHANNELS * inputs * taps);
        for block in 0..blocks {
            for i in 0..inputs {
                for t in 0..taps {
                    for o in block * CHANNELS..(block + 1) * CHANNELS {
                        weights.push(if o < outputs { kernel[(o * inputs + i) * taps + t] } else { 0.0 });
                    }
                }
            }
        }
        bias.resize(blocks * CHANNELS, 0.0);
        let shape = input.shape.as_concrete().expect("checked above");
        if shape[2] < kh || shape[3] < kw {
            return Ok(None);
        }
        let geometry = Geometry::new(inputs, (kh, kw), stride, (shape[2], shape[3]));
        Ok(Some(FlatConv {
            inputs,
            outputs,
            kernel: (kh, kw),
            stride,
            geometry,
            weights: Arc::new(tensor1(&weights)),
            bias: Arc::new(tensor1(&bias)),
        }))
    }

    /// The convolution of one image's `inputs` planes into `outputs` planes, at the size the
    /// geometry was worked out for.
    fn image(&self, input: &[f32], out: &mut [f32]) -> TractResult<()> {
        let geometry = &self.geometry;
        let planes = match self.stride {
            1 => Cow::Borrowed(input),
            s => Cow::Owned(split_phases(input, geometry.input, s)),
        };
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = self.bias.try_as_plain_ram()?.as_slice::<f32>()?;
        // What the tiles' unchecked code relies on: the CPU runs it (a plan is made where it
        // runs, but the check costs nothing), and every output point plus every step is inside
        // the input.
        ensure!(available(), "FlatConv needs AVX-512F, which this CPU lacks");
        ensure!(
            geometry.reach <= planes.len(),
            "FlatConv: reads {} values of {}",
            geometry.reach,
            planes.len()
        );
        let block_len = CHANNELS * geometry.out_plane;
        let block_weights = CHANNELS * geometry.steps.len();
        let blocks = |first_block: usize, out: &mut [f32]| -> TractResult<()> {
            let tiles = geometry.end.div_ceil(VECTORS * LANES);
            for pass in (0..tiles).step_by(TILES_PER_PASS) {
                for (b, out) in out.chunks_mut(block_len).enumerate() {
                    let block = first_block + b;
                    let weights = &weights[block * block_weights..][..block_weights];
                    let bias = &bias[block * CHANNELS..][..CHANNELS];
                    let channels = out.len() / geometry.out_plane;
                    for tile in pass..(pass + TILES_PER_PASS).min(tiles) {
                        let first = tile * VECTORS * LANES;
                        let whole = first + VECTORS * LANES <= geometry.end;
                        // SAFETY: checked above: the CPU has AVX-512F, the steps stay inside
                        // `planes`; the slices have the lengths `tile` asks for.
                        unsafe {
                            if whole {
                                avx512::tile::<false>(geometry, &planes, weights, bias, first, out, channels)
                            } else {
                                avx512::tile::<true>(geometry, &planes, weights, bias, first, out, channels)
                            }
                        }
                    }
                }
            }
            Ok(())
        };
        if self.outputs.is_multiple_of(CHANNELS) {
            let work = self.outputs * geometry.out_plane * geometry.steps.len();
            tract_linalg::multithread::par_chunks_mut(out, block_len, work, blocks)
        } else {
            // A partial last block: one thread (only the output stage's small convolutions).
            blocks(0, out)
        }
    }
}

/// Splits each plane of `input` (`h × w` values) into its `s × s` phases, each
/// `⌈h/s⌉ × ⌈w/s⌉`: phase `(py, px)` holds the values at rows `py + s·r`, columns `px + s·c`,
/// zero past the plane's edge. Every value is written once, with no zeroing pass first.
fn split_phases(input: &[f32], (h, w): (usize, usize), s: usize) -> Vec<f32> {
    let (ph, pw) = (h.div_ceil(s), w.div_ceil(s));
    let len = input.len() / (h * w) * s * s * ph * pw;
    let mut out = Vec::with_capacity(len);
    let rows = input
        .chunks_exact(h * w)
        .flat_map(|plane| (0..s * s).flat_map(move |phase| (0..ph).map(move |r| (plane, phase, r))));
    for (to, (plane, phase, r)) in out.spare_capacity_mut()[..len].chunks_exact_mut(pw).zip(rows) {
        let (py, px) = (phase / s, phase % s);
        let y = py + s * r;
        let from = plane.get(y * w..(y + 1) * w).and_then(|row| row.get(px..)).unwrap_or_default();
        let n = from.len().div_ceil(s).min(pw);
        // SAFETY: only called where the CPU has AVX-512F.
        let done = if s == 2 && available() { unsafe { avx512::evens(from, &mut to[..n]) } } else { 0 };
        for (c, to) in to[..n].iter_mut().enumerate().skip(done) {
            to.write(from[c * s]);
        }
        for to in &mut to[n..] {
            to.write(0.0);
        }
    }
    // SAFETY: the rows above wrote all `len` values.
    unsafe { out.set_len(len) };
    out
}

/// Whether [`FlatConv`] beats tract on a convolution to `outputs` channels at `stride`: stride 1
/// with whole tiles of outputs (with fewer, tract's direct form wins on the output stage), or any
/// larger stride, where tract's im2col and direct form both gather strided values
/// (`docs/benchmarks.md`).
fn prefers_flat(outputs: usize, stride: usize) -> bool {
    outputs.is_multiple_of(CHANNELS) || stride > 1
}

/// The shape of one convolution, in flat points of the (phases of the) padded input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Geometry {
    /// The input's height and width.
    input: (usize, usize),
    /// The output's height and width.
    output: (usize, usize),
    /// The flat stride of a row: the padded input's width, or its phases'.
    width: usize,
    out_width: usize,
    out_plane: usize,
    /// One past the last flat point with an output.
    end: usize,
    /// The flat offset each step of the sum reads, one per input channel and tap, from the
    /// start of the input (or of its phases).
    steps: Vec<usize>,
    /// How many values of the input (or its phases) the tiles read: one past the furthest.
    reach: usize,
}

impl Geometry {
    /// The geometry of a convolution of `inputs` channels with a `kh × kw` kernel at stride `s`
    /// on `ih × iw` (at least the kernel).
    fn new(inputs: usize, (kh, kw): (usize, usize), s: usize, (ih, iw): (usize, usize)) -> Geometry {
        let (oh, ow) = ((ih - kh) / s + 1, (iw - kw) / s + 1);
        // The phases' size (the input's at stride 1). Input channel i's tap (y, x) reads phase
        // (y mod s, x mod s) of plane i, shifted by (y / s, x / s).
        let (ph, pw) = (ih.div_ceil(s), iw.div_ceil(s));
        let phase = |i: usize, y: usize, x: usize| ((i * s + y % s) * s + x % s) * ph * pw;
        let steps: Vec<usize> = (0..inputs)
            .flat_map(|i| (0..kh).flat_map(move |y| (0..kw).map(move |x| (i, y, x))))
            .map(|(i, y, x)| phase(i, y, x) + y / s * pw + x / s)
            .collect();
        let end = (oh - 1) * pw + ow;
        Geometry {
            input: (ih, iw),
            output: (oh, ow),
            width: pw,
            out_width: ow,
            out_plane: oh * ow,
            end,
            reach: end + steps.iter().max().copied().unwrap_or(0),
            steps,
        }
    }
}

mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{CHANNELS, Geometry, LANES, VECTORS};

    /// The first `channels` (≤ `CHANNELS`) output planes of `out`, at the `VECTORS × LANES` flat
    /// points from `first`; `MASKED` for a tile that reaches past `Geometry::end`.
    ///
    /// # Safety
    /// The CPU has AVX-512F; a point below `g.end` plus any step is inside `input`; `weights`
    /// holds `CHANNELS` values per step, `bias` `CHANNELS`, `out` `channels` planes of
    /// `g.out_plane`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile<const MASKED: bool>(
        g: &Geometry,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        first: usize,
        out: &mut [f32],
        channels: usize,
    ) {
        debug_assert!(weights.len() >= g.steps.len() * CHANNELS && bias.len() >= CHANNELS);
        debug_assert!(channels <= CHANNELS && out.len() >= channels * g.out_plane);
        // The 24 accumulators are named, not an array: LLVM kept an array's values in registers
        // but stored all 24 back to the stack after every step, halving the speed.
        let bias = |o: usize| _mm512_set1_ps(bias[o]);
        let (mut a00, mut a01, mut a02) = (bias(0), bias(0), bias(0));
        let (mut a10, mut a11, mut a12) = (bias(1), bias(1), bias(1));
        let (mut a20, mut a21, mut a22) = (bias(2), bias(2), bias(2));
        let (mut a30, mut a31, mut a32) = (bias(3), bias(3), bias(3));
        let (mut a40, mut a41, mut a42) = (bias(4), bias(4), bias(4));
        let (mut a50, mut a51, mut a52) = (bias(5), bias(5), bias(5));
        let (mut a60, mut a61, mut a62) = (bias(6), bias(6), bias(6));
        let (mut a70, mut a71, mut a72) = (bias(7), bias(7), bias(7));
        // Lanes at or past `end` read nothing: the last tile's loads are masked.
        let masks: [_; VECTORS] = std::array::from_fn(|v| lanes_below(g.end, first + v * LANES));
        let mut w = weights.as_ptr();
        let base = input.as_ptr().wrapping_add(first);
        for &step in &g.steps {
            let p = base.wrapping_add(step);
            // SAFETY: a point below `end` plus a step is inside `input`; masked lanes are not
            // read.
            let load = |v: usize| unsafe {
                let at = p.wrapping_add(v * LANES);
                if MASKED { _mm512_maskz_loadu_ps(masks[v], at) } else { _mm512_loadu_ps(at) }
            };
            let (x0, x1, x2) = (load(0), load(1), load(2));
            macro_rules! channel {
                ($o:literal: $a0:ident $a1:ident $a2:ident) => {
                    // SAFETY: `weights` holds a `CHANNELS` group per step.
                    let wv = _mm512_set1_ps(unsafe { *w.add($o) });
                    $a0 = _mm512_fmadd_ps(wv, x0, $a0);
                    $a1 = _mm512_fmadd_ps(wv, x1, $a1);
                    $a2 = _mm512_fmadd_ps(wv, x2, $a2);
                };
            }
            channel!(0: a00 a01 a02);
            channel!(1: a10 a11 a12);
            channel!(2: a20 a21 a22);
            channel!(3: a30 a31 a32);
            channel!(4: a40 a41 a42);
            channel!(5: a50 a51 a52);
            channel!(6: a60 a61 a62);
            channel!(7: a70 a71 a72);
            w = w.wrapping_add(CHANNELS);
        }
        let acc = [
            [a00, a01, a02],
            [a10, a11, a12],
            [a20, a21, a22],
            [a30, a31, a32],
            [a40, a41, a42],
            [a50, a51, a52],
            [a60, a61, a62],
            [a70, a71, a72],
        ];
        // Each vector's lanes fall on one or more rows of the output, left of the padding
        // columns or on them; worked out once per vector, then stored for every channel.
        for v in 0..VECTORS {
            let start = first + v * LANES;
            let limit = lanes_below(g.end, start);
            let (mut y, mut x) = (start / g.width, start % g.width);
            // Lane `lane` is point (y, x); the row's outputs are lanes lane..lane + out_width - x.
            let mut lane = 0;
            while lane < LANES {
                let outputs = g.out_width.saturating_sub(x);
                let mask = (lanes_below(lane + outputs, 0) & !lanes_below(lane, 0)) & limit;
                if mask != 0 {
                    // Where lane 0 would go if it were in row y; only the masked lanes are written.
                    let at = (y * g.out_width + x).wrapping_sub(lane);
                    for (o, row) in acc.iter().enumerate().take(channels) {
                        let to = out.as_mut_ptr().wrapping_add((o * g.out_plane).wrapping_add(at));
                        // SAFETY: every masked lane is an output point of row y, in the plane.
                        unsafe { _mm512_mask_storeu_ps(to, mask, row[v]) };
                    }
                }
                lane += g.width - x;
                y += 1;
                x = 0;
            }
        }
    }

    /// Writes `from[2c]` to `to[c]` for the first whole vectors of `to`; returns how many values
    /// it wrote.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn evens(from: &[f32], to: &mut [MaybeUninit<f32>]) -> usize {
        const EVENS: [i32; LANES] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
        // SAFETY: EVENS holds 16 values.
        let evens = unsafe { _mm512_loadu_epi32(EVENS.as_ptr()) };
        let mut c = 0;
        while c + LANES <= to.len() && 2 * (c + LANES) <= from.len() {
            // SAFETY: the two loads read from[2c..2c + 32], the store writes to[c..c + 16].
            unsafe {
                let low = _mm512_loadu_ps(from.as_ptr().add(2 * c));
                let high = _mm512_loadu_ps(from.as_ptr().add(2 * c + LANES));
                let values = _mm512_permutex2var_ps(low, evens, high);
                _mm512_storeu_ps(to.as_mut_ptr().add(c).cast(), values);
            }
            c += LANES;
        }
        c
    }

    /// The mask of the lanes from flat point `start` that are below `end`.
    fn lanes_below(end: usize, start: usize) -> __mmask16 {
        let n = end.saturating_sub(start).min(LANES);
        ((1u32 << n) - 1) as __mmask16
    }
}

impl Op for FlatConv {
    fn name(&self) -> StaticName {
        "FlatConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let (kh, kw) = self.kernel;
        Ok(vec![format!("{}→{} channels, {kh}×{kw}, stride {}", self.inputs, self.outputs, self.stride)])
    }

    op_as_typed_op!();
}

impl EvalOp for FlatConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(shape.len() == 4 && shape[1] == self.inputs, "FlatConv: input of shape {shape:?}");
        let (n, (ih, iw), (oh, ow)) = (shape[0], self.geometry.input, self.geometry.output);
        ensure!(shape[2..] == [ih, iw], "FlatConv: input of shape {shape:?}, planned for {ih}×{iw}");
        let mut output = unsafe { Tensor::uninitialized::<f32>(&[n, self.outputs, oh, ow])? };
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<f32>()?;
        let mut dst = output.try_as_plain_ram_mut()?;
        let dst = dst.as_slice_mut::<f32>()?;
        let (image_in, image_out) = (self.inputs * ih * iw, self.outputs * oh * ow);
        for (input, out) in src.chunks_exact(image_in).zip(dst.chunks_exact_mut(image_out)) {
            self.image(input, out)?;
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for FlatConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "FlatConv needs NCHW, got {shape:?}");
        let (oh, ow) = self.geometry.output;
        let out = tvec![shape[0].clone(), self.outputs.to_dim(), oh.to_dim(), ow.to_dim()];
        Ok(tvec!(f32::fact(out)))
    }
}

/// Replaces every convolution of a decluttered, concretely shaped model that [`FlatConv`] can
/// run, when the CPU can; returns how many.
pub fn swap_convs(model: &mut TypedModel) -> TractResult<usize> {
    if !available() {
        return Ok(0);
    }
    let mut swapped = 0;
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else { continue };
        let Some(flat) = FlatConv::from_conv(model, node, conv)? else { continue };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], flat)?;
        patch.apply(model)?;
        swapped += 1;
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use tract_linalg::multithread::{Executor, multithread_tract_scope};
    use tract_onnx::tract_core::ops::cnn::PoolSpec;

    use super::*;

    /// A convolution: `outputs` channels, a `kh × kw` kernel, a stride.
    type Case = (usize, (usize, usize), usize);

    /// One `Conv` on `shape`, with weights and bias that give every tap and channel its own
    /// value.
    fn model(shape: [usize; 4], (outputs, (kh, kw), stride): Case) -> TypedModel {
        let inputs = shape[1];
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let kernel = tract_ndarray::Array4::from_shape_fn((outputs, inputs, kh, kw), |(o, i, y, x)| {
            ((o * 7 + i * 3 + y * 5 + x) % 11) as f32 / 11.0 - 0.5
        });
        let bias = tract_ndarray::Array1::from_shape_fn(outputs, |o| o as f32 / 10.0);
        let kernel = model.add_const("kernel", Tensor::from(kernel)).unwrap();
        let bias = model.add_const("bias", Tensor::from(bias)).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![kh, kw],
                padding: PaddingSpec::Valid,
                dilations: None,
                strides: Some(tvec![stride, stride]),
                input_channels: inputs,
                output_channels: outputs,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = model.wire_node("conv", conv, &[x, kernel, bias]).unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    fn input(shape: [usize; 4]) -> Tensor {
        let [n, c, h, w] = shape;
        tract_ndarray::Array4::from_shape_fn((n, c, h, w), |(b, k, y, x)| {
            ((b * 13 + k * 17 + y * 31 + x * 7) % 23) as f32 / 23.0
        })
        .into()
    }

    /// The output of tract's plan, and of the plan with the convolution swapped, and whether
    /// it was.
    fn both(shape: [usize; 4], case: Case) -> (Tensor, Tensor, usize) {
        let run = |model: TypedModel| {
            let plan = model.into_runnable().unwrap();
            plan.run(tvec![input(shape).into_tvalue()]).unwrap().remove(0).into_tensor()
        };
        let tract = run(model(shape, case).into_optimized().unwrap());
        let mut ours = model(shape, case).into_decluttered().unwrap();
        let swapped = swap_convs(&mut ours).unwrap();
        ours.optimize().unwrap();
        (tract, run(ours), swapped)
    }

    fn worst(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.shape(), b.shape());
        let (a, b) = (a.try_as_plain_ram().unwrap(), b.try_as_plain_ram().unwrap());
        let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn agrees_with_tract_on_every_shape() {
        let cases: [([usize; 4], Case); 11] = [
            // The residual blocks' geometry, smaller: whole tiles and a masked last one.
            ([1, 64, 12, 82], (16, (3, 3), 1)),
            // Rows narrower than a vector: one vector's lanes span several rows.
            ([1, 5, 9, 11], (8, (3, 3), 1)),
            ([1, 3, 6, 3], (8, (3, 3), 1)),
            // Two images, and other kernels (a 1×1 one is a matrix product in tract already).
            ([2, 3, 7, 7], (16, (3, 3), 1)),
            ([1, 4, 30, 40], (8, (4, 4), 1)),
            ([1, 6, 5, 70], (24, (2, 5), 1)),
            // Strides: even and odd sizes, phases with fewer rows and columns than others.
            ([1, 16, 13, 21], (32, (3, 3), 2)),
            ([1, 3, 18, 26], (16, (3, 3), 2)),
            ([1, 4, 11, 13], (8, (3, 3), 3)),
            // The output stage's photo convolution: 12 outputs, a partial block.
            ([1, 3, 10, 14], (12, (4, 4), 2)),
            ([2, 3, 34, 66], (12, (4, 4), 2)),
        ];
        for (shape, case) in cases {
            let (tract, ours, swapped) = both(shape, case);
            assert_eq!(swapped, usize::from(available()), "{shape:?}, {case:?}");
            let worst = worst(&tract, &ours);
            assert!(worst < 1e-4, "{shape:?}, {case:?}: off by {worst}");
        }
    }

    #[test]
    fn agrees_on_two_threads() {
        for (shape, case) in [([1, 32, 20, 40], (64, (3, 3), 1)), ([1, 16, 41, 81], (32, (3, 3), 2))] {
            let (tract, _, _) = both(shape, case);
            let ours = multithread_tract_scope(Executor::multithread(2), || both(shape, case).1);
            assert!(worst(&tract, &ours) < 1e-4, "{shape:?}, {case:?}");
        }
    }

    #[test]
    fn leaves_what_it_cannot_run_to_tract() {
        // 12 outputs at stride 1: tract's direct form is faster.
        let (tract, ours, swapped) = both([1, 16, 10, 20], (12, (3, 3), 1));
        assert_eq!(swapped, 0);
        assert_eq!(worst(&tract, &ours), 0.0);
    }

    #[test]
    fn splits_phases() {
        let plane: Vec<f32> = (0..15).map(|v| v as f32).collect();
        // 3 × 5 into four 2 × 3 phases, zero past the edge.
        let phases = split_phases(&plane, (3, 5), 2);
        #[rustfmt::skip]
        let expected = [
            0., 2., 4., 10., 12., 14.,
            1., 3., 0., 11., 13., 0.,
            5., 7., 9., 0., 0., 0.,
            6., 8., 0., 0., 0., 0.,
        ];
        assert_eq!(phases, expected);
        // Rows long enough for the vector path, odd sizes, two planes, strides 2 and 3.
        let (h, w) = (5usize, 75usize);
        let planes: Vec<f32> = (0..2 * h * w).map(|v| v as f32).collect();
        for s in [2, 3] {
            let (ph, pw) = (h.div_ceil(s), w.div_ceil(s));
            let phases = split_phases(&planes, (h, w), s);
            assert_eq!(phases.len(), 2 * s * s * ph * pw);
            for (at, &value) in phases.iter().enumerate() {
                let (c, r, phase, plane) =
                    (at % pw, at / pw % ph, at / (ph * pw) % (s * s), at / (s * s * ph * pw));
                let (y, x) = (phase / s + s * r, phase % s + s * c);
                let want = if y < h && x < w { planes[(plane * h + y) * w + x] } else { 0.0 };
                assert_eq!(value, want, "stride {s}, plane {plane}, phase {phase}, ({r}, {c})");
            }
        }
    }
}
