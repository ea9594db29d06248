//! The engine's own stride-1 convolution for x86-64 CPUs with AVX-512 ([`FlatConv`]), in place
//! of tract's for the generator's 3×3 convolutions at the low resolutions.
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

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Output channels per tile: convolutions with a multiple of this many outputs are swapped.
/// (The kernel spells out its 8 × 3 accumulators.)
const CHANNELS: usize = 8;
/// Vectors of [`LANES`] points per tile.
const VECTORS: usize = 3;
/// f32 lanes of a 512-bit vector.
const LANES: usize = 16;
/// Tiles per pass of the channel blocks: the input they read (here ~90 KB for 64 channels at
/// 640×480) stays in L2 while every block of output channels passes over it.
const TILES_PER_PASS: usize = 4;

/// A stride-1, undilated, unpadded f32 convolution, NCHW with OIHW weights and one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatConv {
    inputs: usize,
    outputs: usize,
    /// Kernel height and width.
    kernel: (usize, usize),
    /// Weights by block of [`CHANNELS`] outputs, then input channel, kernel row, kernel column,
    /// output in the block: one tile's broadcasts are consecutive.
    weights: Arc<Tensor>,
    /// One per output channel.
    bias: Arc<Tensor>,
}

/// Whether this CPU runs [`FlatConv`].
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

impl FlatConv {
    /// The flat form of the convolution `node` of `model`, when it has one: the conditions of
    /// [`FlatConv`], constant weights and bias, a concrete f32 input.
    pub fn from_conv(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<FlatConv>> {
        let spec = &conv.pool_spec;
        let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&s| s == 1));
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
            && ones(&spec.strides)
            && ones(&spec.dilations)
            && unpadded
            && node.inputs.len() == 3
            && conv.output_channels().is_multiple_of(CHANNELS);
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
        let bias = match bias.len() {
            1 => vec![bias.cast_to_scalar::<f32>()?; outputs],
            n if n == outputs => bias.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
            _ => return Ok(None),
        };
        let kernel = kernel.try_as_plain_ram()?;
        let kernel = kernel.as_slice::<f32>()?;
        let taps = kh * kw;
        let mut weights = Vec::with_capacity(kernel.len());
        for block in 0..outputs / CHANNELS {
            for i in 0..inputs {
                for t in 0..taps {
                    for o in block * CHANNELS..(block + 1) * CHANNELS {
                        weights.push(kernel[(o * inputs + i) * taps + t]);
                    }
                }
            }
        }
        Ok(Some(FlatConv {
            inputs,
            outputs,
            kernel: (kh, kw),
            weights: Arc::new(tensor1(&weights)),
            bias: Arc::new(tensor1(&bias)),
        }))
    }

    /// The convolution of one image's `inputs` planes of `ih × iw` into `outputs` planes.
    fn image(&self, input: &[f32], (ih, iw): (usize, usize), out: &mut [f32]) -> TractResult<()> {
        let (kh, kw) = self.kernel;
        let geometry = Geometry {
            inputs: self.inputs,
            plane: ih * iw,
            width: iw,
            out_width: iw + 1 - kw,
            out_plane: (ih + 1 - kh) * (iw + 1 - kw),
            end: (ih - kh) * iw + iw + 1 - kw,
            taps: (0..kh).flat_map(|y| (0..kw).map(move |x| y * iw + x)).collect(),
        };
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = self.bias.try_as_plain_ram()?.as_slice::<f32>()?;
        let block_len = CHANNELS * geometry.out_plane;
        let block_weights = CHANNELS * self.inputs * geometry.taps.len();
        let work = self.outputs * geometry.out_plane * self.inputs * geometry.taps.len();
        tract_linalg::multithread::par_chunks_mut(out, block_len, work, |first_block, blocks| {
            let tiles = geometry.end.div_ceil(VECTORS * LANES);
            for pass in (0..tiles).step_by(TILES_PER_PASS) {
                for (b, out) in blocks.chunks_exact_mut(block_len).enumerate() {
                    let block = first_block + b;
                    let weights = &weights[block * block_weights..][..block_weights];
                    let bias = &bias[block * CHANNELS..][..CHANNELS];
                    for tile in pass..(pass + TILES_PER_PASS).min(tiles) {
                        let first = tile * VECTORS * LANES;
                        // SAFETY: `swap_convs` made the op only where the CPU has AVX-512F, and
                        // the slices have the lengths `Geometry` gives.
                        unsafe {
                            if first + VECTORS * LANES <= geometry.end {
                                avx512::tile::<false>(&geometry, input, weights, bias, first, out)
                            } else {
                                avx512::tile::<true>(&geometry, input, weights, bias, first, out)
                            }
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

/// The shape of one convolution, in flat points of the padded input.
struct Geometry {
    inputs: usize,
    /// Values per input plane.
    plane: usize,
    /// The padded input's width: the flat stride of a row.
    width: usize,
    out_width: usize,
    out_plane: usize,
    /// One past the last flat point with an output.
    end: usize,
    /// The flat offset of each kernel tap, row by row.
    taps: Vec<usize>,
}

mod avx512 {
    use std::arch::x86_64::*;

    use super::{CHANNELS, Geometry, LANES};

    /// `CHANNELS` output planes of `out`, at the `VECTORS × LANES` flat points from `first`;
    /// `MASKED` for a tile that reaches past `Geometry::end`.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `input` holds `g.inputs` planes of `g.plane` values, `weights`
    /// `g.inputs × taps × CHANNELS` values, `bias` `CHANNELS`, `out` `CHANNELS` planes of
    /// `g.out_plane`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile<const MASKED: bool>(
        g: &Geometry,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        first: usize,
        out: &mut [f32],
    ) {
        debug_assert!(input.len() >= g.inputs * g.plane && out.len() >= CHANNELS * g.out_plane);
        debug_assert!(weights.len() >= g.inputs * g.taps.len() * CHANNELS && bias.len() >= CHANNELS);
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
        let masks = [0, 1, 2].map(|v| lanes_below(g.end, first + v * LANES));
        let mut w = weights.as_ptr();
        for i in 0..g.inputs {
            let base = input.as_ptr().wrapping_add(i * g.plane + first);
            for &tap in &g.taps {
                let p = base.wrapping_add(tap);
                // SAFETY: a point below `end` plus a tap offset is inside its plane (see
                // `Geometry::end`); masked lanes are not read.
                let load = |v: usize| unsafe {
                    let at = p.wrapping_add(v * LANES);
                    if MASKED { _mm512_maskz_loadu_ps(masks[v], at) } else { _mm512_loadu_ps(at) }
                };
                let (x0, x1, x2) = (load(0), load(1), load(2));
                macro_rules! channel {
                    ($o:literal: $a0:ident $a1:ident $a2:ident) => {
                        // SAFETY: `weights` holds a `CHANNELS` group per input and tap.
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
        for (o, row) in acc.iter().enumerate() {
            let plane = out.as_mut_ptr().wrapping_add(o * g.out_plane);
            for (v, &value) in row.iter().enumerate() {
                // SAFETY: `store` writes only points below `end` that are not padding columns,
                // each inside the output plane.
                unsafe { store(g, plane, value, first + v * LANES) };
            }
        }
    }

    /// The mask of the lanes from flat point `start` that are below `end`.
    fn lanes_below(end: usize, start: usize) -> __mmask16 {
        let n = end.saturating_sub(start).min(LANES);
        ((1u32 << n) - 1) as __mmask16
    }

    /// Stores the lanes of `value`, flat points `start..start + LANES` of the padded width, that
    /// are outputs: below `end`, and left of each row's padding columns.
    #[target_feature(enable = "avx512f")]
    unsafe fn store(g: &Geometry, plane: *mut f32, value: __m512, start: usize) {
        let limit = lanes_below(g.end, start);
        let (mut y, mut x) = (start / g.width, start % g.width);
        // Lane `first` is point (y, x); the row's outputs are lanes first..first + out_width - x.
        let mut first = 0;
        while first < LANES {
            let outputs = g.out_width.saturating_sub(x);
            let mask = (lanes_below(first + outputs, 0) & !lanes_below(first, 0)) & limit;
            if mask != 0 {
                // Where lane 0 would go if it were in row y; only the masked lanes are written.
                let at = plane.wrapping_add(y * g.out_width + x).wrapping_sub(first);
                // SAFETY: every masked lane is an output point of row y.
                unsafe { _mm512_mask_storeu_ps(at, mask, value) };
            }
            first += g.width - x;
            y += 1;
            x = 0;
        }
    }
}

impl Op for FlatConv {
    fn name(&self) -> StaticName {
        "FlatConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let (kh, kw) = self.kernel;
        Ok(vec![format!("{}→{} channels, {kh}×{kw}", self.inputs, self.outputs)])
    }

    op_as_typed_op!();
}

impl EvalOp for FlatConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(shape.len() == 4 && shape[1] == self.inputs, "FlatConv: input of shape {shape:?}");
        let (kh, kw) = self.kernel;
        let (n, ih, iw) = (shape[0], shape[2], shape[3]);
        ensure!(ih >= kh && iw >= kw, "FlatConv: input of shape {shape:?} under the kernel");
        let (oh, ow) = (ih + 1 - kh, iw + 1 - kw);
        let mut output = unsafe { Tensor::uninitialized::<f32>(&[n, self.outputs, oh, ow])? };
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<f32>()?;
        let mut dst = output.try_as_plain_ram_mut()?;
        let dst = dst.as_slice_mut::<f32>()?;
        let (image_in, image_out) = (self.inputs * ih * iw, self.outputs * oh * ow);
        for (input, out) in src.chunks_exact(image_in).zip(dst.chunks_exact_mut(image_out)) {
            self.image(input, (ih, iw), out)?;
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for FlatConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "FlatConv needs NCHW, got {shape:?}");
        let (kh, kw) = self.kernel;
        let out = tvec![
            shape[0].clone(),
            self.outputs.to_dim(),
            shape[2].clone() - (kh - 1),
            shape[3].clone() - (kw - 1),
        ];
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

    /// One `Conv` of `inputs → outputs` channels, `kh × kw`, on `shape`, with weights and bias
    /// that give every tap and channel its own value.
    fn model(shape: [usize; 4], outputs: usize, (kh, kw): (usize, usize)) -> TypedModel {
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
                strides: None,
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
    fn both(shape: [usize; 4], outputs: usize, kernel: (usize, usize)) -> (Tensor, Tensor, usize) {
        let run = |model: TypedModel| {
            let plan = model.into_runnable().unwrap();
            plan.run(tvec![input(shape).into_tvalue()]).unwrap().remove(0).into_tensor()
        };
        let tract = run(model(shape, outputs, kernel).into_optimized().unwrap());
        let mut ours = model(shape, outputs, kernel).into_decluttered().unwrap();
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
        let cases = [
            // The residual blocks' geometry, smaller: whole tiles and a masked last one.
            ([1, 64, 12, 82], 16, (3, 3)),
            // Rows narrower than a vector: one vector's lanes span several rows.
            ([1, 5, 9, 11], 8, (3, 3)),
            ([1, 3, 6, 3], 8, (3, 3)),
            // Two images, and other kernels (a 1×1 one is a matrix product in tract already).
            ([2, 3, 7, 7], 16, (3, 3)),
            ([1, 4, 30, 40], 8, (4, 4)),
            ([1, 6, 5, 70], 24, (2, 5)),
        ];
        for (shape, outputs, kernel) in cases {
            let (tract, ours, swapped) = both(shape, outputs, kernel);
            assert_eq!(swapped, usize::from(available()), "{shape:?} → {outputs}");
            let worst = worst(&tract, &ours);
            assert!(worst < 1e-4, "{shape:?} → {outputs}, {kernel:?}: off by {worst}");
        }
    }

    #[test]
    fn agrees_on_two_threads() {
        let shape = [1, 32, 20, 40];
        let (tract, _, _) = both(shape, 64, (3, 3));
        let ours = multithread_tract_scope(Executor::multithread(2), || both(shape, 64, (3, 3)).1);
        assert!(worst(&tract, &ours) < 1e-4);
    }

    #[test]
    fn leaves_what_it_cannot_run_to_tract() {
        // 12 outputs: not a whole number of tiles.
        let (tract, ours, swapped) = both([1, 16, 10, 20], 12, (3, 3));
        assert_eq!(swapped, 0);
        assert_eq!(worst(&tract, &ours), 0.0);
    }
}
