//! ms/frame of the engine on the project's default model (models/default.onnx).
//!
//! `cargo bench -p atelier-edge --bench engine`. The environment picks another setting:
//! `ATELIER_BENCH_MODEL` (file), `ATELIER_BENCH_THREADS` (thread count), `ATELIER_BENCH_SIZES`
//! (`320x240,640x480`), `ATELIER_BENCH_PRECISION` (`f32` or `f16`). The arm64 device lab runs
//! this bench at a small size and both precisions (`scripts/devlab/scenarios/arm-kernels.sh`).

use std::path::PathBuf;

use atelier_edge::engine::Precision;
use atelier_edge::{Engine, EngineOptions, Size};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use image::RgbImage;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T
where
    T::Err: std::fmt::Debug,
{
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e:?}")))
}

fn engine(c: &mut Criterion) {
    let model = std::env::var_os("ATELIER_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default.onnx"));
    let threads: usize = setting("ATELIER_BENCH_THREADS", 1);
    let precision: Precision = setting("ATELIER_BENCH_PRECISION", Precision::F32);
    let sizes: Vec<Size> = setting::<String>("ATELIER_BENCH_SIZES", "320x240,640x480".into())
        .split(',')
        .map(|s| s.parse().unwrap_or_else(|e| panic!("ATELIER_BENCH_SIZES: {s}: {e}")))
        .collect();
    let options = EngineOptions { threads, precision, ..EngineOptions::default() };
    let mut engine = Engine::load(&model, options).expect("model loads");
    let mut group = c.benchmark_group(format!("engine/{threads}threads/{precision}"));
    // Each frame takes milliseconds (seconds under emulation): the same iterations per sample.
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    for size in sizes {
        engine.prepare(size).unwrap();
        let frame = RgbImage::from_fn(size.width, size.height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        group.bench_function(size.to_string(), |b| b.iter(|| engine.stylize(&frame).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
