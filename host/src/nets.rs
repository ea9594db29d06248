//! The pretrained networks converted from PyPI wheels by `scripts/feature-nets.sh`
//! (`docs/feature-nets.md`): where they live, and the evaluation network.
//!
//! Training measures style in EfficientNet-Lite0 (`train::features`); evaluation measures it in
//! EfficientNet-Lite1, trained separately, so a model cannot score well by fitting the very
//! network that judges it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::eval::{EvalError, Grams};

/// The training loss network (tch reads it).
pub const LITE0_FILE: &str = "efficientnet-lite0-features.safetensors";
/// The evaluation network (tract runs it).
pub const LITE1_FILE: &str = "efficientnet-lite1-features.onnx";

/// `$ATELIER_NETS`, else `~/.cache/atelier/nets`: where `scripts/feature-nets.sh` writes.
pub fn default_dir() -> PathBuf {
    std::env::var_os("ATELIER_NETS").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/atelier/nets")
    })
}

/// EfficientNet-Lite1's four taps (expansion activations at 1/2 … 1/16 resolution), with the
/// Gram matrix of each computed inside the tract plan, at one square size (a multiple of 16: the
/// file's explicit padding equals TF "same" only there).
pub struct PretrainedGrams {
    size: usize,
    plan: Arc<TypedRunnableModel>,
}

impl PretrainedGrams {
    pub fn load(path: &Path, size: usize) -> Result<PretrainedGrams, EvalError> {
        let err = |what: String| {
            EvalError::Features(format!(
                "{}: {what}; run scripts/feature-nets.sh to convert it from its PyPI wheel",
                path.display()
            ))
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut proto =
            pb::ModelProto::decode(bytes.as_slice()).map_err(|e| err(format!("not ONNX ({e})")))?;
        let graph = proto.graph.as_mut().ok_or_else(|| err("no graph".into()))?;
        let taps: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        if taps.len() != 4 {
            return Err(err(format!("expected 4 tap outputs, found {}", taps.len())));
        }
        graph.output.clear();
        for tap in &taps {
            let (nodes, inits, gram) = crate::eval::gram_nodes(tap);
            graph.node.extend(nodes);
            graph.initializer.extend(inits);
            graph.output.push(pb::ValueInfoProto { name: gram, ..Default::default() });
        }
        atelier_edge::engine::kernels::choose();
        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, size, size]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| err(format!("{e:#}")))?;
        Ok(PretrainedGrams { size, plan: model })
    }

    /// Gram matrices (normalised by C·h·w) of an image cover-cropped to the network's size; tap
    /// `l` is at 1/2^(l+1).
    pub fn grams(&self, image: &RgbImage) -> Result<Grams, EvalError> {
        crate::eval::run_grams(&self.plan, image, self.size, 0.0, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs `scripts/feature-nets.sh` (the test command runs it first).
    #[test]
    fn lite1_grams_see_texture_not_just_colour() {
        let net = PretrainedGrams::load(&default_dir().join(LITE1_FILE), 64).unwrap();
        let stripes = |period: u32, phase: u32| {
            RgbImage::from_fn(64, 64, |x, _| {
                let v = if ((x + phase) / period).is_multiple_of(2) { 200 } else { 40 };
                image::Rgb([v, v / 2, 90])
            })
        };
        let a = net.grams(&stripes(4, 0)).unwrap();
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [96 * 96, 144 * 144, 240 * 240, 672 * 672]);
        assert_eq!(crate::eval::gram_distance(&a, &a), 0.0);
        let near = crate::eval::gram_distance(&a, &net.grams(&stripes(4, 2)).unwrap());
        // Same mean colour, other texture.
        let mean = RgbImage::from_pixel(64, 64, image::Rgb([120, 60, 90]));
        let far = crate::eval::gram_distance(&a, &net.grams(&mean).unwrap());
        assert!(far > 5.0 * near && far > 0.0, "near {near}, far {far}");
    }
}
