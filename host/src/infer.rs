//! Runs a model on a reproducible random input and dumps the tensors, so another runtime
//! (onnxruntime, in `scripts/onnx-peer-check.py`) can be compared against tract on the same data.

use std::path::Path;

use anyhow::{Context, Result};
use atelier_edge::{Engine, EngineOptions, Size};
use rand::{Rng, SeedableRng};
use tract_onnx::prelude::*;

/// What [`dump`] wrote, as `tensors.json` beside the raw files.
#[derive(Debug, serde::Serialize)]
pub struct DumpIndex {
    pub model: String,
    /// File name → shape; each file is little-endian f32.
    pub tensors: Vec<(String, Vec<usize>)>,
}

/// Runs `model` at `size` on a seeded random image (and style weights) and writes `image.f32`,
/// `style.f32` (multi-style models), `stylized.f32` and `tensors.json` into `dir`.
pub fn dump(model: &Path, size: Size, seed: u64, dir: &Path) -> Result<DumpIndex> {
    let mut engine = Engine::load(model, EngineOptions::default())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (h, w) = (size.height as usize, size.width as usize);
    let image: Vec<f32> = (0..3 * h * w).map(|_| rng.random::<f32>()).collect();
    let mut tensors = vec![("image.f32".to_string(), vec![1, 3, h, w], image.clone())];
    if engine.info().has_style_input {
        let weights: Vec<f32> = (0..engine.styles().len()).map(|_| rng.random::<f32>() + 0.05).collect();
        engine.set_style_weights(&weights)?;
        tensors.push(("style.f32".to_string(), vec![1, weights.len()], weights));
    }
    let input = tensor1(&image).into_shape(&[1, 3, h, w])?;
    let out = engine.run_tensor(input)?;
    let out_data = out.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    tensors.push(("stylized.f32".to_string(), out.shape().to_vec(), out_data));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, _, data) in &tensors {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(name), bytes).with_context(|| format!("cannot write {name}"))?;
    }
    let index = DumpIndex {
        model: model.display().to_string(),
        tensors: tensors.into_iter().map(|(n, s, _)| (n, s)).collect(),
    };
    std::fs::write(dir.join("tensors.json"), serde_json::to_string_pretty(&index)?)?;
    Ok(index)
}
