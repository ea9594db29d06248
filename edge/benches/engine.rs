//! ms/frame of the engine on the project's default model (models/default.onnx).
//!
//! `cargo bench -p atelier-edge --bench engine` (set ATELIER_BENCH_MODEL to time another file,
//! ATELIER_BENCH_THREADS for the thread count).

use std::path::PathBuf;

use atelier_edge::{Engine, EngineOptions, Size};
use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;

fn engine(c: &mut Criterion) {
    let model = std::env::var_os("ATELIER_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default.onnx"));
    let threads: usize =
        std::env::var("ATELIER_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let mut engine =
        Engine::load(&model, EngineOptions { threads, ..EngineOptions::default() }).expect("model loads");
    let mut group = c.benchmark_group(format!("engine/{}threads", threads));
    group.sample_size(20);
    for size in [Size::new(320, 240), Size::new(640, 480)] {
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
