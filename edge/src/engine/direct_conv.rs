//! Which convolutions run as tract's direct spatial convolution (`DirectSpatialConv`: a filter
//! along each output row, four output channels at a time) rather than as im2col and a matrix
//! product.
//!
//! tract 0.23 takes the direct form for every convolution it can (output rows of at least 128
//! points, at most 576 inputs per point). On this project's generators that wins where the matrix
//! product has few rows — the output stage's 12 channels: 7.7 → 2.9 ms at 640×480 — and a little
//! at stride 1, but a stride-2 convolution to 32 channels ran 2.5× slower (its strided loads are
//! shuffled once per four channels). So the engine keeps tract's direct form for the
//! convolutions it chose ([`prefers_direct`]), measured in `docs/benchmarks.md` ("Direct
//! convolutions and freed memory"): stride 1, or at most 16 output channels.

use std::str::FromStr;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::cnn::conv::DirectSpatialConv;

/// tract's switch for its direct form, read while a convolution is compiled.
pub(super) const KNOB: &str = "TRACT_DISABLE_DIRECT_SPATIAL";

/// Where the engine lets tract use its direct spatial convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectConv {
    /// Nowhere: im2col and a matrix product for every convolution.
    Off,
    /// Where it was measured to win ([`prefers_direct`]), when tract can.
    #[default]
    Chosen,
    /// Wherever tract can (tract's own default).
    Tract,
}

impl DirectConv {
    /// The value of [`KNOB`] for the plan as a whole: off except under `Tract`.
    pub(super) fn disable_knob(self) -> &'static str {
        if self == DirectConv::Tract { "false" } else { "true" }
    }
}

impl FromStr for DirectConv {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(DirectConv::Off),
            "chosen" => Ok(DirectConv::Chosen),
            "tract" => Ok(DirectConv::Tract),
            other => Err(format!("unknown direct convolution choice {other:?}: off, chosen or tract")),
        }
    }
}

/// Whether the direct form is worth it for `conv` on an input of type `dt`: stride 1 (each input
/// vector loaded once per tap), or few output channels (im2col's product then has few rows and
/// wastes most of its kernel's 16-row tile).
pub fn prefers_direct(conv: &Conv, dt: DatumType) -> bool {
    let stride_one = conv.pool_spec.strides.as_ref().is_none_or(|s| s.iter().all(|&s| s == 1));
    dt == DatumType::F32 && conv.group == 1 && (stride_one || conv.output_channels() <= 16)
}

/// Compiles every convolution of a decluttered, concretely shaped model that [`prefers_direct`]
/// in tract's direct form, where tract can; returns how many. The others are left for the
/// plan's own compilation, under whatever [`KNOB`] says there.
pub fn compile_chosen(model: &mut TypedModel) -> TractResult<usize> {
    let allow = KnobScope::new([(KNOB, "false")])?;
    let mut direct = 0;
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else { continue };
        if !prefers_direct(conv, model.outlet_fact(node.inputs[0])?.datum_type) {
            continue;
        }
        let Some(patch) = allow.enter(|| conv.codegen(model, node))? else { continue };
        if patch.model.nodes().iter().any(|n| n.op_is::<DirectSpatialConv>()) {
            patch.apply(model)?;
            direct += 1;
        }
    }
    Ok(direct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!("chosen".parse::<DirectConv>(), Ok(DirectConv::Chosen));
        assert_eq!("off".parse::<DirectConv>(), Ok(DirectConv::Off));
        assert_eq!("tract".parse::<DirectConv>(), Ok(DirectConv::Tract));
        assert!("on".parse::<DirectConv>().unwrap_err().contains("off, chosen or tract"));
        assert_eq!(DirectConv::default(), DirectConv::Chosen);
    }
}
