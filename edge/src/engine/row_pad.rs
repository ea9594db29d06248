//! The generator's padding, done as row copies in place of tract's `Pad`.
//!
//! tract 0.23's `Pad` fills the whole output, then assigns the input into an `IxDyn` slice of it,
//! a strided walk value by value (~2 ns a value at 640×480, `examples/tract_pad.rs` reproduces
//! it for upstream). Every convolution of the generator pads its input by a pixel or two on the
//! two spatial axes first, so that copy costs ~10 % of a frame. Copying the contiguous last axis
//! row by row is 2–4× faster. The plan keeps tract's op for anything else (other axes, a
//! non-zero constant, other types), so the swap never changes what a graph computes, only how
//! fast: the tests compare the two on every mode.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};

use super::copy_op::{CopyOp, MovesValues};

/// How the border is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fill {
    Zero,
    Reflect,
    Edge,
}

/// `Pad` on the last two axes of a plain f32 or f16 tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowPad {
    /// Rows added before and after (second-to-last axis).
    rows: (usize, usize),
    /// Columns added before and after (last axis).
    cols: (usize, usize),
    fill: Fill,
}

impl RowPad {
    /// The row-copy form of `pad` on an input of `shape` and type `dt`, when there is one.
    pub fn from_pad(pad: &Pad, shape: &[usize], dt: DatumType) -> Option<RowPad> {
        let rank = shape.len();
        if rank < 2 || pad.pads.len() != rank || !matches!(dt, DatumType::F32 | DatumType::F16) {
            return None;
        }
        if pad.pads[..rank - 2].iter().any(|&p| p != (0, 0)) {
            return None;
        }
        let fill = match &pad.mode {
            PadMode::Reflect => Fill::Reflect,
            PadMode::Edge => Fill::Edge,
            PadMode::Constant(value) => {
                let zero = value.cast_to_scalar::<f32>().ok()? == 0.0;
                if !zero {
                    return None;
                }
                Fill::Zero
            }
        };
        let (rows, cols) = (pad.pads[rank - 2], pad.pads[rank - 1]);
        let (h, w) = (shape[rank - 2], shape[rank - 1]);
        // Reflection needs a row or column to mirror past each padded one; a repeat needs one.
        let fits = |(a, b): (usize, usize), dim: usize| match fill {
            Fill::Reflect => a < dim && b < dim,
            Fill::Edge => dim > 0,
            Fill::Zero => true,
        };
        (fits(rows, h) && fits(cols, w)).then_some(RowPad { rows, cols, fill })
    }

    /// The input coordinate that output coordinate `at` (counted from before the padding) copies
    /// along an axis of length `dim`, or `None` for a zero.
    fn source(&self, at: isize, dim: usize) -> Option<usize> {
        let last = dim as isize - 1;
        let inside = match self.fill {
            _ if (0..=last).contains(&at) => at,
            Fill::Zero => return None,
            Fill::Reflect if at < 0 => -at,
            Fill::Reflect => 2 * last - at,
            Fill::Edge => at.clamp(0, last),
        };
        Some(inside as usize)
    }
}

impl MovesValues for RowPad {
    const NAME: &'static str = "RowPad";

    fn describe(&self) -> String {
        format!("{:?}, rows {:?}, columns {:?}", self.fill, self.rows, self.cols)
    }

    fn output_fact(&self, input: &TypedFact) -> TractResult<TypedFact> {
        let mut fact = input.without_value();
        let rank = fact.rank();
        ensure!(rank >= 2, "RowPad needs at least two axes, got {rank}");
        fact.shape.set(rank - 2, fact.shape[rank - 2].clone() + self.rows.0 + self.rows.1);
        fact.shape.set(rank - 1, fact.shape[rank - 1].clone() + self.cols.0 + self.cols.1);
        Ok(fact)
    }

    fn copy<T: Datum + Copy>(&self, input: &Tensor) -> TractResult<Tensor> {
        let shape = input.shape();
        let rank = shape.len();
        let (h, w) = (shape[rank - 2], shape[rank - 1]);
        let (oh, ow) = (h + self.rows.0 + self.rows.1, w + self.cols.0 + self.cols.1);
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[rank - 2] = oh;
        out_shape[rank - 1] = ow;
        // Zero fill starts from zeros; the other fills write every value.
        let mut output = match self.fill {
            Fill::Zero => Tensor::zero_dt(T::datum_type(), &out_shape)?,
            _ => unsafe { Tensor::uninitialized::<T>(&out_shape)? },
        };
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<T>()?;
        let mut dst = output.try_as_plain_ram_mut()?;
        let dst = dst.as_slice_mut::<T>()?;
        if h * w == 0 {
            return Ok(output);
        }
        // (output column, input column) of the border values, once per call; on the stack for
        // the generator's one- or two-pixel borders.
        let borders: TVec<(usize, usize)> = (0..self.cols.0)
            .chain(self.cols.0 + w..ow)
            .filter_map(|x| Some((x, self.source(x as isize - self.cols.0 as isize, w)?)))
            .collect();
        for (plane, out_plane) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(oh * ow)) {
            for (y, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
                let Some(sy) = self.source(y as isize - self.rows.0 as isize, h) else { continue };
                let row = &plane[sy * w..(sy + 1) * w];
                out_row[self.cols.0..self.cols.0 + w].copy_from_slice(row);
                for &(x, sx) in &borders {
                    out_row[x] = row[sx];
                }
            }
        }
        Ok(output)
    }
}

/// Replaces every `Pad` of an optimised, concretely shaped model that [`RowPad`] can do;
/// returns how many. Done last, so no optimisation pass has to know the op.
pub fn swap_pads(model: &mut TypedModel) -> TractResult<usize> {
    let mut swapped = 0;
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(pad) = node.op_as::<Pad>() else { continue };
        let fact = model.outlet_fact(node.inputs[0])?;
        let Some(shape) = fact.shape.as_concrete() else { continue };
        if let Some(row_pad) = RowPad::from_pad(pad, shape, fact.datum_type) {
            model.node_mut(id).op = Box::new(CopyOp(row_pad));
            swapped += 1;
        }
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `Pad` node on `[1, c, h, w]`, optimised, with tract's op or ours.
    fn plan(pad: Pad, shape: [usize; 4], dt: DatumType, ours: bool) -> (Arc<TypedRunnableModel>, usize) {
        let mut model = TypedModel::default();
        let x = model.add_source("x", dt.fact(shape)).unwrap();
        let y = model.wire_node("pad", pad, &[x]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let mut model = model.into_optimized().unwrap();
        let swapped = if ours { swap_pads(&mut model).unwrap() } else { 0 };
        (model.into_runnable().unwrap(), swapped)
    }

    fn input(shape: [usize; 4]) -> Tensor {
        let [_, c, h, w] = shape;
        tract_ndarray::Array4::from_shape_fn((1, c, h, w), |(_, k, y, x)| (k * 1000 + y * 37 + x) as f32)
            .into()
    }

    fn run(plan: &Arc<TypedRunnableModel>, input: &Tensor) -> Tensor {
        plan.run(tvec![input.clone().into_tvalue()]).unwrap().remove(0).into_tensor()
    }

    #[test]
    fn matches_tract_on_every_mode_and_width() {
        let modes = [PadMode::Constant(Arc::new(0f32.into())), PadMode::Reflect, PadMode::Edge];
        for mode in modes {
            for pads in [[(1, 1), (1, 1)], [(2, 1), (0, 3)], [(0, 0), (2, 2)]] {
                for shape in [[1, 3, 5, 7], [1, 2, 3, 4]] {
                    let pad = Pad { pads: vec![(0, 0), (0, 0), pads[0], pads[1]], mode: mode.clone() };
                    let x = input(shape);
                    let (tract, _) = plan(pad.clone(), shape, DatumType::F32, false);
                    let (ours, swapped) = plan(pad.clone(), shape, DatumType::F32, true);
                    assert_eq!(swapped, 1, "{pad:?} on {shape:?} not swapped");
                    assert_eq!(run(&ours, &x), run(&tract, &x), "{pad:?} on {shape:?}");
                }
            }
        }
    }

    #[test]
    fn pads_f16_too() {
        let shape = [1, 2, 4, 5];
        let pad = Pad { pads: vec![(0, 0), (0, 0), (1, 1), (1, 1)], mode: PadMode::Reflect };
        let x = input(shape).cast_to::<f16>().unwrap().into_owned();
        let (tract, _) = plan(pad.clone(), shape, DatumType::F16, false);
        let (ours, swapped) = plan(pad, shape, DatumType::F16, true);
        assert_eq!(swapped, 1);
        assert_eq!(run(&ours, &x), run(&tract, &x));
    }

    #[test]
    fn leaves_what_it_cannot_do_to_tract() {
        let shape = [1, 3, 2, 6];
        let unswapped = |pads: Vec<(usize, usize)>, mode: PadMode| {
            let (_, swapped) = plan(Pad { pads, mode }, shape, DatumType::F32, true);
            swapped == 0
        };
        // Channels padded; a non-zero constant; a reflection wider than the axis.
        assert!(unswapped(vec![(0, 0), (1, 0), (1, 1), (1, 1)], PadMode::Edge));
        assert!(unswapped(vec![(0, 0), (0, 0), (1, 1), (1, 1)], PadMode::Constant(Arc::new(1f32.into()))));
        assert!(unswapped(vec![(0, 0), (0, 0), (2, 2), (1, 1)], PadMode::Reflect));
    }
}
