//! `atelier bench`: ms/frame of a model in the mirror's engine, per size and thread count.
//!
//! Timings on a shared machine are noisy: `ms_per_frame` reports the median of several runs
//! after a warm-up, and figures go to `docs/benchmarks.md` with the command that produced them.

use std::path::Path;

use atelier_edge::{Engine, EngineOptions, Size};

use crate::eval::ms_per_frame;

/// One measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub size: String,
    pub threads: usize,
    pub ms_per_frame: f64,
    pub fps: f64,
}

/// Times `model` at every size × thread count.
pub fn run(model: &Path, sizes: &[Size], threads: &[usize], runs: usize) -> anyhow::Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for &t in threads {
        let mut engine = Engine::load(model, EngineOptions { threads: t, ..EngineOptions::default() })?;
        for &size in sizes {
            let ms = ms_per_frame(&mut engine, size, runs)?;
            rows.push(BenchRow { size: size.to_string(), threads: t, ms_per_frame: ms, fps: 1e3 / ms });
        }
    }
    Ok(rows)
}
