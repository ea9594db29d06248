//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use atelier_edge::contract::Quantization;
use atelier_host::generator::{Generator, GeneratorConfig};
use atelier_host::onnx::{self, ModelMeta};

/// The repository's `data/` folder: held-out SAFE people photos (`data/MANIFEST.md`).
pub fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
}

pub fn meta() -> ModelMeta {
    ModelMeta {
        train_size: 256,
        quantization: Quantization::F32,
        trained_with: "end-to-end test".into(),
        style_sources: None,
    }
}

/// Exports a freshly initialised generator with these styles, as `atelier export` does.
pub fn export(dir: &Path, styles: &[&str], seed: u64) -> PathBuf {
    let g =
        Generator::new(GeneratorConfig::default(), styles.iter().map(|s| s.to_string()).collect()).unwrap();
    let proto = onnx::generator_to_proto(&g, &g.init_weights(seed), &meta()).unwrap();
    let path = dir.join(format!("gen-{}.onnx", styles.join("-")));
    onnx::save(&proto, &path).unwrap();
    path
}

/// Mean absolute difference per channel value over the rows `0..rows`.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage, rows: u32) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let n = (a.width() * rows * 3) as usize;
    let sum: u64 = a.as_raw()[..n]
        .iter()
        .zip(&b.as_raw()[..n])
        .map(|(x, y)| (*x as i64 - *y as i64).unsigned_abs())
        .sum();
    sum as f64 / n as f64
}
