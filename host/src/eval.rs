//! `atelier eval`: measures a model the way the mirror experiences it, so models can be compared
//! and regressions caught before a file ships.
//!
//! - **Style distance**: Gram-matrix distance between the output and the style's image, in the
//!   feature space of a fixed, seeded random convolutional network ([`FeatureNet`]). Random
//!   features capture texture statistics well enough to rank models, need no downloaded weights,
//!   and use a different seed ([`FEATURE_SEED`]) than the trainer's loss network, so a model
//!   cannot have been optimised against the very features that judge it. Reported as a ratio to
//!   the unstylized input's distance: below 1 means the output moved towards the style.
//! - **Pretrained style distance**: the same ratio measured in EfficientNet-Lite1 with ImageNet
//!   weights ([`crate::nets::PretrainedGrams`]), a network training does not use (it trains on
//!   Lite0 or random features). Pretrained features see strokes and motifs, not only palette and
//!   fine texture; skipped with a note when `scripts/feature-nets.sh` has not been run.
//! - **Content preservation**: SSIM of the blurred luminance of input and output. The blur
//!   (σ = 2 px at a 256-px short side) removes the brush-stroke texture a style *should* add, so
//!   what is left is whether shapes and shading survived.
//! - **Temporal instability**: a mirror shows a video; a generator that reacts to a 1-pixel move
//!   or to sensor noise flickers. Both are measured directly on single frames.
//! - **Cost**: MACs per pixel from the metadata, and milliseconds per frame in tract.
//!
//! Everything runs through [`atelier_edge::Engine`], the mirror's own engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::generator::normal_samples;
use atelier_edge::engine::{EngineError, ModelError};
use atelier_edge::imageops::{Fit, Scaler};
use atelier_edge::overlay::{self, OverlayOptions};
use atelier_edge::{Engine, EngineOptions, Size};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::images::{list_images, load_rgb};
use crate::onnx::{IR_VERSION, OPSET, attr_ints, f32_tensor, i64_tensor, node};
use crate::planes::Planes;

/// Seed of the random feature network. Deliberately not the trainer's seed: see the module docs.
pub const FEATURE_SEED: u64 = 0xE7A1;
/// Seed of the noise added for the noise-instability metric (plus the image's index).
pub const NOISE_SEED: u64 = 0x0153;
/// Standard deviation of that noise: about one 8-bit camera step either way.
pub const NOISE_SIGMA: f32 = 2.0 / 255.0;
/// Content images are cover-cropped to this size: 4:3-ish with a 256-px short side, widths
/// a multiple of 8, so SSIM works at the 256-px scale the metric is defined at.
pub const EVAL_SIZE: Size = Size::new(344, 256);
/// Side of the square crops the Gram matrices are computed on.
pub const GRAM_SIZE: usize = 256;
/// Blur applied to the luminance before SSIM, in pixels at [`EVAL_SIZE`].
pub const CONTENT_BLUR_SIGMA: f32 = 2.0;
/// Border excluded from the shift comparison: padding effects reach this far into the image.
pub const SHIFT_BORDER: usize = 8;
/// Content rows in the contact sheet.
pub const SHEET_ROWS: usize = 6;
/// Sizes timed, and runs per size (the median is reported).
pub const TIMING_SIZES: [Size; 2] = [Size::new(320, 240), Size::new(640, 480)];
pub const TIMING_RUNS: usize = 7;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("content folder {}: {message}", path.display())]
    Content { path: PathBuf, message: String },
    #[error("feature network: {0}")]
    Features(String),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// Per-layer Gram matrices, each `C×C` and normalised by `C·H·W`.
pub type Grams = Vec<Vec<f32>>;

/// The fixed random feature network: three scales of `conv3x3 → ReLU`, with 2×2 average pooling
/// between them (3→32, 32→64, 64→128 channels). Built as an ONNX graph with the writer's helpers
/// and run by tract, which also computes the Gram matrices (`F·Fᵀ`), at one square size.
pub struct FeatureNet {
    size: usize,
    plan: Arc<TypedRunnableModel>,
}

const FEATURE_WIDTHS: [(usize, usize); 3] = [(3, 32), (32, 64), (64, 128)];

impl FeatureNet {
    /// Builds the network for `size`×`size` inputs with weights drawn from [`FEATURE_SEED`].
    pub fn new(size: usize) -> Result<FeatureNet, EvalError> {
        let err = |e: TractError| EvalError::Features(format!("{e:#}"));
        let proto = feature_proto(FEATURE_SEED, size);
        atelier_edge::engine::kernels::choose();
        let model = tract_onnx::onnx().model_for_proto_model(&proto).map_err(err)?;
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(err)?;
        Ok(FeatureNet { size, plan })
    }

    /// Gram matrices of an image, which is cover-cropped to the network's size first.
    pub fn grams(&self, image: &RgbImage) -> Result<Grams, EvalError> {
        // Centre the input so the random ReLU features see both signs; layer l is at 1/2^l.
        run_grams(&self.plan, image, self.size, -0.5, 0)
    }
}

/// Runs a plan whose outputs are [`gram_nodes`]' Gram matrices on `image` cover-cropped to
/// `size`², with `offset` added to the [0,1] input, and normalises each C×C matrix by C·h·w,
/// where output `l` is at resolution `size >> (l + first_shift)`.
pub(crate) fn run_grams(
    plan: &Arc<TypedRunnableModel>,
    image: &RgbImage,
    size: usize,
    offset: f32,
    first_shift: usize,
) -> Result<Grams, EvalError> {
    let side = size as u32;
    let square = Scaler::new().resize(image, Size::new(side, side), Fit::Cover);
    let mut p = Planes::from_image(&square);
    if offset != 0.0 {
        p.data.iter_mut().for_each(|v| *v += offset);
    }
    let features = |e: TractError| EvalError::Features(format!("{e:#}"));
    let outputs =
        atelier_edge::engine::kernels::run(plan, tvec![p.to_tensor().into_tvalue()]).map_err(features)?;
    outputs
        .iter()
        .enumerate()
        .map(|(layer, t)| {
            let data = t
                .try_as_plain_ram()
                .and_then(|d| d.as_slice::<f32>().map(|s| s.to_vec()))
                .map_err(features)?;
            let c = (data.len() as f64).sqrt().round() as usize;
            let norm = (c * (size >> (layer + first_shift)).pow(2)) as f32;
            Ok(data.into_iter().map(|v| v / norm).collect())
        })
        .collect()
}

/// Nodes (and their constant) computing the Gram matrix `F·Fᵀ` `[C,C]` of `feature` `[1,C,h,w]`,
/// output as `{feature}.gram`.
pub(crate) fn gram_nodes(feature: &str) -> (Vec<pb::NodeProto>, Vec<pb::TensorProto>, String) {
    let (axes, squeezed, shape, m, mt, gram) = (
        format!("{feature}.axes"),
        format!("{feature}.chw"),
        format!("{feature}.shape"),
        format!("{feature}.flat"),
        format!("{feature}.flat_t"),
        format!("{feature}.gram"),
    );
    let inits = vec![i64_tensor(&axes, &[0]), i64_tensor(&shape, &[0, -1])];
    let nodes = vec![
        node("Squeeze", &squeezed, &[feature, &axes], &[&squeezed], vec![]),
        node("Reshape", &m, &[&squeezed, &shape], &[&m], vec![]),
        node("Transpose", &mt, &[&m], &[&mt], vec![attr_ints("perm", &[1, 0])]),
        node("MatMul", &gram, &[&m, &mt], &[&gram], vec![]),
    ];
    (nodes, inits, gram)
}

/// Squared Frobenius distance between two sets of Gram matrices, summed over layers.
pub fn gram_distance(a: &Grams, b: &Grams) -> f64 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y)).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

fn feature_proto(seed: u64, size: usize) -> pb::ModelProto {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut outputs = Vec::new();
    let mut x = "x".to_string();
    for (l, &(cin, cout)) in FEATURE_WIDTHS.iter().enumerate() {
        if l > 0 {
            let pooled = format!("pool{l}");
            let attrs = vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])];
            nodes.push(node("AveragePool", &pooled, &[&x], &[&pooled], attrs));
            x = pooled;
        }
        // He-uniform weights, zero biases.
        let bound = (6.0 / (cin * 9) as f32).sqrt();
        let w: Vec<f32> = (0..cout * cin * 9).map(|_| rng.random_range(-bound..bound)).collect();
        let (wn, bn, conv, feat) = (format!("w{l}"), format!("b{l}"), format!("conv{l}"), format!("f{l}"));
        inits.push(f32_tensor(&wn, &[cout, cin, 3, 3], &w));
        inits.push(f32_tensor(&bn, &[cout], &vec![0.0; cout]));
        let attrs = vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("pads", &[1; 4])];
        nodes.push(node("Conv", &conv, &[&x, &wn, &bn], &[&conv], attrs));
        nodes.push(node("Relu", &feat, &[&conv], &[&feat], vec![]));
        let (gram_nodes, gram_inits, gram) = gram_nodes(&feat);
        nodes.extend(gram_nodes);
        inits.extend(gram_inits);
        outputs.push(pb::ValueInfoProto { name: gram, ..Default::default() });
        x = feat;
    }
    pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        graph: Some(pb::GraphProto {
            name: "atelier_eval_features".into(),
            node: nodes,
            initializer: inits,
            input: vec![input_info("x", &[1, 3, size as i64, size as i64])],
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An f32 graph input of fixed shape.
fn input_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim =
        dims.iter().map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() }).collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Separable Gaussian blur of one plane, edges clamped.
pub fn gaussian_blur(plane: &[f32], width: usize, height: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> =
        (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut dst = vec![0.0; src.len()];
        for y in 0..height {
            for x in 0..width {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x as isize + d).clamp(0, width as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + d).clamp(0, height as isize - 1) as usize)
                    };
                    acc += weight * src[sy * width + sx];
                }
                dst[y * width + x] = acc;
            }
        }
        dst
    };
    pass(&pass(plane, true), false)
}

/// Mean structural similarity of two planes in [0,1] (Gaussian window σ = 1.5, the usual
/// constants C1 = 0.01², C2 = 0.03²). 1 for identical planes.
pub fn ssim(a: &[f32], b: &[f32], width: usize, height: usize) -> f64 {
    const SIGMA: f32 = 1.5;
    let (c1, c2) = (0.01f32.powi(2), 0.03f32.powi(2));
    let blur = |p: &[f32]| gaussian_blur(p, width, height, SIGMA);
    let product = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<f32>>();
    let (ma, mb) = (blur(a), blur(b));
    let (saa, sbb, sab) = (blur(&product(a, a)), blur(&product(b, b)), blur(&product(a, b)));
    let mut total = 0.0f64;
    for i in 0..a.len() {
        let (va, vb, cov) = (saa[i] - ma[i] * ma[i], sbb[i] - mb[i] * mb[i], sab[i] - ma[i] * mb[i]);
        let num = (2.0 * ma[i] * mb[i] + c1) * (2.0 * cov + c2);
        let den = (ma[i] * ma[i] + mb[i] * mb[i] + c1) * (va + vb + c2);
        total += (num / den) as f64;
    }
    total / a.len() as f64
}

/// Content preservation: SSIM of the [`CONTENT_BLUR_SIGMA`]-blurred luminance of two images of
/// one size (the caller brings them to a 256-px short side).
pub fn content_ssim(input: &Planes, output: &Planes) -> f64 {
    let (w, h) = (input.width, input.height);
    let blurred = |p: &Planes| gaussian_blur(&p.luma(), w, h, CONTENT_BLUR_SIGMA);
    ssim(&blurred(input), &blurred(output), w, h)
}

/// The image moved one pixel to the right; the first column is repeated.
pub fn shift_right(p: &Planes) -> Planes {
    let mut out = p.clone();
    for row in out.data.chunks_exact_mut(p.width) {
        row.copy_within(0..p.width - 1, 1);
    }
    out
}

/// Shift instability: mean |G(shift(x)) − shift(G(x))| over the interior (a [`SHIFT_BORDER`]
/// margin excluded), with `gx` = G(x). 0 for any shift-equivariant operation.
pub fn shift_instability<E>(
    x: &Planes,
    gx: &Planes,
    mut g: impl FnMut(&Planes) -> Result<Planes, E>,
) -> Result<f64, E> {
    let gsx = g(&shift_right(x))?;
    let (w, h, b) = (x.width, x.height, SHIFT_BORDER);
    let (mut total, mut n) = (0.0f64, 0usize);
    for c in 0..3 {
        for y in b..h.saturating_sub(b) {
            for col in b..w.saturating_sub(b) {
                let i = c * w * h + y * w + col;
                total += (gsx.data[i] - gx.data[i - 1]).abs() as f64;
                n += 1;
            }
        }
    }
    Ok(total / n.max(1) as f64)
}

/// Noise instability: mean |G(x + n) − G(x)| for Gaussian noise n of σ = [`NOISE_SIGMA`] drawn
/// from `seed` (the noisy image is clamped to [0,1]), with `gx` = G(x).
pub fn noise_instability<E>(
    x: &Planes,
    gx: &Planes,
    seed: u64,
    mut g: impl FnMut(&Planes) -> Result<Planes, E>,
) -> Result<f64, E> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut noisy = x.clone();
    let noise = normal_samples(&mut rng, noisy.data.len(), 0.0, NOISE_SIGMA);
    for (v, n) in noisy.data.iter_mut().zip(noise) {
        *v = (*v + n).clamp(0.0, 1.0);
    }
    let gn = g(&noisy)?;
    Ok(gn.data.iter().zip(&gx.data).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / gx.data.len() as f64)
}

/// Median milliseconds per frame at `size` with the engine's current style, after
/// [`Engine::prepare`] and one warm-up run.
pub fn ms_per_frame(engine: &mut Engine, size: Size, runs: usize) -> Result<f64, EngineError> {
    engine.prepare(size)?;
    let input = timing_input(size);
    engine.run_tensor(input.clone())?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        engine.run_tensor(input.clone())?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The picture every timing runs on: a ramp through [0, 1] (not zeros, which would make each
/// instance norm's output its bias).
pub fn timing_input(size: Size) -> Tensor {
    let (w, h) = (size.width as usize, size.height as usize);
    let data: Vec<f32> = (0..3 * w * h).map(|i| (i % 251) as f32 / 250.0).collect();
    Planes { width: w, height: h, data }.to_tensor()
}

/// Runs the engine on planar f32 input (the metric functions' `G`).
pub fn run_planes(engine: &mut Engine, x: &Planes) -> Result<Planes, EngineError> {
    Planes::from_tensor(&engine.run_tensor(x.to_tensor())?).map_err(EngineError::Run)
}

/// Metrics of one style, means over the content images.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StyleReport {
    pub name: String,
    /// The style image the distance was measured against, when found.
    pub source: Option<PathBuf>,
    /// Mean over images of d(output, style) / d(input, style); `None` when skipped.
    pub style_distance_ratio: Option<f64>,
    /// The same ratio in the pretrained evaluation network; `None` when skipped.
    pub pretrained_style_distance_ratio: Option<f64>,
    pub content_ssim: f64,
    pub shift_instability: f64,
    pub noise_instability: f64,
}

/// What `atelier eval` writes as `report.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub model: PathBuf,
    pub file_bytes: u64,
    pub quantization: String,
    pub macs_per_pixel: Option<u64>,
    /// Median ms per frame in tract (one thread), by size.
    pub ms_per_frame: BTreeMap<String, f64>,
    pub eval_size: String,
    pub feature_seed: u64,
    pub content_images: Vec<String>,
    pub styles: Vec<StyleReport>,
    /// Means over styles (the style ratio over the styles that have one).
    pub mean_content_ssim: f64,
    pub mean_shift_instability: f64,
    pub mean_noise_instability: f64,
    pub mean_style_distance_ratio: Option<f64>,
    pub mean_pretrained_style_distance_ratio: Option<f64>,
    /// The pretrained evaluation network's file, when it was used.
    pub pretrained_net: Option<PathBuf>,
    pub notes: Vec<String>,
}

/// Evaluates `model` on the images in `content_dir`, writes `report.json` and `contact-sheet.png`
/// into `out_dir`, and returns the report. Style images are looked up in `styles_dir` by the
/// names in the model's `atelier.style_sources`; missing ones skip the style metric with a note.
/// The pretrained style distance uses [`crate::nets::LITE1_FILE`] in `nets_dir` when it is there.
pub fn evaluate(
    model: &Path,
    content_dir: &Path,
    styles_dir: &Path,
    nets_dir: &Path,
    out_dir: &Path,
) -> Result<Report, EvalError> {
    let mut engine = Engine::load(model, EngineOptions::default())?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| EvalError::Io { path, message: e.to_string() }
    };
    let file_bytes = std::fs::metadata(model).map_err(io(model))?.len();
    let mut notes = Vec::new();
    let mut scaler = Scaler::new();

    let paths = list_images(content_dir)
        .map_err(|message| EvalError::Content { path: content_dir.to_path_buf(), message })?;
    let mut contents = Vec::new();
    for path in paths {
        match load_rgb(&path) {
            Ok(img) => contents.push((path, scaler.resize(&img, EVAL_SIZE, Fit::Cover))),
            Err(e) => notes.push(format!("skipped: {e}")),
        }
    }
    if contents.is_empty() {
        return Err(EvalError::Content {
            path: content_dir.to_path_buf(),
            message: "no readable images".into(),
        });
    }

    let styles = engine.styles().to_vec();
    let sources = style_sources(&engine, styles_dir, &mut notes);
    let mut net = None;
    let mut style_grams: Vec<Option<Grams>> = Vec::new();
    for source in &sources {
        style_grams.push(match source {
            None => None,
            Some(path) => match load_rgb(path) {
                Err(e) => {
                    notes.push(format!("style distance skipped: {e}"));
                    None
                }
                Ok(img) => {
                    if net.is_none() {
                        net = Some(FeatureNet::new(GRAM_SIZE)?);
                    }
                    Some(net.as_ref().expect("just set").grams(&img)?)
                }
            },
        });
    }
    let input_grams: Vec<Grams> = match &net {
        Some(net) => contents.iter().map(|(_, img)| net.grams(img)).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let pretrained_path = nets_dir.join(crate::nets::LITE1_FILE);
    let pretrained = match (&net, pretrained_path.is_file()) {
        (Some(_), true) => Some(crate::nets::PretrainedGrams::load(&pretrained_path, GRAM_SIZE)?),
        (Some(_), false) => {
            notes.push(format!(
                "pretrained style distance skipped: {} not found (run scripts/feature-nets.sh)",
                pretrained_path.display()
            ));
            None
        }
        (None, _) => None,
    };
    let pretrained_targets: Vec<Option<Grams>> = match &pretrained {
        Some(p) => sources
            .iter()
            .zip(&style_grams)
            .map(|(source, grams)| match (source, grams) {
                (Some(path), Some(_)) => load_rgb(path).ok().map(|img| p.grams(&img)).transpose(),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?,
        None => vec![None; sources.len()],
    };
    let pretrained_inputs: Vec<Grams> = match &pretrained {
        Some(p) => contents.iter().map(|(_, img)| p.grams(img)).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };

    let rows = contents.len().min(SHEET_ROWS);
    let mut sheet: Vec<Vec<RgbImage>> =
        contents.iter().take(rows).map(|(_, img)| vec![img.clone()]).collect();
    let mut reports = Vec::new();
    for (s, name) in styles.iter().enumerate() {
        let mut one_hot = vec![0.0; styles.len()];
        one_hot[s] = 1.0;
        engine.set_style_weights(&one_hot)?;
        let (mut ssim_sum, mut shift_sum, mut noise_sum, mut ratio_sum) = (0.0, 0.0, 0.0, 0.0);
        let mut pretrained_sum = 0.0;
        for (i, (_, img)) in contents.iter().enumerate() {
            let x = Planes::from_image(img);
            let gx = run_planes(&mut engine, &x)?;
            ssim_sum += content_ssim(&x, &gx);
            shift_sum += shift_instability(&x, &gx, |p| run_planes(&mut engine, p))?;
            noise_sum += noise_instability(&x, &gx, NOISE_SEED + i as u64, |p| run_planes(&mut engine, p))?;
            let out = gx.to_image();
            if let (Some(net), Some(target)) = (&net, &style_grams[s]) {
                let d_in = gram_distance(&input_grams[i], target);
                ratio_sum += gram_distance(&net.grams(&out)?, target) / d_in.max(f64::MIN_POSITIVE);
            }
            if let (Some(p), Some(target)) = (&pretrained, &pretrained_targets[s]) {
                let d_in = gram_distance(&pretrained_inputs[i], target);
                pretrained_sum += gram_distance(&p.grams(&out)?, target) / d_in.max(f64::MIN_POSITIVE);
            }
            if i < rows {
                sheet[i].push(out);
            }
        }
        let n = contents.len() as f64;
        reports.push(StyleReport {
            name: name.clone(),
            source: sources[s].clone(),
            style_distance_ratio: style_grams[s].as_ref().map(|_| ratio_sum / n),
            pretrained_style_distance_ratio: pretrained_targets[s].as_ref().map(|_| pretrained_sum / n),
            content_ssim: ssim_sum / n,
            shift_instability: shift_sum / n,
            noise_instability: noise_sum / n,
        });
    }

    let mut one_hot = vec![0.0; styles.len()];
    one_hot[0] = 1.0;
    engine.set_style_weights(&one_hot)?;
    let mut timings = BTreeMap::new();
    for size in TIMING_SIZES {
        timings.insert(size.to_string(), ms_per_frame(&mut engine, size, TIMING_RUNS)?);
    }

    let mean = |f: fn(&StyleReport) -> f64| reports.iter().map(f).sum::<f64>() / reports.len() as f64;
    let ratios: Vec<f64> = reports.iter().filter_map(|r| r.style_distance_ratio).collect();
    let pretrained_ratios: Vec<f64> =
        reports.iter().filter_map(|r| r.pretrained_style_distance_ratio).collect();
    let report = Report {
        model: model.to_path_buf(),
        file_bytes,
        quantization: engine.info().quantization.to_string(),
        macs_per_pixel: engine.info().macs_per_pixel,
        ms_per_frame: timings,
        eval_size: EVAL_SIZE.to_string(),
        feature_seed: FEATURE_SEED,
        content_images: contents.iter().map(|(p, _)| p.display().to_string()).collect(),
        mean_content_ssim: mean(|r| r.content_ssim),
        mean_shift_instability: mean(|r| r.shift_instability),
        mean_noise_instability: mean(|r| r.noise_instability),
        mean_style_distance_ratio: (!ratios.is_empty())
            .then(|| ratios.iter().sum::<f64>() / ratios.len() as f64),
        mean_pretrained_style_distance_ratio: (!pretrained_ratios.is_empty())
            .then(|| pretrained_ratios.iter().sum::<f64>() / pretrained_ratios.len() as f64),
        pretrained_net: pretrained.as_ref().map(|_| pretrained_path.clone()),
        styles: reports,
        notes,
    };

    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let sheet_path = out_dir.join("contact-sheet.png");
    let column_labels: Vec<&str> =
        std::iter::once("input").chain(styles.iter().map(String::as_str)).collect();
    contact_sheet(&sheet, &column_labels)
        .save(&sheet_path)
        .map_err(|e| EvalError::Io { path: sheet_path.clone(), message: e.to_string() })?;
    let report_path = out_dir.join("report.json");
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    std::fs::write(&report_path, json + "\n").map_err(io(&report_path))?;
    Ok(report)
}

/// The style image path of each style, or `None` (with a note saying why).
fn style_sources(engine: &Engine, styles_dir: &Path, notes: &mut Vec<String>) -> Vec<Option<PathBuf>> {
    let styles = engine.styles();
    let Some(sources) = &engine.info().style_sources else {
        notes.push(
            "style distance skipped for every style: the model has no `atelier.style_sources` metadata"
                .into(),
        );
        return vec![None; styles.len()];
    };
    styles
        .iter()
        .zip(sources)
        .map(|(style, file)| {
            // The repository keeps reduced JPEG copies (`models/styles`) of images trained from
            // PNG originals: the same stem in another image format counts.
            let exact = styles_dir.join(file);
            let stem = Path::new(file).file_stem().unwrap_or_default();
            let found = std::iter::once(exact)
                .chain(["jpg", "jpeg", "png"].map(|ext| styles_dir.join(stem).with_extension(ext)))
                .find(|p| p.is_file());
            if let Some(path) = found {
                Some(path)
            } else {
                let path = styles_dir.join(file);
                notes.push(format!("style distance skipped for `{style}`: {} not found", path.display()));
                None
            }
        })
        .collect()
}

/// The contact sheet: [`crate::sheet::grid`] of the cells, each labelled with its column's name.
pub fn contact_sheet(rows: &[Vec<RgbImage>], column_labels: &[&str]) -> RgbImage {
    let labelled: Vec<Vec<RgbImage>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(column_labels.iter().chain(std::iter::repeat(&"")))
                .map(|(cell, label)| {
                    let mut cell = cell.clone();
                    overlay::draw(
                        &mut cell,
                        OverlayOptions { show_style: true, show_fps: false },
                        label,
                        None,
                    );
                    cell
                })
                .collect()
        })
        .collect();
    crate::sheet::grid(&labelled)
}

/// An identity "generator" (`image → Identity → stylized`) for tests of the tools.
#[cfg(test)]
pub(crate) mod test_support {
    use atelier_edge::contract::{Quantization, keys};
    use atelier_edge::{Engine, EngineOptions};
    use prost::Message;
    use tract_onnx::pb;

    use crate::generator::{Generator, GeneratorConfig};
    use crate::onnx::{ModelMeta, generator_to_proto, node};

    pub fn identity_proto(style_sources: Option<Vec<String>>) -> pb::ModelProto {
        let g = Generator::new(GeneratorConfig::default(), vec!["id".into()]).unwrap();
        let meta = ModelMeta {
            train_size: 256,
            quantization: Quantization::F32,
            trained_with: "test".into(),
            style_sources,
        };
        let mut proto = generator_to_proto(&g, &g.init_weights(0), &meta).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        graph.node = vec![node("Identity", "identity", &["image"], &["stylized"], vec![])];
        graph.initializer.clear();
        proto.metadata_props.retain(|p| p.key != keys::MACS_PER_PIXEL);
        proto
    }

    pub fn identity_engine(style_sources: Option<Vec<String>>) -> Engine {
        let bytes = identity_proto(style_sources).encode_to_vec();
        Engine::from_bytes(&bytes, "identity", EngineOptions::default()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic texture in [0,1].
    fn texture(w: usize, h: usize, seed: u64) -> Planes {
        let mut rng = StdRng::seed_from_u64(seed);
        Planes { width: w, height: h, data: (0..3 * w * h).map(|_| rng.random()).collect() }
    }

    fn stripes(w: u32, h: u32, period: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = if ((x + y) / period).is_multiple_of(2) { 230 } else { 20 };
            image::Rgb([v, v / 2, 255 - v])
        })
    }

    #[test]
    fn ssim_is_one_for_equal_images_and_drops_with_blur() {
        let x = texture(64, 48, 1);
        let l = x.luma();
        assert!((ssim(&l, &l, 64, 48) - 1.0).abs() < 1e-9);
        let blurred = gaussian_blur(&l, 64, 48, 0.7);
        let s = ssim(&l, &blurred, 64, 48);
        assert!(s < 0.95 && s > 0.3, "{s}");
        // Content SSIM blurs first, so the same mild blur barely registers there.
        let smooth = Planes { data: x.data.iter().map(|v| v * 0.5 + 0.25).collect(), ..x.clone() };
        assert!((content_ssim(&x, &x) - 1.0).abs() < 1e-9);
        assert!(content_ssim(&x, &smooth) < 1.0);
    }

    #[test]
    fn shift_instability_separates_equivariant_from_variant_operations() {
        let x = texture(48, 40, 2);
        let identity = |p: &Planes| Ok::<_, ()>(p.clone());
        assert!(shift_instability(&x, &x, identity).unwrap() < 1e-7);
        // Nearest ×2 down then up sampling depends on the pixel grid's phase.
        let down_up = |p: &Planes| {
            let mut out = p.clone();
            for c in 0..3 {
                for y in 0..p.height {
                    for col in 0..p.width {
                        let i = c * p.width * p.height;
                        out.data[i + y * p.width + col] = p.data[i + (y & !1) * p.width + (col & !1)];
                    }
                }
            }
            Ok::<_, ()>(out)
        };
        let gx = down_up(&x).unwrap();
        assert!(shift_instability(&x, &gx, down_up).unwrap() > 0.1);
    }

    #[test]
    fn noise_instability_measures_the_reaction_to_noise() {
        let gray = Planes { width: 32, height: 32, data: vec![0.5; 3 * 32 * 32] };
        let identity = |p: &Planes| Ok::<_, ()>(p.clone());
        // The identity passes the noise through: E|n| = σ·sqrt(2/π) ≈ 0.00626.
        let n = noise_instability(&gray, &gray, 1, identity).unwrap();
        assert!((n - NOISE_SIGMA as f64 * (2.0 / std::f64::consts::PI).sqrt()).abs() < 4e-4, "{n}");
        let constant = |_: &Planes| Ok::<_, ()>(gray.clone());
        assert_eq!(noise_instability(&gray, &gray, 1, constant).unwrap(), 0.0);
    }

    #[test]
    fn gram_distance_is_zero_to_itself_and_grows_with_texture_difference() {
        let net = FeatureNet::new(64).unwrap();
        let a = stripes(64, 64, 4);
        let ga = net.grams(&a).unwrap();
        assert_eq!(ga.len(), 3);
        assert_eq!(ga[2].len(), 128 * 128);
        assert_eq!(gram_distance(&ga, &ga), 0.0);
        // The same texture, shifted, is close; a flat image is far.
        let shifted = net.grams(&stripes(64, 64, 4).sub_image_copy(2)).unwrap();
        let flat = net.grams(&RgbImage::from_pixel(64, 64, image::Rgb([120, 60, 135]))).unwrap();
        let (near, far) = (gram_distance(&ga, &shifted), gram_distance(&ga, &flat));
        assert!(far > 10.0 * near && far > 0.0, "near {near}, far {far}");
        // Seeded: a second network gives the same features.
        assert_eq!(FeatureNet::new(64).unwrap().grams(&a).unwrap(), ga);
    }

    trait Shift {
        fn sub_image_copy(self, dx: u32) -> RgbImage;
    }

    impl Shift for RgbImage {
        /// The image moved left by `dx` pixels (wrapping), the same texture at another phase.
        fn sub_image_copy(self, dx: u32) -> RgbImage {
            RgbImage::from_fn(self.width(), self.height(), |x, y| *self.get_pixel((x + dx) % self.width(), y))
        }
    }

    #[test]
    fn identity_model_evaluates_as_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (content, styles, out) = (dir.path().join("c"), dir.path().join("s"), dir.path().join("out"));
        std::fs::create_dir_all(&content).unwrap();
        std::fs::create_dir_all(&styles).unwrap();
        for (i, name) in ["a.png", "b.png"].iter().enumerate() {
            texture(400, 300, i as u64).to_image().save(content.join(name)).unwrap();
        }
        std::fs::write(content.join("bad.jpg"), b"x").unwrap();
        stripes(300, 300, 6).save(styles.join("tex.png")).unwrap();
        let model = dir.path().join("id.onnx");
        crate::onnx::save(&test_support::identity_proto(Some(vec!["tex.png".into()])), &model).unwrap();

        let r = evaluate(&model, &content, &styles, &crate::nets::default_dir(), &out).unwrap();
        assert_eq!(r.content_images.len(), 2);
        assert!(r.notes.iter().any(|n| n.contains("bad.jpg")), "{:?}", r.notes);
        let s = &r.styles[0];
        assert!((s.content_ssim - 1.0).abs() < 1e-9, "{s:?}");
        assert!(s.shift_instability < 1e-7, "{s:?}");
        assert!(s.noise_instability > 0.004 && s.noise_instability < 0.008, "{s:?}");
        // The pretrained network (scripts/feature-nets.sh, run by the test command) judges the
        // unchanged image exactly as far from the style as the input.
        let pretrained = s.pretrained_style_distance_ratio.expect("pretrained style distance measured");
        assert!((pretrained - 1.0).abs() < 1e-9, "{s:?}");
        let ratio = s.style_distance_ratio.unwrap();
        assert!((ratio - 1.0).abs() < 1e-6, "identity output is as far from the style as its input: {ratio}");
        assert!(r.ms_per_frame.contains_key("640x480"));
        assert_eq!(r.file_bytes, std::fs::metadata(&model).unwrap().len());
        let sheet = image::open(out.join("contact-sheet.png")).unwrap();
        let gap = crate::sheet::GAP;
        assert_eq!(
            (sheet.width(), sheet.height()),
            (2 * EVAL_SIZE.width + 3 * gap, 2 * EVAL_SIZE.height + 3 * gap)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(json["styles"][0]["name"], "id");

        // Without the style image the metric is skipped, with a note.
        std::fs::remove_file(styles.join("tex.png")).unwrap();
        let r = evaluate(&model, &content, &styles, &crate::nets::default_dir(), &out).unwrap();
        assert!(r.styles[0].style_distance_ratio.is_none());
        assert!(r.notes.iter().any(|n| n.contains("tex.png")), "{:?}", r.notes);
    }
}
