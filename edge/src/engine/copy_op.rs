//! What the engine's own ops ([`super::row_pad`], [`super::permute`]) share: tract's op traits
//! for an op that only moves f32 or f16 values, so each of them is just its copy.

use std::fmt::Debug;
use std::hash::Hash;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// A one-input op that moves values without arithmetic.
pub trait MovesValues: Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The op's name in profiles and dumps.
    const NAME: &'static str;
    /// One line for tract's dumps.
    fn describe(&self) -> String;
    /// The output for `input`, whose values are `T`.
    fn copy<T: Datum + Copy>(&self, input: &Tensor) -> TractResult<Tensor>;
    /// The output's fact for the input's.
    fn output_fact(&self, input: &TypedFact) -> TractResult<TypedFact>;
}

/// A [`MovesValues`] as a tract op, for f32 and f16 tensors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CopyOp<C>(pub C);

impl<C: MovesValues> Op for CopyOp<C> {
    fn name(&self) -> StaticName {
        C::NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![self.0.describe()])
    }

    op_as_typed_op!();
}

impl<C: MovesValues> EvalOp for CopyOp<C> {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let output = match input.datum_type() {
            DatumType::F32 => self.0.copy::<f32>(&input)?,
            DatumType::F16 => self.0.copy::<f16>(&input)?,
            dt => bail!("{}: {dt:?} tensors are left to tract's own op", C::NAME),
        };
        Ok(tvec!(output.into_tvalue()))
    }
}

impl<C: MovesValues> TypedOp for CopyOp<C> {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.0.output_fact(inputs[0])?))
    }
}
