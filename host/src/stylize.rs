//! `atelier stylize`: stylize still images (garment photos, designs) with a model, at close to
//! their own resolution, for designers rather than the mirror.
//!
//! The mirror runs at camera sizes; a designer wants the output the size of the input. The model
//! accepts any multiple of 8, so an image that fits within `max_side` is padded by edge
//! replication to the next multiple of 8 and cropped back (no resampling, pixels stay aligned);
//! a larger one is resized to bound the time, stylized, and resized back. `strength` and
//! `preserve_color` are applied afterwards at full resolution against the original pixels.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use atelier_edge::contract::SIZE_MULTIPLE;
use atelier_edge::engine::EngineError;
use atelier_edge::imageops::{Fit, Scaler};
use atelier_edge::{Engine, Size};
use image::{Rgb, RgbImage};

use crate::images::{ImageError, load_rgb};

/// Why one input could not be stylized. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StylizeError {
    #[error(transparent)]
    Read(#[from] ImageError),
    #[error("{}: {error}", path.display())]
    Engine { path: PathBuf, error: EngineError },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: image::ImageError },
    #[error("{}: an earlier input has the same name stem, so its output {} would be overwritten", input.display(), output.display())]
    DuplicateStem { input: PathBuf, output: PathBuf },
    #[error("{}: the path has no file name", .0.display())]
    NoFileName(PathBuf),
}

/// How images are stylized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// 1 = fully stylized, 0 = the input unchanged; in between blends linearly in RGB.
    pub strength: f32,
    /// Keep the input's colours (BT.601 Cb/Cr) and take only the stylized luminance.
    pub preserve_color: bool,
    /// Run the model at exactly this size (multiples of 8) instead of the image's own.
    pub size: Option<Size>,
    /// Images whose longer side exceeds this are run downscaled (the time grows with the area).
    pub max_side: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { strength: 1.0, preserve_color: false, size: None, max_side: 1024 }
    }
}

/// How an image of a given size is brought to a size the model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Pad right and bottom by edge replication to this size, then crop the output back.
    Pad(Size),
    /// Resize to this size, then resize the output back.
    Resize(Size),
}

/// Chooses how to run an image of `width`×`height` (see the module documentation).
pub fn plan(width: u32, height: u32, options: &Options) -> Plan {
    let m = SIZE_MULTIPLE as u32;
    if let Some(size) = options.size {
        return Plan::Resize(size);
    }
    if width.max(height) <= options.max_side {
        return Plan::Pad(Size::new(width.div_ceil(m) * m, height.div_ceil(m) * m));
    }
    let scale = options.max_side as f64 / width.max(height) as f64;
    let round = |v: u32| (((v as f64 * scale) / m as f64).round() as u32).max(1) * m;
    Plan::Resize(Size::new(round(width), round(height)))
}

/// Stylizes one image with the engine's current style weights and applies the options.
pub fn stylize_image(
    engine: &mut Engine,
    input: &RgbImage,
    options: &Options,
) -> Result<RgbImage, EngineError> {
    let (w, h) = input.dimensions();
    let mut scaler = Scaler::new();
    let stylized = match plan(w, h, options) {
        Plan::Pad(size) => {
            let padded = RgbImage::from_fn(size.width, size.height, |x, y| {
                *input.get_pixel(x.min(w - 1), y.min(h - 1))
            });
            let out = engine.stylize(&padded)?;
            image::imageops::crop_imm(&out, 0, 0, w, h).to_image()
        }
        Plan::Resize(size) => {
            let small = scaler.resize(input, size, Fit::Stretch);
            let out = engine.stylize(&small)?;
            scaler.resize(&out, Size::new(w, h), Fit::Stretch)
        }
    };
    Ok(finish(input, &stylized, options.strength, options.preserve_color))
}

/// Combines the input and the stylized image (same size): optionally the input's chroma with the
/// stylized luminance, then `strength * stylized + (1 - strength) * input`.
pub fn finish(input: &RgbImage, stylized: &RgbImage, strength: f32, preserve_color: bool) -> RgbImage {
    assert_eq!(input.dimensions(), stylized.dimensions(), "finish needs images of one size");
    let s = strength.clamp(0.0, 1.0);
    RgbImage::from_fn(input.width(), input.height(), |x, y| {
        let a = input.get_pixel(x, y).0.map(f32::from);
        let mut b = stylized.get_pixel(x, y).0.map(f32::from);
        if preserve_color {
            let [_, cb, cr] = rgb_to_ycbcr(a);
            let [luma, _, _] = rgb_to_ycbcr(b);
            b = ycbcr_to_rgb([luma, cb, cr]);
        }
        Rgb([0, 1, 2].map(|c| (s * b[c] + (1.0 - s) * a[c]).round().clamp(0.0, 255.0) as u8))
    })
}

/// Full-range BT.601 (JPEG) RGB → YCbCr, all on 0..255 with chroma centred on 128.
pub fn rgb_to_ycbcr([r, g, b]: [f32; 3]) -> [f32; 3] {
    [
        0.299 * r + 0.587 * g + 0.114 * b,
        128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b,
        128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b,
    ]
}

/// Inverse of [`rgb_to_ycbcr`] (not clamped).
pub fn ycbcr_to_rgb([y, cb, cr]: [f32; 3]) -> [f32; 3] {
    let (cb, cr) = (cb - 128.0, cr - 128.0);
    [y + 1.402 * cr, y - 0.344_136 * cb - 0.714_136 * cr, y + 1.772 * cb]
}

/// Stylizes each input into `out_dir/<stem>.png`. A failure on one file (unreadable, duplicate
/// name) is reported in its entry and the others still run.
pub fn stylize_files(
    engine: &mut Engine,
    inputs: &[PathBuf],
    out_dir: &Path,
    options: &Options,
) -> Vec<(PathBuf, Result<PathBuf, StylizeError>)> {
    let mut used = HashSet::new();
    inputs
        .iter()
        .map(|input| {
            let result = output_path(input, out_dir, &mut used).and_then(|out| {
                let image = load_rgb(input)?;
                let stylized = stylize_image(engine, &image, options)
                    .map_err(|error| StylizeError::Engine { path: input.clone(), error })?;
                stylized.save(&out).map_err(|error| StylizeError::Write { path: out.clone(), error })?;
                Ok(out)
            });
            (input.clone(), result)
        })
        .collect()
}

fn output_path(input: &Path, out_dir: &Path, used: &mut HashSet<PathBuf>) -> Result<PathBuf, StylizeError> {
    let stem = input.file_stem().ok_or_else(|| StylizeError::NoFileName(input.to_path_buf()))?;
    let out = out_dir.join(stem).with_extension("png");
    if !used.insert(out.clone()) {
        return Err(StylizeError::DuplicateStem { input: input.to_path_buf(), output: out });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colourful(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 37 % 256) as u8, (y * 53 % 256) as u8, ((x + y) * 11 % 256) as u8])
        })
    }

    #[test]
    fn preserve_color_keeps_a_gray_input_gray() {
        let gray = RgbImage::from_fn(16, 8, |x, y| {
            let v = (x * 16 + y) as u8;
            Rgb([v, v, v])
        });
        let out = finish(&gray, &colourful(16, 8), 1.0, true);
        for (p, s) in out.pixels().zip(colourful(16, 8).pixels()) {
            let [r, g, b] = p.0.map(i32::from);
            assert!((r - g).abs() <= 1 && (g - b).abs() <= 1, "{:?} is not gray", p.0);
            // ...and it is the stylized luminance, not the input's.
            let luma = rgb_to_ycbcr(s.0.map(f32::from))[0];
            assert!((r as f32 - luma).abs() <= 1.0, "{r} vs luma {luma}");
        }
        // Without the option the colours come through.
        let plain = finish(&gray, &colourful(16, 8), 1.0, false);
        assert_eq!(plain, colourful(16, 8));
    }

    #[test]
    fn preserve_color_keeps_input_chroma() {
        let input = RgbImage::from_fn(8, 8, |x, y| Rgb([100 + x as u8 * 5, 120, 90 + y as u8 * 4]));
        // Mid-range luminances, so that no channel clips when the input's chroma is put back.
        let stylized =
            RgbImage::from_fn(8, 8, |x, y| Rgb([90 + x as u8 * 9, 160 - y as u8 * 7, 70 + (x * y) as u8]));
        let out = finish(&input, &stylized, 1.0, true);
        for (o, i) in out.pixels().zip(input.pixels()) {
            let [_, cb_o, cr_o] = rgb_to_ycbcr(o.0.map(f32::from));
            let [_, cb_i, cr_i] = rgb_to_ycbcr(i.0.map(f32::from));
            assert!((cb_o - cb_i).abs() < 1.5 && (cr_o - cr_i).abs() < 1.5, "{:?} vs {:?}", o.0, i.0);
        }
    }

    #[test]
    fn strength_blends_between_input_and_stylized() {
        let input = colourful(8, 8);
        let stylized = RgbImage::from_pixel(8, 8, Rgb([200, 10, 60]));
        assert_eq!(finish(&input, &stylized, 0.0, false), input);
        assert_eq!(finish(&input, &stylized, 0.0, true), input);
        assert_eq!(finish(&input, &stylized, 1.0, false), stylized);
        let half = finish(&input, &stylized, 0.5, false);
        let (p, a, b) = (half.get_pixel(3, 3).0, input.get_pixel(3, 3).0, stylized.get_pixel(3, 3).0);
        for c in 0..3 {
            assert!((p[c] as f32 - (a[c] as f32 + b[c] as f32) / 2.0).abs() <= 0.5);
        }
    }

    #[test]
    fn ycbcr_roundtrips() {
        for rgb in [[0.0, 0.0, 0.0], [255.0, 0.0, 0.0], [12.0, 200.0, 99.0]] {
            let back = ycbcr_to_rgb(rgb_to_ycbcr(rgb));
            assert!(rgb.iter().zip(back).all(|(a, b)| (a - b).abs() < 0.01), "{rgb:?} -> {back:?}");
        }
    }

    #[test]
    fn plans_pad_small_images_and_resize_big_ones() {
        let o = Options::default();
        assert_eq!(plan(13, 10, &o), Plan::Pad(Size::new(16, 16)));
        assert_eq!(plan(64, 48, &o), Plan::Pad(Size::new(64, 48)));
        assert_eq!(plan(4000, 3000, &o), Plan::Resize(Size::new(1024, 768)));
        assert_eq!(plan(3000, 1001, &o), Plan::Resize(Size::new(1024, 344)));
        let fixed = Options { size: Some(Size::new(320, 240)), ..o };
        assert_eq!(plan(13, 10, &fixed), Plan::Resize(Size::new(320, 240)));
    }

    #[test]
    fn files_are_stylized_at_their_size_and_failures_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = crate::eval::test_support::identity_engine(None);
        let good = dir.path().join("dress.png");
        colourful(21, 13).save(&good).unwrap();
        let bad = dir.path().join("broken.jpg");
        std::fs::write(&bad, b"nope").unwrap();
        let out_dir = dir.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let results = stylize_files(&mut engine, &[bad.clone(), good.clone()], &out_dir, &Options::default());
        let err = results[0].1.as_ref().unwrap_err().to_string();
        assert!(err.contains("broken.jpg"), "{err}");
        let written = results[1].1.as_ref().unwrap();
        assert_eq!(written, &out_dir.join("dress.png"));
        // The identity model returns its input: padding and cropping must not shift pixels.
        assert_eq!(image::open(written).unwrap().to_rgb8(), colourful(21, 13));
    }
}
