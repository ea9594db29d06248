//! `atelier bench`: ms/frame of a model in the mirror's engine, per size, thread count and
//! precision, and for reduced precisions how far the output moves from f32.
//!
//! Timings on a shared machine are noisy: `ms_per_frame` reports the median of several runs
//! after a warm-up, and figures go to `docs/benchmarks.md` with the command that produced them.

use std::path::Path;

use atelier_edge::engine::Precision;
use atelier_edge::{Engine, EngineOptions, Size};

use crate::eval::ms_per_frame;
use crate::quantize::{compare, load_folder};

/// One measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub size: String,
    pub threads: usize,
    pub precision: Precision,
    pub ms_per_frame: f64,
    pub fps: f64,
    /// PSNR against the f32 output, worst image and style (`--compare`, reduced precisions).
    pub min_psnr_db: Option<f64>,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan<'a> {
    pub sizes: &'a [Size],
    pub threads: &'a [usize],
    pub precisions: &'a [Precision],
    pub runs: usize,
    /// Images to compare reduced precisions against f32 on, every style.
    pub compare: Option<&'a Path>,
}

/// Times `model` at every size × thread count × precision.
pub fn run(model: &Path, plan: &BenchPlan) -> anyhow::Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for &precision in plan.precisions {
        for &threads in plan.threads {
            let mut engine = Engine::load(model, EngineOptions { threads, precision, ..Default::default() })?;
            for &size in plan.sizes {
                let ms = ms_per_frame(&mut engine, size, plan.runs)?;
                let min_psnr_db = match plan.compare {
                    Some(dir) if precision != Precision::F32 && threads == plan.threads[0] => {
                        Some(psnr_against_f32(model, &mut engine, dir, size)?)
                    }
                    _ => None,
                };
                rows.push(BenchRow {
                    size: size.to_string(),
                    threads,
                    precision,
                    ms_per_frame: ms,
                    fps: 1e3 / ms,
                    min_psnr_db,
                });
            }
        }
    }
    Ok(rows)
}

/// Worst-case PSNR of `engine`'s output against the f32 engine's, over the images in `dir`
/// (cover-cropped to `size`) and every style.
pub fn psnr_against_f32(model: &Path, engine: &mut Engine, dir: &Path, size: Size) -> anyhow::Result<f64> {
    let images = load_folder(dir, size, "comparison")?;
    let mut reference = Engine::load(model, EngineOptions::default())?;
    Ok(compare(&mut reference, engine, &images)?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f16 arithmetic with f32 instance norms stays visually identical to f32 on the shipped model
    /// (and really changes the computation: the outputs are not bit-identical).
    #[test]
    fn f16_precision_keeps_the_shipped_model_close_to_f32() {
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default.onnx");
        let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge/assets/demo");
        let options = EngineOptions { precision: Precision::F16, ..EngineOptions::default() };
        let mut half = Engine::load(&model, options).unwrap();
        assert_eq!(half.precision(), Precision::F16);
        let psnr = psnr_against_f32(&model, &mut half, &photos, Size::new(64, 48)).unwrap();
        assert!(psnr >= crate::quantize::TARGET_PSNR_DB, "f16 worst-case PSNR {psnr:.1} dB");
        assert!(psnr.is_finite(), "f16 output is bit-identical to f32: the translation did nothing");
    }
}
