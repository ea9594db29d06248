//! The person segmenter: MediaPipe's selfie segmentation network (Apache-2.0, converted to ONNX
//! by `scripts/segmenter.sh`; `models/segmenter/README.md`), run with tract at its own small size.

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use tract_onnx::prelude::*;

use super::mask::Mask;
use crate::engine::image_to_tensor;
use crate::frame::Size;
use crate::imageops::{Fit, Scaler};

/// The landscape model (256×144), compiled into the mirror so that a fresh install segments.
pub const BUILTIN: &[u8] = include_bytes!("../../../models/segmenter/selfie-landscape.onnx");

/// A segmentation model that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SegmenterError {
    #[error("segmenter {name}: {message}; use a model made by scripts/segmenter.sh")]
    Load { name: String, message: String },
    #[error("segmenter: {0}")]
    Run(String),
}

/// A loaded, optimised segmentation plan. `image [1,3,H,W]` RGB in [0,1] → `mask [1,1,H,W]`.
pub struct Segmenter {
    name: String,
    plan: Arc<TypedRunnableModel>,
    width: u32,
    height: u32,
    scaler: Scaler,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Segmenter({} {}x{})", self.name, self.width, self.height)
    }
}

impl Segmenter {
    /// The segmenter compiled into the mirror.
    pub fn builtin() -> Segmenter {
        Segmenter::from_bytes(BUILTIN, "built-in selfie-landscape").expect("the built-in segmenter loads")
    }

    pub fn load(path: &Path) -> Result<Segmenter, SegmenterError> {
        let bytes = std::fs::read(path).map_err(|e| SegmenterError::Load {
            name: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Segmenter::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Segmenter, SegmenterError> {
        let err = |message: String| SegmenterError::Load { name: name.to_string(), message };
        crate::engine::kernels::choose();
        let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).map_err(|e| err(format!("{e:#}")))?;
        let typed = model.into_typed().map_err(|e| err(format!("{e:#}")))?;
        let fact = typed.input_fact(0).map_err(|e| err(format!("{e:#}")))?.clone();
        let dims: Vec<usize> = fact.shape.as_concrete().map(|s| s.to_vec()).unwrap_or_default();
        if typed.inputs.len() != 1 || dims.len() != 4 || dims[0] != 1 || dims[1] != 3 {
            return Err(err(format!("expected one input [1,3,H,W] of fixed size, got {:?}", fact.shape)));
        }
        let plan =
            typed.into_optimized().and_then(|m| m.into_runnable()).map_err(|e| err(format!("{e:#}")))?;
        let (width, height) = (dims[3] as u32, dims[2] as u32);
        Ok(Segmenter { name: name.to_string(), plan, width, height, scaler: Scaler::new() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network's input size (the mask's size).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Person probability per pixel of `image`, at the network's size (the picture is stretched
    /// to it: the network was trained on whole camera frames, and a stretched mask maps back
    /// onto the picture exactly).
    pub fn segment(&mut self, image: &RgbImage) -> Result<Mask, SegmenterError> {
        let input = if image.dimensions() == (self.width, self.height) {
            image_to_tensor(image)
        } else {
            image_to_tensor(&self.scaler.resize(image, Size::new(self.width, self.height), Fit::Stretch))
        };
        let run = |e: TractError| SegmenterError::Run(format!("{e:#}"));
        let out = crate::engine::kernels::run(&self.plan, tvec!(input.into_tvalue())).map_err(run)?;
        let mask = out[0].to_plain_array_view::<f32>().map_err(run)?;
        let data: Vec<f32> = mask.iter().copied().collect();
        if data.len() != (self.width * self.height) as usize {
            return Err(SegmenterError::Run(format!(
                "mask of {} values for {}x{}",
                data.len(),
                self.width,
                self.height
            )));
        }
        Ok(Mask::new(self.width, self.height, data))
    }
}
