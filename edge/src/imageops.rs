//! Per-frame image operations: mirror flip and resizing.
//!
//! Resizing uses `fast_image_resize` (SIMD on x86 and NEON) with one reusable [`Scaler`] per
//! pipeline stage, so the per-frame path allocates only the destination image.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::frame::Size;

/// Flips an image left to right in place: a mirror shows you as others do not.
pub fn flip_horizontal(image: &mut RgbImage) {
    let width = image.width() as usize;
    for row in image.chunks_exact_mut(width * 3) {
        let (mut left, mut right) = (0, width - 1);
        while left < right {
            for c in 0..3 {
                row.swap(left * 3 + c, right * 3 + c);
            }
            left += 1;
            right -= 1;
        }
    }
}

/// Mixes `under` into `over` in place: `over = a·over + (1−a)·under` (same sizes), so a style
/// can be shown at part strength over the camera picture.
pub fn blend(over: &mut RgbImage, under: &RgbImage, a: f32) {
    debug_assert_eq!(over.dimensions(), under.dimensions());
    let a = (a.clamp(0.0, 1.0) * 256.0) as u16;
    for (o, u) in over.iter_mut().zip(under.iter()) {
        *o = ((*o as u16 * a + *u as u16 * (256 - a)) >> 8) as u8;
    }
}

/// How a resize handles a different aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Fit {
    /// Stretch to the exact size (used between pipeline stages of one frame, which keep ratios).
    Stretch,
    /// Scale to cover the destination and crop the centre (still images of any shape; `--fit
    /// fill` on a screen).
    Cover,
    /// Scale to fit inside the destination, centred on black (`--fit fit`).
    Contain,
}

impl std::str::FromStr for Fit {
    type Err = String;
    fn from_str(s: &str) -> Result<Fit, String> {
        match s {
            "fill" => Ok(Fit::Cover),
            "fit" => Ok(Fit::Contain),
            _ => Err(format!(
                "`{s}` is not a fit; accepted: fill (crop to fill the screen), fit (whole picture, black bars)"
            )),
        }
    }
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fit::Stretch => "stretch",
            Fit::Cover => "fill",
            Fit::Contain => "fit",
        })
    }
}

impl TryFrom<String> for Fit {
    type Error = String;
    fn try_from(s: String) -> Result<Fit, String> {
        s.parse()
    }
}

/// A reusable resizer.
#[derive(Default)]
pub struct Scaler {
    resizer: Resizer,
}

impl Scaler {
    pub fn new() -> Scaler {
        Scaler::default()
    }

    /// Resizes `src` to `size`; returns a copy when the size already matches.
    pub fn resize(&mut self, src: &RgbImage, size: Size, fit: Fit) -> RgbImage {
        let mut dst = RgbImage::new(size.width, size.height);
        self.resize_into(src, &mut dst, fit);
        dst
    }

    /// Resizes `src` into `dst`, whose size is the target.
    pub fn resize_into(&mut self, src: &RgbImage, dst: &mut RgbImage, fit: Fit) {
        if src.dimensions() == dst.dimensions() {
            dst.copy_from_slice(src);
            return;
        }
        if fit == Fit::Contain {
            let (sw, sh) = (src.width() as u64, src.height() as u64);
            let (dw, dh) = (dst.width() as u64, dst.height() as u64);
            // The largest size with the source's aspect that fits.
            let (w, h) =
                if sw * dh > sh * dw { (dw, (sh * dw / sw).max(1)) } else { ((sw * dh / sh).max(1), dh) };
            let fitted = self.resize(src, Size::new(w as u32, h as u32), Fit::Stretch);
            dst.fill(0);
            image::imageops::replace(dst, &fitted, ((dw - w) / 2) as i64, ((dh - h) / 2) as i64);
            return;
        }
        let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        if fit == Fit::Cover {
            options = options.fit_into_destination(Some((0.5, 0.5)));
        }
        self.resizer
            .resize(src, dst, &options)
            .expect("RGB8 to RGB8 with non-empty sizes is always supported");
    }
}

impl Scaler {
    /// Resizes the `(left, top, width, height)` window of `src` into `dst`.
    pub fn resize_crop_into(&mut self, src: &RgbImage, window: (f64, f64, f64, f64), dst: &mut RgbImage) {
        let (left, top, width, height) = window;
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .crop(left, top, width, height);
        self.resizer
            .resize(src, dst, &options)
            .expect("RGB8 to RGB8 with non-empty sizes is always supported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_mirrors_rows() {
        let mut img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        flip_horizontal(&mut img);
        assert_eq!(img.get_pixel(0, 0).0, [2, 0, 7]);
        assert_eq!(img.get_pixel(1, 1).0, [1, 1, 7]);
        assert_eq!(img.get_pixel(2, 1).0, [0, 1, 7]);
    }

    #[test]
    fn blend_mixes_by_strength() {
        let under = RgbImage::from_pixel(2, 1, image::Rgb([0, 100, 200]));
        let mut over = RgbImage::from_pixel(2, 1, image::Rgb([200, 100, 0]));
        blend(&mut over, &under, 0.25);
        assert_eq!(over.get_pixel(1, 0).0, [50, 100, 150]);
        let mut full = RgbImage::from_pixel(1, 1, image::Rgb([255, 7, 9]));
        blend(&mut full, &RgbImage::new(1, 1), 1.0);
        assert_eq!(full.get_pixel(0, 0).0, [255, 7, 9]);
    }

    #[test]
    fn contain_letterboxes() {
        let img = RgbImage::from_pixel(40, 30, image::Rgb([200, 100, 50]));
        let out = Scaler::new().resize(&img, Size::new(80, 40), Fit::Contain);
        // 40×30 fits 80×40 as 53×40, centred: black bars left and right.
        assert_eq!(out.get_pixel(0, 20).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(79, 20).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(40, 20).0, [200, 100, 50]);
        assert_eq!(out.get_pixel(40, 0).0, [200, 100, 50]);
        assert_eq!("fill".parse::<Fit>().unwrap(), Fit::Cover);
        assert!("zoom".parse::<Fit>().unwrap_err().contains("accepted"));
    }

    #[test]
    fn cover_crops_to_size() {
        let img = RgbImage::from_fn(100, 50, |x, _| image::Rgb([(x * 2) as u8, 0, 0]));
        let out = Scaler::new().resize(&img, Size::new(20, 20), Fit::Cover);
        assert_eq!(out.dimensions(), (20, 20));
        // The centre column of a cover-crop comes from the centre of the source.
        let mid = out.get_pixel(10, 10).0[0] as i32;
        assert!((mid - 100).abs() < 8, "{mid}");
    }
}
