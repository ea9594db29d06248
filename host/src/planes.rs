//! Planar f32 RGB images and PSNR, shared by `stylize`, `eval` and `quantize`.
//!
//! The tools compare model outputs numerically, so they work in the model's own layout (planar
//! NCHW f32 in [0,1]) and convert to RGB8 only to read and write files: rounding to 8 bits
//! between steps would hide the small differences that quantization and instability metrics
//! measure.

use atelier_edge::engine::{image_to_tensor, tensor_to_image};
use image::RgbImage;
use tract_onnx::prelude::*;

/// Planar f32 RGB in [0,1]: `data[c * width * height + y * width + x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Planes {
    pub fn from_image(image: &RgbImage) -> Planes {
        Planes::from_tensor(&image_to_tensor(image)).expect("image_to_tensor makes f32 [1,3,H,W]")
    }

    /// RGB8, values clamped to [0,1] and rounded.
    pub fn to_image(&self) -> RgbImage {
        tensor_to_image(&self.to_tensor()).expect("Planes are [1,3,H,W]")
    }

    /// Reads an f32 `[1,3,H,W]` tensor.
    pub fn from_tensor(t: &Tensor) -> Result<Planes, String> {
        let shape = t.shape();
        if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 {
            return Err(format!("expected a [1,3,H,W] tensor, got {shape:?}"));
        }
        let data =
            t.try_as_plain_ram().map_err(|e| e.to_string())?.as_slice::<f32>().map_err(|e| e.to_string())?;
        Ok(Planes { width: shape[3], height: shape[2], data: data.to_vec() })
    }

    pub fn to_tensor(&self) -> Tensor {
        tensor1(&self.data).into_shape(&[1, 3, self.height, self.width]).expect("3*H*W values")
    }

    /// One channel (0 = R, 1 = G, 2 = B).
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }

    /// BT.601 luma, `0.299 R + 0.587 G + 0.114 B`.
    pub fn luma(&self) -> Vec<f32> {
        let (r, g, b) = (self.plane(0), self.plane(1), self.plane(2));
        (0..r.len()).map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]).collect()
    }
}

/// Peak signal-to-noise ratio in dB of `b` against `a` for values whose range is `peak` (1.0 for
/// model tensors). Identical inputs give infinity.
pub fn psnr(a: &[f32], b: &[f32], peak: f32) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr of slices of different lengths");
    let mse = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len().max(1) as f64;
    10.0 * ((peak as f64).powi(2) / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        let a = vec![0.5f32; 100];
        assert!(psnr(&a, &a, 1.0).is_infinite());
        // Every value off by 0.01: MSE 1e-4, PSNR 40 dB.
        let b: Vec<f32> = a.iter().map(|v| v + 0.01).collect();
        assert!((psnr(&a, &b, 1.0) - 40.0).abs() < 1e-3);
    }

    #[test]
    fn planes_roundtrip_and_luma() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 50, y as u8 * 100, 255]));
        let p = Planes::from_image(&img);
        assert_eq!((p.width, p.height), (5, 3));
        assert_eq!(p.plane(2), &[1.0; 15][..]);
        assert_eq!(p.to_image(), img);
        let white = Planes { width: 1, height: 1, data: vec![1.0; 3] };
        assert!((white.luma()[0] - 1.0).abs() < 1e-6);
    }
}
