//! Training data: augmented crops of the content photos and multi-scale patches of the style
//! images, as tensors.

use std::path::{Path, PathBuf};

use rand::Rng;
use rand::rngs::StdRng;
use tch::{Device, Kind, Tensor};

use crate::images::{list_images, load_rgb};

/// Why the training data cannot be used. Each names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error("content folder {0}: no images found (jpg, jpeg, png, webp, bmp)")]
    EmptyContent(PathBuf),
    #[error("content folder {path}: {message}")]
    Content { path: PathBuf, message: String },
    #[error(
        "style image {path} is {width}x{height}, smaller than the crop size {size}; use a larger image or a smaller --size"
    )]
    StyleTooSmall { path: PathBuf, width: u32, height: u32, size: u32 },
}

/// An RGB image as a `[3,H,W]` f32 tensor in [0,1].
fn to_tensor(img: &image::RgbImage) -> Tensor {
    let (w, h) = img.dimensions();
    Tensor::from_slice(img.as_raw()).view([h as i64, w as i64, 3]).permute([2, 0, 1]).to_kind(Kind::Float)
        / 255.0
}

/// Downscales so the short side is at most `max_short` (keeps memory and crop time bounded).
fn limit(img: image::RgbImage, max_short: u32) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    if short <= max_short {
        return img;
    }
    let scale = max_short as f64 / short as f64;
    image::imageops::resize(
        &img,
        (w as f64 * scale).round() as u32,
        (h as f64 * scale).round() as u32,
        image::imageops::FilterType::Triangle,
    )
}

/// Content photos, ready for random crops.
pub struct ContentSet {
    pub paths: Vec<PathBuf>,
    images: Vec<Tensor>,
    size: i64,
}

impl ContentSet {
    pub fn load(dir: &Path, size: u32) -> Result<ContentSet, DataError> {
        let paths = list_images(dir).map_err(|message| {
            if message.starts_with("no image files") {
                DataError::EmptyContent(dir.to_path_buf())
            } else {
                DataError::Content { path: dir.to_path_buf(), message }
            }
        })?;
        let mut images = Vec::with_capacity(paths.len());
        for p in &paths {
            let img = load_rgb(p)?;
            // Upscale tiny photos so a crop always fits; downscale big ones to 2× the crop size.
            let (w, h) = img.dimensions();
            let img = if w.min(h) < size {
                let s = size as f64 / w.min(h) as f64;
                image::imageops::resize(
                    &img,
                    (w as f64 * s).ceil() as u32,
                    (h as f64 * s).ceil() as u32,
                    image::imageops::FilterType::Triangle,
                )
            } else {
                limit(img, 2 * size)
            };
            images.push(to_tensor(&img));
        }
        Ok(ContentSet { paths, images, size: size as i64 })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// A batch `[B,3,S,S]` of augmented crops: random scale and position, flip, small rotation,
    /// colour jitter and camera-like noise.
    pub fn batch(&self, rng: &mut StdRng, batch: usize) -> Tensor {
        let crops: Vec<Tensor> = (0..batch)
            .map(|_| {
                let img = &self.images[rng.random_range(0..self.images.len())];
                let crop = random_crop(img, rng, self.size, 1.0, 2.0);
                if rng.random_bool(0.5) { crop.flip([2]) } else { crop }
            })
            .collect();
        let x = Tensor::stack(&crops, 0);
        let x = rotate(&x, rng, 6.0);
        let x = jitter(&x, rng);
        let sigma = rng.random_range(0.0..0.03);
        (x.shallow_clone() + x.randn_like() * sigma).clamp(0.0, 1.0)
    }

    /// Deterministic centre crops of the first `n` images, for previews.
    pub fn preview(&self, n: usize) -> Tensor {
        let crops: Vec<Tensor> = self.images.iter().take(n).map(|img| centre_crop(img, self.size)).collect();
        Tensor::stack(&crops, 0)
    }
}

/// Style images, sampled as patches at several scales.
pub struct StyleSet {
    pub names: Vec<String>,
    pub paths: Vec<PathBuf>,
    images: Vec<Tensor>,
    size: i64,
}

impl StyleSet {
    pub fn load(styles: &[(String, PathBuf)], size: u32) -> Result<StyleSet, DataError> {
        let mut images = Vec::new();
        for (_, path) in styles {
            let img = load_rgb(path)?;
            let (width, height) = img.dimensions();
            if width.min(height) < size {
                return Err(DataError::StyleTooSmall { path: path.clone(), width, height, size });
            }
            // Brush strokes are learnt at the scale they have in a ~2× crop-size rendering.
            images.push(to_tensor(&limit(img, 2 * size)));
        }
        Ok(StyleSet {
            names: styles.iter().map(|(n, _)| n.clone()).collect(),
            paths: styles.iter().map(|(_, p)| p.clone()).collect(),
            images,
            size: size as i64,
        })
    }

    /// Patches `[B,3,S,S]` of the styles `index[b]`.
    pub fn patches(&self, rng: &mut StdRng, index: &[usize]) -> Tensor {
        let patches: Vec<Tensor> = index
            .iter()
            .map(|&i| {
                let p = random_crop(&self.images[i], rng, self.size, 0.75, 1.5);
                if rng.random_bool(0.5) { p.flip([2]) } else { p }
            })
            .collect();
        Tensor::stack(&patches, 0)
    }
}

/// A crop of side `size × U(lo, hi)` (clamped to the image) resized to `size`.
fn random_crop(img: &Tensor, rng: &mut StdRng, size: i64, lo: f64, hi: f64) -> Tensor {
    let (h, w) = (img.size()[1], img.size()[2]);
    let max_side = h.min(w);
    let side = ((size as f64 * rng.random_range(lo..hi)).round() as i64).clamp(8.min(max_side), max_side);
    let y = rng.random_range(0..=h - side);
    let x = rng.random_range(0..=w - side);
    resize(&img.narrow(1, y, side).narrow(2, x, side), size)
}

fn centre_crop(img: &Tensor, size: i64) -> Tensor {
    let (h, w) = (img.size()[1], img.size()[2]);
    let side = h.min(w);
    resize(&img.narrow(1, (h - side) / 2, side).narrow(2, (w - side) / 2, side), size)
}

fn resize(img: &Tensor, size: i64) -> Tensor {
    if img.size()[1] == size && img.size()[2] == size {
        return img.shallow_clone();
    }
    img.unsqueeze(0).upsample_bilinear2d([size, size], false, None, None).squeeze_dim(0)
}

/// Rotates each sample by a random angle in ±`degrees`, reflecting at the borders.
fn rotate(x: &Tensor, rng: &mut StdRng, degrees: f64) -> Tensor {
    let b = x.size()[0];
    let theta: Vec<f32> = (0..b)
        .flat_map(|_| {
            let a = rng.random_range(-degrees..degrees).to_radians();
            let (s, c) = (a.sin() as f32, a.cos() as f32);
            [c, -s, 0.0, s, c, 0.0]
        })
        .collect();
    let theta = Tensor::from_slice(&theta).view([b, 2, 3]).to_device(x.device());
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    // interpolation 0 = bilinear, padding 2 = reflection.
    x.grid_sampler(&grid, 0, 2, false)
}

/// Brightness, contrast and saturation jitter per sample.
fn jitter(x: &Tensor, rng: &mut StdRng) -> Tensor {
    let b = x.size()[0];
    let mut rows = Vec::with_capacity(b as usize);
    for i in 0..b {
        let img = x.get(i);
        let luma = super::features::luminance(&img.unsqueeze(0)).squeeze_dim(0);
        let saturation = rng.random_range(0.8..1.2);
        let img = &luma + (&img - &luma) * saturation;
        let mean = img.mean(Kind::Float);
        let contrast = rng.random_range(0.8..1.2);
        let brightness = rng.random_range(-0.08..0.08);
        rows.push((&mean + (img - &mean) * contrast) + brightness);
    }
    Tensor::stack(&rows, 0).clamp(0.0, 1.0)
}

/// One-hot style weights `[B,S]` for style indices.
pub fn one_hot(index: &[usize], styles: usize, device: Device) -> Tensor {
    let mut data = vec![0f32; index.len() * styles];
    for (b, &i) in index.iter().enumerate() {
        data[b * styles + i] = 1.0;
    }
    Tensor::from_slice(&data).view([index.len() as i64, styles as i64]).to_device(device)
}
