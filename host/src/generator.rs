//! The generator, described independently of any framework.
//!
//! One description, two interpreters: the ONNX writer ([`crate::onnx`]) turns it into a graph the
//! mirror runs, and the trainer turns it into libtorch modules. Parameters are named tensors
//! (`enc0.conv.weight`, `res1.norm0.gamma`, ...), so weights move between the two by name.
//!
//! The family: stride-2 3×3 convolutions down to ⅛ resolution, residual blocks there (plain 3×3
//! or depthwise-separable, see [`ResidualKind`]), ×2 up-sampling + 3×3 convolution back up,
//! sigmoid output. Every convolution but the last is followed by a *conditional* instance norm
//! whose scale and shift are per-style vectors mixed by the `style` input, so one model holds all
//! its styles and blends them. Most of the work happens at ¼ resolution or below, which is what
//! keeps it fast in tract on ARM.
//!
//! The default since the pretrained-loss models adds what keeps edges crisp: bilinear rather than
//! nearest up-sampling (nearest ×8 printed an 8-pixel block pattern), additive U-Net skips from
//! each encoder stage to the decoder stage of the same scale, the input photo concatenated before
//! the last convolution (full-resolution edges), and reflection padding (zero padding drew a
//! bright band along the borders). Models written before carry `"upsample":"nearest"` semantics
//! by default when their config lacks the fields.
//!
//! For speed, [`Head::Quarter`] keeps all the work at ¼ resolution or below: a stride-4 first
//! stage, and the picture made there as 4×4 sub-pixels (`docs/benchmarks.md` has why).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr_lite::Normal;

/// `n` samples of N(mean, std²) from `rng` (Box–Muller; see [`rand_distr_lite`]).
pub fn normal_samples(rng: &mut impl rand::Rng, n: usize, mean: f32, std: f32) -> Vec<f32> {
    Normal::new(mean, std).sample_n(rng, n)
}

/// Widths and depths of a generator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeneratorConfig {
    /// Output channels of each stride-2 encoder convolution (one entry per halving).
    pub encoder: Vec<usize>,
    /// Residual blocks at the bottleneck.
    pub residual_blocks: usize,
    /// Output channels of each up-sampling stage but the last (which outputs RGB).
    pub decoder: Vec<usize>,
    /// How the residual blocks convolve. Absent in checkpoints and models written before the
    /// choice existed, which were all plain.
    #[serde(default)]
    pub residual: ResidualKind,
    /// How the decoder doubles the resolution. Absent in configs written before: nearest.
    #[serde(default)]
    pub upsample: Upsampling,
    /// Padding of every convolution. Absent in configs written before: zero.
    #[serde(default)]
    pub padding: Padding,
    /// Padding of the convolutions that follow an up-sampling, when it differs from `padding`.
    /// Edge padding there lets the ONNX writer fuse bilinear ×2 and the 3×3 convolution into one
    /// convolution at the lower resolution ([`crate::onnx`]). Absent in configs written before:
    /// `padding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_padding: Option<Padding>,
    /// U-Net skips (encoder stage → decoder stage of the same scale, added; the input photo
    /// concatenated before the output convolution). Absent in configs written before: none.
    #[serde(default)]
    pub skips: bool,
    /// Where the RGB picture is made. Absent in configs written before: [`Head::Full`].
    #[serde(default, skip_serializing_if = "Head::is_full")]
    pub head: Head,
}

/// Where the generator makes its RGB picture, which decides how much it works at high
/// resolution (where a CPU's time goes: `docs/benchmarks.md`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// Up-sampled back to full resolution, the photo concatenated, a 3×3 convolution to RGB.
    #[default]
    Full,
    /// Nothing above ¼ resolution: the first encoder stage is a 4×4 stride-4 convolution, and the
    /// picture comes from ¼ resolution as 16 sub-pixels per position (a 3×3 convolution to 48
    /// channels plus a 4×4 stride-4 convolution of the photo, then a ×4 `DepthToSpace`).
    Quarter,
}

impl Head {
    fn is_full(&self) -> bool {
        *self == Head::Full
    }
}

/// Up-sampling in the decoder.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Upsampling {
    /// Nearest neighbour: cheapest, but ×8 from the bottleneck leaves an 8-pixel block pattern.
    #[default]
    Nearest,
    /// Bilinear with half-pixel centres (ONNX `Resize` linear / `half_pixel`).
    Bilinear,
}

/// Padding of the convolutions.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Padding {
    /// Zeros: the borders read as dark edges, which the style loss paints over.
    #[default]
    Zero,
    /// Mirror the border pixels (ONNX `Pad` mode `reflect` before the `Conv`).
    Reflect,
    /// Repeat the border pixels (ONNX `Pad` mode `edge`). After a bilinear up-sampling, whose
    /// border rows are already clamped copies, this is what makes the fused form exact.
    Edge,
}

/// The convolutions inside a residual block.
///
/// Separable blocks cost ~7× fewer MACs at the bottleneck, but whether that makes the model
/// faster depends on the runtime's depthwise kernel (tract's is reported scalar on ARM), and
/// whether it still looks as good depends on training: `docs/benchmarks.md` has the trade as
/// measured.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualKind {
    /// Two 3×3 convolutions.
    #[default]
    Plain,
    /// Two (3×3 depthwise → 1×1 pointwise) pairs, MobileNet style.
    Separable,
}

impl Default for GeneratorConfig {
    /// ≈6,960 MACs per pixel (0.53 GMAC at 320×240), within the ~8,000 the speed budget allows;
    /// `docs/benchmarks.md` has its ms/frame in tract.
    fn default() -> Self {
        GeneratorConfig {
            encoder: vec![16, 32, 64],
            residual_blocks: 3,
            decoder: vec![32, 16],
            residual: ResidualKind::Plain,
            upsample: Upsampling::Bilinear,
            padding: Padding::Reflect,
            decoder_padding: Some(Padding::Edge),
            skips: true,
            head: Head::Full,
        }
    }
}

impl GeneratorConfig {
    /// How much each encoder stage's output, then each decoder stage's, is smaller than the photo
    /// (2 for ½ resolution): the first stage halves it, or quarters it with [`Head::Quarter`].
    pub fn stage_scales(&self) -> (Vec<usize>, Vec<usize>) {
        let first = if self.head == Head::Quarter { 4 } else { 2 };
        let encoder: Vec<usize> = (0..self.encoder.len()).map(|i| first << i).collect();
        let bottom = encoder.last().copied().unwrap_or(1);
        let decoder = (0..self.decoder.len()).map(|i| bottom >> (i + 1)).collect();
        (encoder, decoder)
    }

    /// The generator of the models trained before pretrained losses (`classics6` v1): nearest
    /// up-sampling, zero padding, no skips, ≈3,970 MACs per pixel.
    pub fn legacy() -> Self {
        GeneratorConfig {
            encoder: vec![12, 24, 48],
            residual_blocks: 3,
            decoder: vec![24, 12],
            residual: ResidualKind::Plain,
            upsample: Upsampling::Nearest,
            padding: Padding::Zero,
            decoder_padding: None,
            skips: false,
            head: Head::Full,
        }
    }
}

/// The generator's shape on the command line (`atelier train`, `atelier export`).
#[derive(Debug, Clone, clap::Args)]
pub struct GeneratorArgs {
    /// Encoder widths, one per stride-2 stage.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub encoder: Vec<usize>,
    /// Decoder widths, one fewer than the encoder's (with skips: the encoder's, reversed, without
    /// its last).
    #[arg(long, value_delimiter = ',', default_value = "32,16")]
    pub decoder: Vec<usize>,
    /// Residual blocks at the bottleneck.
    #[arg(long, default_value_t = 3)]
    pub residual_blocks: usize,
    /// Convolutions in the residual blocks.
    #[arg(long, value_enum, default_value_t = ResidualKind::Plain)]
    pub residual: ResidualKind,
    /// Decoder up-sampling.
    #[arg(long, value_enum, default_value_t = Upsampling::Bilinear)]
    pub upsample: Upsampling,
    /// Convolution padding.
    #[arg(long, value_enum, default_value_t = Padding::Reflect)]
    pub padding: Padding,
    /// Padding of the convolutions after each up-sampling (edge: the writer fuses them with a
    /// bilinear up-sampling, ~2× faster in tract).
    #[arg(long, value_enum, default_value_t = Padding::Edge)]
    pub decoder_padding: Padding,
    /// No U-Net skips (the generator before pretrained losses had none).
    #[arg(long)]
    pub no_skips: bool,
    /// Where the RGB picture is made: `full` resolution, or `quarter` (nothing above ¼
    /// resolution; the first encoder width is then at ¼).
    #[arg(long, value_enum, default_value_t = Head::Full)]
    pub head: Head,
}

impl GeneratorArgs {
    pub fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            encoder: self.encoder.clone(),
            residual_blocks: self.residual_blocks,
            decoder: self.decoder.clone(),
            residual: self.residual,
            upsample: self.upsample,
            padding: self.padding,
            decoder_padding: Some(self.decoder_padding).filter(|p| *p != self.padding),
            skips: !self.no_skips,
            head: self.head,
        }
    }
}

/// One step of the generator.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// k×k convolution with bias, padded by [`conv_padding`] on each side, in `groups` groups
    /// (`groups == cin == cout` is a depthwise convolution).
    Conv {
        name: String,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        padding: Padding,
    },
    /// Instance norm with per-style scale (`gamma`) and shift (`beta`), each `[S, C]`.
    CondNorm {
        name: String,
        channels: usize,
    },
    Relu,
    /// ×2 up-sampling.
    Upsample(Upsampling),
    /// Keeps the current tensor under `slot` for a later [`Layer::AddSaved`] or
    /// [`Layer::ConcatSaved`] (U-Net skips).
    Save {
        slot: String,
    },
    /// `x + saved[slot]` (same shape).
    AddSaved {
        slot: String,
    },
    /// `concat([x, saved[slot]], channels)`.
    ConcatSaved {
        slot: String,
    },
    /// `x + conv(saved[slot])`: a convolution of an earlier tensor (the photo) added to the
    /// current one.
    AddConvSaved {
        slot: String,
        conv: Box<Layer>,
    },
    /// Channels to space: `[C·n², H, W]` → `[C, n·H, n·W]` (ONNX `DepthToSpace` mode `CRD`,
    /// libtorch `pixel_shuffle`).
    DepthToSpace(usize),
    /// `x + body(x)`.
    Residual {
        body: Vec<Layer>,
    },
    Sigmoid,
}

/// Padding on each side of a k×k, stride-s convolution: `k/2` for odd kernels (the size is kept,
/// or divided by the stride); none for even ones, which only patchify (`k == s`).
pub fn conv_padding(kernel: usize, stride: usize) -> usize {
    if kernel % 2 == 1 { kernel / 2 } else { kernel.saturating_sub(stride) / 2 }
}

/// A generator: its configuration, its styles, and its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub config: GeneratorConfig,
    pub styles: Vec<String>,
    pub layers: Vec<Layer>,
}

/// A named f32 tensor (row-major, ONNX layout: conv weights are `[out, in, kh, kw]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Parameters by name.
pub type Weights = BTreeMap<String, Param>;

/// Why a generator cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("a generator needs at least one style")]
    NoStyles,
    #[error("style names must be unique and non-empty; got {0:?}")]
    BadStyleNames(Vec<String>),
    #[error("the encoder needs 1 to 3 stages and the decoder one fewer; got {encoder} and {decoder}")]
    BadDepth { encoder: usize, decoder: usize },
    #[error(
        "with skips each decoder width must equal the encoder width of its scale: decoder {decoder:?} \
         needs {wanted:?} for encoder {encoder:?} (or pass --no-skips)"
    )]
    BadSkips { encoder: Vec<usize>, decoder: Vec<usize>, wanted: Vec<usize> },
    #[error("weight `{name}`: {problem}")]
    BadWeight { name: String, problem: String },
}

impl Generator {
    pub fn new(config: GeneratorConfig, styles: Vec<String>) -> Result<Generator, GeneratorError> {
        if styles.is_empty() {
            return Err(GeneratorError::NoStyles);
        }
        let unique: std::collections::HashSet<&String> = styles.iter().collect();
        if unique.len() != styles.len() || styles.iter().any(|s| s.trim().is_empty()) {
            return Err(GeneratorError::BadStyleNames(styles));
        }
        let (e, d) = (config.encoder.len(), config.decoder.len());
        if !(1..=3).contains(&e) || d + 1 != e {
            return Err(GeneratorError::BadDepth { encoder: e, decoder: d });
        }
        if config.skips {
            let wanted: Vec<usize> = config.encoder[..e - 1].iter().rev().copied().collect();
            if config.decoder != wanted {
                return Err(GeneratorError::BadSkips {
                    encoder: config.encoder.clone(),
                    decoder: config.decoder.clone(),
                    wanted,
                });
            }
        }
        let layers = build_layers(&config);
        Ok(Generator { config, styles, layers })
    }

    /// Every parameter the layers need, with its shape, in a stable order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        visit(&self.layers, &mut |layer| match layer {
            Layer::Conv { name, cin, cout, kernel, groups, .. } => {
                out.push((format!("{name}.weight"), vec![*cout, *cin / *groups, *kernel, *kernel]));
                out.push((format!("{name}.bias"), vec![*cout]));
            }
            Layer::CondNorm { name, channels } => {
                out.push((format!("{name}.gamma"), vec![self.styles.len(), *channels]));
                out.push((format!("{name}.beta"), vec![self.styles.len(), *channels]));
            }
            _ => {}
        });
        out
    }

    /// Number of learnt parameters.
    pub fn param_count(&self) -> usize {
        self.param_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// Multiply-accumulates per output pixel (convolutions only; norms and activations are
    /// a few percent on top).
    pub fn macs_per_pixel(&self) -> u64 {
        type Scales = BTreeMap<String, f64>;
        fn walk(layers: &[Layer], scale: &mut f64, macs: &mut f64, saved: &mut Scales) {
            for layer in layers {
                match layer {
                    Layer::Conv { cin, cout, kernel, stride, groups, .. } => {
                        *scale *= *stride as f64;
                        *macs += (kernel * kernel * cin * cout / groups) as f64 / (*scale * *scale);
                    }
                    Layer::Upsample(_) => *scale /= 2.0,
                    Layer::DepthToSpace(n) => *scale /= *n as f64,
                    Layer::Save { slot } => {
                        saved.insert(slot.clone(), *scale);
                    }
                    Layer::AddConvSaved { slot, conv } => {
                        let mut inner = saved[slot];
                        walk(std::slice::from_ref(conv), &mut inner, macs, saved);
                    }
                    Layer::Residual { body } => {
                        let mut inner = *scale;
                        walk(body, &mut inner, macs, saved);
                    }
                    _ => {}
                }
            }
        }
        let (mut scale, mut macs) = (1.0, 0.0);
        walk(&self.layers, &mut scale, &mut macs, &mut Scales::new());
        macs.round() as u64
    }

    /// Fresh weights: He-normal convolutions, zero biases, and per-style norm scales and shifts
    /// drawn around (1, 0) so that even an untrained model renders its styles differently.
    pub fn init_weights(&self, seed: u64) -> Weights {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut weights = Weights::new();
        for (name, shape) in self.param_shapes() {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with(".weight") {
                let fan_in: usize = shape[1..].iter().product();
                let std = if name.starts_with("out.") { 0.5 } else { 1.0 } * (2.0 / fan_in as f32).sqrt();
                Normal::new(0.0, std).sample_n(&mut rng, n)
            } else if name.ends_with(".gamma") {
                Normal::new(1.0, 0.25).sample_n(&mut rng, n)
            } else if name.ends_with(".beta") {
                Normal::new(0.0, 0.25).sample_n(&mut rng, n)
            } else {
                vec![0.0; n]
            };
            weights.insert(name, Param { shape, data });
        }
        weights
    }

    /// Checks that `weights` has every parameter with the right shape and finite values.
    pub fn check_weights(&self, weights: &Weights) -> Result<(), GeneratorError> {
        for (name, shape) in self.param_shapes() {
            let bad = |problem: String| GeneratorError::BadWeight { name: name.clone(), problem };
            let p = weights.get(&name).ok_or_else(|| bad("missing".into()))?;
            if p.shape != shape || p.data.len() != shape.iter().product::<usize>() {
                return Err(bad(format!("shape {:?}, expected {shape:?}", p.shape)));
            }
            if p.data.iter().any(|v| !v.is_finite()) {
                return Err(bad("contains NaN or infinity".into()));
            }
        }
        Ok(())
    }
}

fn build_layers(c: &GeneratorConfig) -> Vec<Layer> {
    let conv = |name: String, cin: usize, cout: usize, stride: usize| Layer::Conv {
        name,
        cin,
        cout,
        kernel: 3,
        stride,
        groups: 1,
        padding: c.padding,
    };
    let up_padding = c.decoder_padding.unwrap_or(c.padding);
    let decoder_conv = |name: String, cin: usize, cout: usize| Layer::Conv {
        name,
        cin,
        cout,
        kernel: 3,
        stride: 1,
        groups: 1,
        padding: up_padding,
    };
    // The convolution(s) standing for one 3×3, `ch → ch` convolution in residual block `prefix`.
    let residual_conv = |prefix: &str, ch: usize| match c.residual {
        ResidualKind::Plain => vec![conv(prefix.to_string(), ch, ch, 1)],
        ResidualKind::Separable => vec![
            Layer::Conv {
                name: format!("{prefix}.dw"),
                cin: ch,
                cout: ch,
                kernel: 3,
                stride: 1,
                groups: ch,
                padding: c.padding,
            },
            Layer::Conv {
                name: format!("{prefix}.pw"),
                cin: ch,
                cout: ch,
                kernel: 1,
                stride: 1,
                groups: 1,
                padding: c.padding,
            },
        ],
    };
    let mut layers = Vec::new();
    let stages = c.encoder.len();
    if c.skips {
        layers.push(Layer::Save { slot: "input".into() });
    }
    let quarter = c.head == Head::Quarter;
    // 4×4 stride 4: the patches a quarter-resolution generator starts from.
    let patchify = |name: String, cout: usize| Layer::Conv {
        name,
        cin: 3,
        cout,
        kernel: 4,
        stride: 4,
        groups: 1,
        padding: c.padding,
    };
    let mut ch = 3;
    for (i, &w) in c.encoder.iter().enumerate() {
        if quarter && i == 0 {
            layers.push(patchify(format!("enc{i}.conv"), w));
        } else {
            layers.push(conv(format!("enc{i}.conv"), ch, w, 2));
        }
        layers.push(Layer::CondNorm { name: format!("enc{i}.norm"), channels: w });
        layers.push(Layer::Relu);
        if c.skips && i + 1 < stages {
            layers.push(Layer::Save { slot: format!("enc{i}") });
        }
        ch = w;
    }
    for i in 0..c.residual_blocks {
        let mut body = residual_conv(&format!("res{i}.conv0"), ch);
        body.push(Layer::CondNorm { name: format!("res{i}.norm0"), channels: ch });
        body.push(Layer::Relu);
        body.extend(residual_conv(&format!("res{i}.conv1"), ch));
        body.push(Layer::CondNorm { name: format!("res{i}.norm1"), channels: ch });
        layers.push(Layer::Residual { body });
    }
    for (i, &w) in c.decoder.iter().enumerate() {
        layers.push(Layer::Upsample(c.upsample));
        layers.push(decoder_conv(format!("dec{i}.conv"), ch, w));
        layers.push(Layer::CondNorm { name: format!("dec{i}.norm"), channels: w });
        layers.push(Layer::Relu);
        if c.skips {
            // Decoder stage i works at the scale of encoder stage `stages - 2 - i`.
            layers.push(Layer::AddSaved { slot: format!("enc{}", stages - 2 - i) });
        }
        ch = w;
    }
    if quarter {
        // 16 sub-pixels of RGB per ¼-resolution position, the photo's own 4×4 patch added.
        layers.push(decoder_conv("out.conv".into(), ch, 3 * 16));
        if c.skips {
            let photo = Box::new(patchify("out.photo".into(), 3 * 16));
            layers.push(Layer::AddConvSaved { slot: "input".into(), conv: photo });
        }
        layers.push(Layer::DepthToSpace(4));
        layers.push(Layer::Sigmoid);
        return layers;
    }
    layers.push(Layer::Upsample(c.upsample));
    if c.skips {
        layers.push(Layer::ConcatSaved { slot: "input".into() });
        ch += 3;
    }
    layers.push(decoder_conv("out.conv".into(), ch, 3));
    layers.push(Layer::Sigmoid);
    layers
}

/// Calls `f` on every layer, depth first.
pub fn visit(layers: &[Layer], f: &mut impl FnMut(&Layer)) {
    for layer in layers {
        f(layer);
        match layer {
            Layer::Residual { body } => visit(body, f),
            Layer::AddConvSaved { conv, .. } => visit(std::slice::from_ref(conv), f),
            _ => {}
        }
    }
}

/// A normal distribution sampled with Box–Muller. `rand_distr` would do, but a dozen lines keep
/// initialisation bit-identical across `rand` upgrades, which the `--seed` promise relies on.
mod rand_distr_lite {
    use rand::Rng;

    pub struct Normal {
        mean: f32,
        std: f32,
    }

    impl Normal {
        pub fn new(mean: f32, std: f32) -> Normal {
            Normal { mean, std }
        }

        pub fn sample_n(&self, rng: &mut impl Rng, n: usize) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let u1: f64 = rng.random::<f64>().max(1e-12);
                    let u2: f64 = rng.random::<f64>();
                    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                    self.mean + self.std * z as f32
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styles(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i}")).collect()
    }

    #[test]
    fn default_generator_fits_the_edge_budget() {
        let g = Generator::new(GeneratorConfig::default(), styles(4)).unwrap();
        let macs = g.macs_per_pixel();
        assert!(macs <= 8000, "{macs} MACs/pixel");
        // enc: 3·16·9/4 + 16·32·9/16 + 32·64·9/64, res: 6 × 64·64·9/64, dec: 64·32·9/16 +
        // 32·16·9/4, out: (16 + 3 input channels)·3·9.
        assert_eq!(macs, 108 + 288 + 288 + 6 * 576 + 1152 + 1152 + 513);
        let legacy = Generator::new(GeneratorConfig::legacy(), styles(4)).unwrap();
        assert_eq!(legacy.macs_per_pixel(), 81 + 162 + 162 + 6 * 324 + 648 + 648 + 324);
    }

    #[test]
    fn skips_join_encoder_and_decoder_stages_of_the_same_scale() {
        let g = Generator::new(GeneratorConfig::default(), styles(1)).unwrap();
        let kinds: Vec<String> = g
            .layers
            .iter()
            .filter_map(|l| match l {
                Layer::Save { slot } => Some(format!("save {slot}")),
                Layer::AddSaved { slot } => Some(format!("add {slot}")),
                Layer::ConcatSaved { slot } => Some(format!("concat {slot}")),
                Layer::Upsample(u) => Some(format!("{u:?}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "save input",
                "save enc0",
                "save enc1",
                "Bilinear",
                "add enc1",
                "Bilinear",
                "add enc0",
                "Bilinear",
                "concat input"
            ]
        );
        assert_eq!(g.init_weights(1)["out.conv.weight"].shape, vec![3, 19, 3, 3]);
        let c = GeneratorConfig { decoder: vec![24, 12], ..GeneratorConfig::default() };
        let err = Generator::new(c, styles(1)).unwrap_err().to_string();
        assert!(err.contains("[32, 16]") && err.contains("--no-skips"), "{err}");
    }

    #[test]
    fn separable_blocks_cut_the_bottleneck_cost() {
        let config = GeneratorConfig { residual: ResidualKind::Separable, ..GeneratorConfig::legacy() };
        let g = Generator::new(config, styles(2)).unwrap();
        // Per residual conv at ⅛ resolution: depthwise 9×48 + pointwise 48×48, over 64 pixels.
        let per_conv = (9 * 48 + 48 * 48) as f64 / 64.0;
        let expected = 81.0 + 162.0 + 162.0 + 6.0 * per_conv + 648.0 + 648.0 + 324.0;
        assert_eq!(g.macs_per_pixel(), expected.round() as u64);
        let w = g.init_weights(1);
        g.check_weights(&w).unwrap();
        assert_eq!(w["res0.conv0.dw.weight"].shape, vec![48, 1, 3, 3]);
        assert_eq!(w["res2.conv1.pw.weight"].shape, vec![48, 48, 1, 1]);
        assert!(!w.contains_key("res0.conv0.weight"));
    }

    #[test]
    fn old_configs_read_as_the_legacy_generator() {
        let c: GeneratorConfig =
            serde_json::from_str(r#"{"encoder":[12,24,48],"residual_blocks":3,"decoder":[24,12]}"#).unwrap();
        assert_eq!(c, GeneratorConfig::legacy());
        let s = serde_json::to_string(&GeneratorConfig::default()).unwrap();
        assert!(s.contains(r#""upsample":"bilinear""#) && s.contains(r#""padding":"reflect""#), "{s}");
        assert!(s.contains(r#""decoder_padding":"edge""#), "{s}");
        assert_eq!(serde_json::from_str::<GeneratorConfig>(&s).unwrap(), GeneratorConfig::default());
        // The shipped models before fused decoders: reflection everywhere.
        let v2 = s.replace(r#","decoder_padding":"edge""#, "");
        let v2: GeneratorConfig = serde_json::from_str(&v2).unwrap();
        assert_eq!(v2.decoder_padding, None);
        let g = Generator::new(v2, styles(1)).unwrap();
        let mut paddings = Vec::new();
        visit(&g.layers, &mut |l| {
            if let Layer::Conv { name, padding, .. } = l {
                paddings.push((name.clone(), *padding));
            }
        });
        assert!(paddings.iter().all(|(_, p)| *p == Padding::Reflect), "{paddings:?}");
        let g = Generator::new(GeneratorConfig::default(), styles(1)).unwrap();
        let mut edges = Vec::new();
        visit(&g.layers, &mut |l| {
            if let Layer::Conv { name, padding: Padding::Edge, .. } = l {
                edges.push(name.clone());
            }
        });
        assert_eq!(edges, ["dec0.conv", "dec1.conv", "out.conv"]);
    }

    #[test]
    fn init_is_seeded_and_complete() {
        let g = Generator::new(GeneratorConfig::default(), styles(2)).unwrap();
        let a = g.init_weights(7);
        assert_eq!(a, g.init_weights(7));
        assert_ne!(a, g.init_weights(8));
        g.check_weights(&a).unwrap();
        assert_eq!(a["enc0.norm.gamma"].shape, vec![2, 16]);
        assert_eq!(a["out.conv.weight"].shape, vec![3, 19, 3, 3]);
        assert_eq!(g.param_count(), a.values().map(|p| p.data.len()).sum::<usize>());
    }

    #[test]
    fn a_quarter_head_works_at_quarter_resolution_and_below() {
        let config = GeneratorConfig {
            encoder: vec![32, 64],
            decoder: vec![32],
            head: Head::Quarter,
            ..GeneratorConfig::default()
        };
        let g = Generator::new(config, styles(2)).unwrap();
        // enc0 4×4 s4 3→32 and the photo's 4×4 s4 3→48 over 16 pixels; enc1 3×3 s2 32→64 over
        // 64; 6 residual convs 64→64 over 64; dec0 64→32 at ¼; out 32→48 at ¼.
        let expected = (16 * 3 * 32 + 16 * 3 * 48) / 16
            + 9 * 32 * 64 / 64
            + 6 * 576
            + 9 * 64 * 32 / 16
            + 9 * 32 * 48 / 16;
        assert_eq!(g.macs_per_pixel(), expected as u64);
        let w = g.init_weights(3);
        g.check_weights(&w).unwrap();
        assert_eq!(w["enc0.conv.weight"].shape, vec![32, 3, 4, 4]);
        assert_eq!(w["out.conv.weight"].shape, vec![48, 32, 3, 3]);
        assert_eq!(w["out.photo.weight"].shape, vec![48, 3, 4, 4]);
        assert_eq!(g.layers[g.layers.len() - 2], Layer::DepthToSpace(4));
        assert_eq!(conv_padding(4, 4), 0);
        assert_eq!(conv_padding(3, 2), 1);
        // Recorded only when it is not the default, so older models' records read the same.
        let s = serde_json::to_string(&g.config).unwrap();
        assert!(s.contains(r#""head":"quarter""#), "{s}");
        assert!(!serde_json::to_string(&GeneratorConfig::default()).unwrap().contains("head"));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(Generator::new(GeneratorConfig::default(), vec![]).is_err());
        assert!(Generator::new(GeneratorConfig::default(), vec!["a".into(), "a".into()]).is_err());
        let c = GeneratorConfig { encoder: vec![8, 16], decoder: vec![], ..GeneratorConfig::default() };
        assert!(Generator::new(c, styles(1)).is_err());
    }
}
