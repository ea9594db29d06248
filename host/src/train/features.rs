//! A fixed, random-weight, multi-scale convolutional feature network for the style (Gram) and
//! content losses.
//!
//! No pretrained network (VGG) can be downloaded here or by many users; random convolutional
//! features are known to carry texture statistics well (Ustyuzhaninov et al., "Texture synthesis
//! using shallow convolutional networks with random filters", 2016), and a handful of scales covers
//! brush strokes to colour fields. The weights are drawn from a seed and never trained.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tch::{Device, Kind, Tensor};

use crate::generator::normal_samples;

/// Seed of the training feature network. Evaluation uses a different one, so a model cannot
/// score well by fitting the very features it is measured with.
pub const TRAIN_FEATURE_SEED: u64 = 0x5EED_F00D;

/// Channels of each scale; each stage is conv3×3 + ReLU, then 2× average pooling.
const WIDTHS: [i64; 4] = [32, 48, 96, 128];

pub struct FeatureNet {
    weights: Vec<Tensor>,
}

impl FeatureNet {
    pub fn new(seed: u64, device: Device) -> FeatureNet {
        let mut cin = 3;
        let weights = WIDTHS
            .iter()
            .enumerate()
            .map(|(i, &cout)| {
                // Each layer's filters come from their own seeded generator, so adding a layer
                // does not change the others.
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
                let std = (2.0 / (cin * 9) as f32).sqrt();
                let n = (cout * cin * 9) as usize;
                let w = Tensor::from_slice(&normal_samples(&mut rng, n, 0.0, std)).view([cout, cin, 3, 3]);
                // Zero-mean filters respond to structure rather than to overall brightness.
                let w = &w - w.mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
                cin = cout;
                w.to_device(device).set_requires_grad(false)
            })
            .collect();
        FeatureNet { weights }
    }

    /// Feature maps at each scale for `x` `[B,3,H,W]` in [0,1].
    pub fn features(&self, x: &Tensor) -> Vec<Tensor> {
        let mut h = x - 0.5;
        let mut out = Vec::with_capacity(self.weights.len());
        for (i, w) in self.weights.iter().enumerate() {
            if i > 0 {
                h = h.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
            }
            h = h.conv2d(w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1).relu();
            out.push(h.shallow_clone());
        }
        out
    }

    /// Index of the layer the content loss compares.
    pub const CONTENT_LAYER: usize = 2;
}

/// Gram matrices `[B,C,C]` normalised by C·H·W.
pub fn gram(f: &Tensor) -> Tensor {
    let size = f.size();
    let (b, c, hw) = (size[0], size[1], size[2] * size[3]);
    let flat = f.view([b, c, hw]);
    flat.matmul(&flat.transpose(1, 2)) / (c * hw) as f64
}

/// Style loss: Gram distance per scale, each relative to the target's magnitude so scales weigh
/// alike. `targets[l]` is `[B,C,C]` (the target Gram of each sample's style).
pub fn style_loss(features: &[Tensor], targets: &[Tensor]) -> Tensor {
    features
        .iter()
        .zip(targets)
        .map(|(f, t)| (gram(f) - t).square().mean(Kind::Float) / (t.square().mean(Kind::Float) + 1e-8))
        .fold(Tensor::from(0.0f32).to_device(targets[0].device()), |a, b| a + b)
        / features.len() as f64
}

/// Content loss: deep features kept, relative to their magnitude.
pub fn feature_loss(out: &Tensor, input: &Tensor) -> Tensor {
    (out - input).square().mean(Kind::Float) / (input.square().mean(Kind::Float) + 1e-8)
}

/// Low-frequency luminance kept: the shapes of a face and clothes survive the style.
pub fn luminance_loss(out: &Tensor, input: &Tensor) -> Tensor {
    let low = |x: &Tensor| luminance(x).avg_pool2d([8, 8], [8, 8], [0, 0], false, true, None::<i64>);
    (low(out) - low(input)).square().mean(Kind::Float) * 100.0
}

/// BT.601 luma `[B,1,H,W]`.
pub fn luminance(x: &Tensor) -> Tensor {
    let w = Tensor::from_slice(&[0.299f32, 0.587, 0.114]).to_device(x.device()).view([1, 3, 1, 1]);
    (x * w).sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
}

/// Total variation, mean absolute difference of neighbours.
pub fn total_variation(x: &Tensor) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    let dy = (x.narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1)).abs().mean(Kind::Float);
    let dx = (x.narrow(3, 1, w - 1) - x.narrow(3, 0, w - 1)).abs().mean(Kind::Float);
    dx + dy
}
