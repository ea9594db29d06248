//! `atelier bench`: ms/frame of a model in the mirror's engine, per size, thread count and
//! precision, and for reduced precisions how far the output moves from f32.
//!
//! Timings on a shared machine are noisy: `ms_per_frame` reports the median of several runs
//! after a warm-up, and figures go to `docs/benchmarks.md` with the command that produced them.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use atelier_edge::engine::{DirectConv, NodeTime, Precision};
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
    /// The engine's own padding and `DepthToSpace` copies (false: tract's `Pad` and `MoveAxis`).
    pub row_copies: bool,
    /// The engine's own convolution kernel where it can (false: tract's for every convolution).
    pub own_convs: bool,
    /// Which convolutions run as tract's direct convolution.
    pub direct_conv: DirectConv,
}

impl BenchPlan<'_> {
    /// The engine's options for one thread count and precision of the plan.
    pub fn options(&self, threads: usize, precision: Precision) -> EngineOptions {
        EngineOptions {
            threads,
            precision,
            row_copies: self.row_copies,
            own_convs: self.own_convs,
            direct_conv: self.direct_conv,
        }
    }
}

/// Times `model` at every size × thread count × precision.
pub fn run(model: &Path, plan: &BenchPlan) -> anyhow::Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for &precision in plan.precisions {
        for &threads in plan.threads {
            let mut engine = Engine::load(model, plan.options(threads, precision))?;
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

/// `scripts/ort_bench.py`, carried in the binary so `--compare-ort` works from any directory.
const ORT_BENCH: &str = include_str!("../../scripts/ort_bench.py");

/// onnxruntime's median ms/frame on the same model, size and thread count, timed by
/// `scripts/ort_bench.py` under `python` (which needs `onnxruntime` and `numpy`:
/// `scripts/python-env.sh` makes such an environment). Returns the runtime's name and the time.
pub fn ort_ms(
    python: &Path,
    model: &Path,
    size: Size,
    threads: usize,
    runs: usize,
) -> anyhow::Result<(String, f64)> {
    let out = Command::new(python)
        .arg("-c")
        .arg(ORT_BENCH)
        .arg(model)
        .args([
            "--threads",
            &threads.to_string(),
            "--runs",
            &runs.to_string(),
            "--sizes",
            &size.to_string(),
            "--json",
        ])
        .output()
        .with_context(|| format!("--compare-ort: cannot run {} (pass --python)", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "--compare-ort: onnxruntime failed under {}: {}\n(scripts/python-env.sh makes a Python with onnxruntime; pass it as --python)",
            python.display(),
            err.trim().lines().last().unwrap_or("no message")
        );
    }
    #[derive(serde::Deserialize)]
    struct Row {
        runtime: String,
        ms: f64,
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Row = serde_json::from_str(text.trim().lines().last().unwrap_or(""))
        .with_context(|| format!("--compare-ort: unexpected output from ort_bench.py: {text:?}"))?;
    Ok((row.runtime, row.ms))
}

/// Where a run's time goes: per operator (total ms, share, node count), largest first, then
/// the `top` slowest nodes, as Markdown.
pub fn profile_table(nodes: &[NodeTime], top: usize) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let total: f64 = nodes.iter().map(|n| n.ms).sum();
    let mut by_op: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for n in nodes {
        let e = by_op.entry(&n.op).or_default();
        e.0 += n.ms;
        e.1 += 1;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    let mut out = format!(
        "total {total:.1} ms over {} nodes\n\n| operator | ms | share | nodes |\n|---|---|---|---|\n",
        nodes.len()
    );
    for (op, (ms, count)) in ops {
        let _ = writeln!(out, "| {op} | {ms:.2} | {:.1} % | {count} |", 100.0 * ms / total);
    }
    let mut slow: Vec<&NodeTime> = nodes.iter().collect();
    slow.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let _ = write!(out, "\n| slowest nodes | operator | kernel | output | ms |\n|---|---|---|---|---|\n");
    for n in slow.into_iter().take(top) {
        let kernel = n.kernel.as_deref().unwrap_or("");
        let _ = writeln!(out, "| {} | {} | {kernel} | {} | {:.2} |", n.name, n.op, n.output, n.ms);
    }
    out
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
