//! The person in the picture: a segmentation mask (MediaPipe's selfie segmenter run by tract),
//! smoothed over time, and the composite of the stylized person over a chosen background.
//!
//! ```text
//!  camera picture ──▶ Segmenter (256×144) ──▶ MaskSmoother ──▶ matte at model size (feathered)
//!        └──────────▶ generator ──────────────────────────────▶ over(person, background, matte)
//! ```

pub mod composite;
pub mod mask;
pub mod segmenter;

use image::RgbImage;

pub use composite::{Background, Stylize};
pub use mask::{Mask, MaskSmoother};
pub use segmenter::{Segmenter, SegmenterError};

use crate::engine::{Engine, EngineError};
use crate::frame::Size;

/// The segmenter and the mask it keeps over time. The segmenter runs on every frame it is given:
/// at ~9 ms per frame here (`cargo bench --bench frame_path -- person`; the generator takes ~65 ms)
/// a skipped frame would save little and let the edge lag behind a moving person.
#[derive(Debug)]
pub struct PersonMask {
    segmenter: Segmenter,
    smoother: MaskSmoother,
}

impl PersonMask {
    pub fn new(segmenter: Segmenter) -> PersonMask {
        PersonMask { segmenter, smoother: MaskSmoother::default() }
    }

    /// Segments `image`, folds the mask into the smoothed one (for the composite, see
    /// [`current`](Self::current)) and returns this frame's own coverage, unsmoothed. Presence
    /// has its own hysteresis, in seconds; the smoother's memory is in frames, and on top of it
    /// would stretch a passer-by by a frame's worth of time (0.4 s at a slow look's pace).
    pub fn update(&mut self, image: &RgbImage) -> Result<f32, SegmenterError> {
        let mask = self.segmenter.segment(image)?;
        let coverage = mask.coverage();
        self.smoother.update(mask);
        Ok(coverage)
    }

    /// The smoothed mask of the last frame segmented.
    pub fn current(&self) -> Option<&Mask> {
        self.smoother.current()
    }
}

/// How the picture is painted: the style on all of it, on the person, or on the background.
#[derive(Debug, Clone, PartialEq)]
pub struct Painter {
    pub stylize: Stylize,
    pub background: Background,
    /// Feather radius of the matte's edge, as a share of the picture's width.
    pub feather: f32,
}

impl Default for Painter {
    fn default() -> Self {
        Painter { stylize: Stylize::default(), background: Background::default(), feather: 0.012 }
    }
}

impl Painter {
    /// Stylizes `camera` with the engine's current style and composites it through `mask`
    /// (without a mask, or with `Stylize::All`, the whole picture is stylized).
    pub fn paint(
        &self,
        engine: &mut Engine,
        camera: &RgbImage,
        mask: Option<&Mask>,
    ) -> Result<RgbImage, EngineError> {
        let styled = engine.stylize(camera)?;
        let Some(mask) = mask.filter(|_| self.stylize != Stylize::All) else { return Ok(styled) };
        let size = Size::new(camera.width(), camera.height());
        let feather = (camera.width() as f32 * self.feather).round() as u32;
        let matte = mask.matte(size, feather);
        Ok(match self.stylize {
            Stylize::Person => {
                let background = match &self.background {
                    Background::Original => camera.clone(),
                    Background::Style(name) => other_style(engine, camera, name)?,
                    plain => composite::plain_background(camera, plain).expect("dim and blur are made here"),
                };
                let mut person = styled;
                composite::over(&mut person, &background, &matte);
                person
            }
            Stylize::Background => {
                let mut person = camera.clone();
                composite::over(&mut person, &styled, &matte);
                person
            }
            Stylize::All => unreachable!("handled above"),
        })
    }
}

/// `camera` in style `name` of the same model, leaving the engine's style as it was. An unknown
/// name (the model was swapped for one without it) falls back to the camera picture.
fn other_style(engine: &mut Engine, camera: &RgbImage, name: &str) -> Result<RgbImage, EngineError> {
    let current = engine.style_weights().to_vec();
    if engine.set_style(name).is_err() {
        return Ok(camera.clone());
    }
    let out = engine.stylize(camera);
    engine.set_style_weights(&current)?;
    out
}
