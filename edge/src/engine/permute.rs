//! Two consecutive axis moves done as one copy: how the generator's `DepthToSpace` runs.
//!
//! tract lowers ONNX `DepthToSpace` into a reshape, two `MoveAxis` and a reshape. The reshapes
//! are free, but each `MoveAxis` copies the whole tensor, value by value through a generic
//! transposition: 7–10 % of a frame at 640×480 for the generator's three up-samplings. One
//! [`Permute`] does both moves in a single pass whose inner loop walks the output's last two
//! axes (for `DepthToSpace`: interleaving two contiguous input rows into one output row). It is
//! only swapped in for pairs it computes exactly; tests compare it with tract's moves.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

use super::copy_op::{CopyOp, MovesValues};

/// A transposition: output axis `k` is input axis `axes[k]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Permute {
    axes: Vec<usize>,
}

impl Permute {
    /// The permutation `first` then `second` make of a rank-`rank` tensor, when both are moves.
    fn of_moves(first: &AxisOp, second: &AxisOp, rank: usize) -> Option<Permute> {
        if !matches!(first, AxisOp::Move(..)) || !matches!(second, AxisOp::Move(..)) || rank < 2 {
            return None;
        }
        let mut axes = vec![usize::MAX; rank];
        for input_axis in 0..rank {
            let out = second.transform_axis(first.transform_axis(input_axis)?)?;
            *axes.get_mut(out)? = input_axis;
        }
        axes.iter().all(|&a| a < rank).then_some(Permute { axes })
    }
}

impl MovesValues for Permute {
    const NAME: &'static str = "Permute";

    fn describe(&self) -> String {
        format!("axes {:?}", self.axes)
    }

    fn output_fact(&self, input: &TypedFact) -> TractResult<TypedFact> {
        ensure!(input.rank() == self.axes.len(), "Permute of rank {} given {:?}", self.axes.len(), input);
        let shape: TVec<TDim> = self.axes.iter().map(|&a| input.shape[a].clone()).collect();
        Ok(input.datum_type.fact(shape))
    }

    fn copy<T: Datum + Copy>(&self, input: &Tensor) -> TractResult<Tensor> {
        let in_shape = input.shape();
        let rank = in_shape.len();
        ensure!(rank == self.axes.len(), "Permute of rank {} given {:?}", self.axes.len(), in_shape);
        let in_strides = input.strides();
        let shape: TVec<usize> = self.axes.iter().map(|&a| in_shape[a]).collect();
        let strides: TVec<usize> = self.axes.iter().map(|&a| in_strides[a] as usize).collect();
        let mut output = unsafe { Tensor::uninitialized::<T>(&shape)? };
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<T>()?;
        let mut dst = output.try_as_plain_ram_mut()?;
        let dst = dst.as_slice_mut::<T>()?;
        let (rows, cols) = (shape[rank - 2], shape[rank - 1]);
        let (row_stride, col_stride) = (strides[rank - 2], strides[rank - 1]);
        if dst.is_empty() {
            return Ok(output);
        }
        // An odometer over the outer axes; each step fills `rows × cols` contiguous outputs.
        let outer = &shape[..rank - 2];
        let mut index: TVec<usize> = tvec![0; outer.len()];
        // DepthToSpace(2)'s shape: two contiguous input rows zipped into one output row. Its
        // own loop, which the compiler vectorises; walked as `rows` rows of two values, the
        // general one spent 2.7 ns a value on the loop itself.
        let zip_two = cols == 2 && row_stride == 1;
        for block in dst.chunks_exact_mut(rows * cols) {
            let base: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
            if zip_two {
                let (a, b) = (&src[base..base + rows], &src[base + col_stride..base + col_stride + rows]);
                for ((pair, &a), &b) in block.chunks_exact_mut(2).zip(a).zip(b) {
                    pair[0] = a;
                    pair[1] = b;
                }
            } else {
                for (r, out_row) in block.chunks_exact_mut(cols).enumerate() {
                    let start = base + r * row_stride;
                    for (c, value) in out_row.iter_mut().enumerate() {
                        *value = src[start + c * col_stride];
                    }
                }
            }
            for k in (0..outer.len()).rev() {
                index[k] += 1;
                if index[k] < outer[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        Ok(output)
    }
}

/// Replaces every `MoveAxis` followed only by another `MoveAxis` (f32 or f16, concrete shape)
/// with one [`Permute`]; returns how many pairs. Done last, after tract's own passes.
pub fn fuse_moves(model: &mut TypedModel) -> TractResult<usize> {
    let mut fused = 0;
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(first) = node.op_as::<AxisOp>() else { continue };
        let Some(next) = model.single_succ(id)? else { continue };
        let Some(second) = next.op_as::<AxisOp>() else { continue };
        let fact = model.outlet_fact(node.inputs[0])?;
        if !matches!(fact.datum_type, DatumType::F32 | DatumType::F16) || fact.shape.as_concrete().is_none() {
            continue;
        }
        let Some(permute) = Permute::of_moves(first, second, fact.rank()) else { continue };
        let patch = TypedModelPatch::fuse_with_next(model, node, CopyOp(permute))?;
        patch.apply(model)?;
        fused += 1;
    }
    if fused > 0 {
        model.compact()?;
    }
    Ok(fused)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ops` applied in turn to a source of `shape`, optimised, with tract's moves or fused.
    fn plan(ops: &[AxisOp], shape: &[usize], ours: bool) -> (Arc<TypedRunnableModel>, usize) {
        let mut model = TypedModel::default();
        let mut wire = model.add_source("x", f32::fact(shape)).unwrap();
        for (i, op) in ops.iter().enumerate() {
            wire = model.wire_node(format!("op{i}"), op.clone(), &[wire]).unwrap()[0];
        }
        model.select_output_outlets(&[wire]).unwrap();
        let mut model = model.into_optimized().unwrap();
        let fused = if ours { fuse_moves(&mut model).unwrap() } else { 0 };
        (model.into_runnable().unwrap(), fused)
    }

    fn input(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_shape(shape, &(0..n).map(|v| v as f32).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn depth_to_space_moves_fuse_and_agree() {
        // DCR DepthToSpace(2) of [1, 3·4, 5, 7] after its reshape, as tract lowers it.
        let shape = [1, 2, 2, 3, 5, 7];
        let ops = [AxisOp::Move(2, 5), AxisOp::Move(1, 3)];
        let (tract, _) = plan(&ops, &shape, false);
        let (ours, fused) = plan(&ops, &shape, true);
        assert_eq!(fused, 1);
        let x = input(&shape);
        let run = |p: &Arc<TypedRunnableModel>| p.run(tvec![x.clone().into_tvalue()]).unwrap().remove(0);
        let (a, b) = (run(&tract), run(&ours));
        assert_eq!(b.shape(), &[1, 3, 5, 2, 7, 2]);
        assert_eq!(a, b);
    }

    #[test]
    fn any_pair_of_moves_agrees() {
        let shape = [2, 3, 4, 5];
        for (a, b) in [((0, 3), (1, 2)), ((3, 0), (2, 3)), ((1, 2), (3, 1)), ((2, 3), (0, 1))] {
            let ops = [AxisOp::Move(a.0, a.1), AxisOp::Move(b.0, b.1)];
            let direct = input(&shape);
            let mut expected = direct.clone();
            for op in &ops {
                op.change_tensor(&mut expected, false).unwrap();
            }
            let permute = Permute::of_moves(&ops[0], &ops[1], 4).unwrap();
            let got = permute.copy::<f32>(&direct).unwrap();
            assert_eq!(got, expected, "{ops:?}");
        }
    }
}
