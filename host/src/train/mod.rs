//! `atelier train`: GAN training of the multi-style generator on libtorch (tch).
//!
//! Each step: a batch of augmented content crops, each with a random style; the PatchGAN critic
//! learns style patches vs generated images (hinge loss), then the generator minimises a weighted
//! sum of adversarial, style (Gram of random features), content (deep random features and
//! low-frequency luminance), total-variation and temporal-stability losses. Weights leave through
//! the same ONNX writer as `atelier export`.

pub mod checkpoint;
pub mod cli;
pub mod critic;
pub mod data;
pub mod distill;
pub mod features;
pub mod model;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use atelier_edge::contract::Quantization;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::generator::{Generator, GeneratorConfig, Weights};
use crate::onnx::{self, ModelMeta};
use checkpoint::{CheckpointState, Outputs};
use critic::Critic;
use data::{ContentSet, StyleSet, one_hot};
use features::{GramKind, LossNet, LossNetKind};
use model::TchGenerator;

/// Weight of each loss term in the generator's objective.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LossWeights {
    pub adversarial: f64,
    pub style: f64,
    pub content: f64,
    pub luminance: f64,
    pub tv: f64,
    pub temporal: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights { adversarial: 0.05, style: 1.0, content: 0.3, luminance: 0.1, tv: 0.5, temporal: 2.0 }
    }
}

/// A term of the generator's objective that one style may weigh differently (`--tune`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Term {
    Adversarial,
    Style,
    Content,
    Luminance,
    Temporal,
}

/// `--tune NAME:TERM=F`: the samples of style NAME weigh TERM F times. One pack shares its
/// convolutions, so a pattern that swamps faces or flickers is tuned by itself without
/// changing the balance the other styles were trained with.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tune {
    pub style: String,
    pub term: Term,
    pub factor: f64,
}

/// Per-style factors of each tunable term, `[terms, styles]` on the training device.
struct Tuning(Tensor);

impl Tuning {
    const TERMS: [Term; 5] = [Term::Adversarial, Term::Style, Term::Content, Term::Luminance, Term::Temporal];

    fn new(tunes: &[Tune], names: &[String], device: Device) -> Tuning {
        let mut table = vec![1.0f32; Self::TERMS.len() * names.len()];
        for t in tunes {
            let term = Self::TERMS.iter().position(|&x| x == t.term).expect("every term is listed");
            let style = names.iter().position(|n| *n == t.style).expect("validated style name");
            table[term * names.len() + style] = t.factor as f32;
        }
        Tuning(
            Tensor::from_slice(&table).view([Self::TERMS.len() as i64, names.len() as i64]).to_device(device),
        )
    }

    /// The batch mean of a per-sample loss `[B]`, each sample weighed by its style's factor.
    fn mean(&self, term: Term, per_sample: &Tensor, style_index: &Tensor) -> Tensor {
        let row = Self::TERMS.iter().position(|&x| x == term).expect("every term is listed") as i64;
        (per_sample * self.0.get(row).index_select(0, style_index)).mean(Kind::Float)
    }
}

/// Everything `atelier train` needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// (name, image) per style.
    pub styles: Vec<(String, PathBuf)>,
    pub content: PathBuf,
    pub out: PathBuf,
    pub steps: usize,
    pub size: u32,
    pub batch: usize,
    pub seed: u64,
    pub threads: usize,
    pub resume: Option<PathBuf>,
    /// A model file whose weights start the generator (see `--init-from`).
    pub init_from: Option<PathBuf>,
    pub device: Device,
    pub weights: LossWeights,
    /// Per-style factors of single loss terms.
    pub tune: Vec<Tune>,
    pub lr: f64,
    pub preview_every: usize,
    pub checkpoint_every: usize,
    /// Stop (saving, previewing and exporting as at the last step) once this run has trained
    /// this long.
    pub time_limit: Option<std::time::Duration>,
    pub generator: GeneratorConfig,
    /// The network the style and content losses are measured in.
    pub loss_net: LossNetKind,
    /// Where `scripts/feature-nets.sh` put the converted pretrained networks.
    pub nets_dir: PathBuf,
    /// What the style Gram matrices are taken of.
    pub gram: GramKind,
    /// Show a progress bar.
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step, saving a checkpoint and the model.
    pub stop: Arc<AtomicBool>,
    /// Recorded in the model's `atelier.trained_with`.
    pub command_line: String,
}

/// Loss values of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StepLosses {
    pub adversarial: f64,
    pub style: f64,
    pub content: f64,
    pub luminance: f64,
    pub tv: f64,
    pub temporal: f64,
    pub critic: f64,
    /// Weighted generator objective.
    pub total: f64,
}

impl StepLosses {
    const CSV_HEADER: &'static str = "step,total,adversarial,style,content,luminance,tv,temporal,critic";

    fn csv(&self, step: usize) -> String {
        format!(
            "{step},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}",
            self.total,
            self.adversarial,
            self.style,
            self.content,
            self.luminance,
            self.tv,
            self.temporal,
            self.critic
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    pub first_step: usize,
    pub last_step: usize,
    pub seconds: f64,
    pub steps_per_second: f64,
    pub interrupted: bool,
    pub losses: Vec<StepLosses>,
    pub model: PathBuf,
    pub checkpoint: PathBuf,
    pub preview: PathBuf,
}

/// Patches averaged into each style's Gram targets.
const TARGET_PATCHES: usize = 16;
/// Content rows in the preview sheet.
const PREVIEW_ROWS: usize = 4;

pub fn train(opts: &TrainOptions) -> Result<TrainSummary> {
    validate(opts)?;
    tch::set_num_threads(opts.threads as i32);
    tch::manual_seed(opts.seed as i64);
    let device = opts.device;
    let names: Vec<String> = opts.styles.iter().map(|(n, _)| n.clone()).collect();
    let spec = Generator::new(opts.generator.clone(), names.clone())?;
    let content = ContentSet::load(&opts.content, opts.size)?;
    let styles = StyleSet::load(&opts.styles, opts.size)?;
    let outputs = Outputs::beside(&opts.out);
    let sources: Vec<String> = styles
        .paths
        .iter()
        .map(|p| p.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default())
        .collect();

    let (init, init_note) = match &opts.init_from {
        Some(path) => init_weights_from(path, &spec)?,
        None => (spec.init_weights(opts.seed), None),
    };
    let mut generator = TchGenerator::new(spec.clone(), &init, device);
    let mut critic = Critic::new(names.len(), device);
    let mut state = CheckpointState {
        step: 0,
        seed: opts.seed,
        size: opts.size,
        styles: names.clone(),
        style_sources: sources.clone(),
        generator: opts.generator.clone(),
        seconds: 0.0,
        commands: init_note.into_iter().collect(),
    };
    if let Some(dir) = &opts.resume {
        state = checkpoint::load(dir, &state, &mut generator.vs, &mut critic.vs)?;
        if state.step >= opts.steps {
            bail!(
                "--resume {}: the checkpoint is at step {}, already >= --steps {}",
                dir.display(),
                state.step,
                opts.steps
            );
        }
    }
    state.commands.push(opts.command_line.clone());
    let mut opt_g = nn::Adam { beta1: 0.5, beta2: 0.999, wd: 0.0, eps: 1e-8, amsgrad: false }
        .build(&generator.vs, opts.lr)?;
    let mut opt_d = nn::Adam { beta1: 0.5, beta2: 0.999, wd: 0.0, eps: 1e-8, amsgrad: false }
        .build(&critic.vs, opts.lr * 0.5)?;

    let features = features::load_loss_net(opts.loss_net, &opts.nets_dir, device)?;
    let features = features.as_ref();
    // The data stream depends on the seed and the step, so a resumed run stays repeatable.
    let mut rng = StdRng::seed_from_u64(opts.seed ^ (state.step as u64).wrapping_mul(0x9E37_79B9));
    let targets = tch::no_grad(|| style_targets(features, opts.gram, &styles, &mut rng, device));
    let tuning = Tuning::new(&opts.tune, &names, device);
    let preview_input = content.preview(PREVIEW_ROWS.min(content.len())).to_device(device);

    let mut csv = open_losses(&outputs.losses, opts.resume.is_some())?;
    let bar = progress_bar(opts, state.step);
    let started = Instant::now();
    let base_seconds = state.seconds;
    let first_step = state.step;
    let mut losses = Vec::new();
    let mut interrupted = false;
    while state.step < opts.steps {
        let index: Vec<usize> = (0..opts.batch).map(|_| rng.random_range(0..names.len())).collect();
        let step = train_step(
            opts, &generator, &critic, features, &targets, &content, &styles, &tuning, &index, &mut rng,
            &mut opt_g, &mut opt_d,
        );
        state.step += 1;
        // Flushed every step so the log can be followed (`tail -f`) and survives a crash.
        writeln!(csv, "{}", step.csv(state.step))?;
        csv.flush()?;
        losses.push(step);
        bar.set_position(state.step as u64);
        bar.set_message(format!(
            "G {:.3} style {:.3} content {:.3} temporal {:.4} adv {:.3} D {:.3}",
            step.total, step.style, step.content, step.temporal, step.adversarial, step.critic
        ));
        if !step.total.is_finite() {
            bail!("training diverged at step {} (loss {}); try a lower --lr", state.step, step.total);
        }
        interrupted = opts.stop.load(Ordering::SeqCst);
        let out_of_time = opts.time_limit.is_some_and(|limit| started.elapsed() >= limit);
        let last = state.step == opts.steps || interrupted || out_of_time;
        if last || (opts.preview_every > 0 && state.step.is_multiple_of(opts.preview_every)) {
            save_preview(&generator, &preview_input, names.len(), &outputs.preview)?;
        }
        if last || (opts.checkpoint_every > 0 && state.step.is_multiple_of(opts.checkpoint_every)) {
            let saved =
                CheckpointState { seconds: base_seconds + started.elapsed().as_secs_f64(), ..state.clone() };
            checkpoint::save(&outputs.checkpoint, &saved, &generator.vs, &critic.vs)?;
        }
        if interrupted {
            bar.println(format!("interrupted: checkpoint saved at step {}", state.step));
            break;
        }
        if out_of_time {
            bar.println(format!("--time-limit reached: checkpoint saved at step {}", state.step));
            break;
        }
    }
    bar.finish_and_clear();
    csv.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    state.seconds = base_seconds + seconds;
    export(opts, &generator, &spec, &sources, &state, &outputs)?;
    Ok(TrainSummary {
        first_step,
        last_step: state.step,
        seconds,
        steps_per_second: (state.step - first_step) as f64 / seconds.max(1e-9),
        interrupted,
        losses,
        model: outputs.model,
        checkpoint: outputs.checkpoint,
        preview: outputs.preview,
    })
}

/// The weights of the model at `path` for `spec`, and what to record about where they came from.
fn init_weights_from(path: &std::path::Path, spec: &Generator) -> Result<(Weights, Option<String>)> {
    let context = || format!("--init-from {}", path.display());
    let bytes = std::fs::read(path).with_context(context)?;
    let proto = atelier_edge::contract::decode(&bytes).with_context(context)?;
    let weights = onnx::read_weights(&proto, spec).with_context(context)?;
    let origin = atelier_edge::contract::validate(&proto)
        .ok()
        .and_then(|info| info.trained_with)
        .unwrap_or_else(|| "no training record".into());
    Ok((weights, Some(format!("[init from {}: {origin}]", path.display()))))
}

fn validate(opts: &TrainOptions) -> Result<()> {
    if opts.styles.is_empty() {
        bail!("--style: give at least one NAME=IMAGE");
    }
    if opts.size < 32 || !opts.size.is_multiple_of(8) {
        bail!("--size {}: must be a multiple of 8, at least 32", opts.size);
    }
    if opts.batch == 0 || opts.steps == 0 || opts.threads == 0 {
        bail!("--batch, --steps and --threads must be at least 1");
    }
    if opts.out.extension().and_then(|e| e.to_str()) != Some("onnx") {
        bail!("--out {}: the file name must end in .onnx", opts.out.display());
    }
    if !(opts.lr > 0.0 && opts.lr < 1.0) {
        bail!("--lr {}: must be in (0, 1)", opts.lr);
    }
    for t in &opts.tune {
        if !opts.styles.iter().any(|(name, _)| *name == t.style) {
            let names: Vec<&str> = opts.styles.iter().map(|(n, _)| n.as_str()).collect();
            bail!("--tune {}: no style of that name (styles: {})", t.style, names.join(", "));
        }
        if !(t.factor.is_finite() && t.factor >= 0.0) {
            bail!("--tune {}: the factor {} must be a number ≥ 0", t.style, t.factor);
        }
    }
    Ok(())
}

/// Per-scale Gram targets `[S,C,C]`, averaged over many patches of each style image.
fn style_targets(
    features: &dyn LossNet,
    gram: GramKind,
    styles: &StyleSet,
    rng: &mut StdRng,
    device: Device,
) -> Vec<Tensor> {
    let per_style: Vec<Vec<Tensor>> = (0..styles.names.len())
        .map(|s| {
            let patches = styles.patches(rng, &[s; TARGET_PATCHES]).to_device(device);
            features
                .features(&patches)
                .iter()
                .map(|f| features::gram(f, gram).mean_dim([0i64].as_slice(), false, Kind::Float))
                .collect()
        })
        .collect();
    (0..per_style[0].len())
        .map(|l| Tensor::stack(&per_style.iter().map(|s| s[l].shallow_clone()).collect::<Vec<_>>(), 0))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn train_step(
    opts: &TrainOptions,
    generator: &TchGenerator,
    critic: &Critic,
    features: &dyn LossNet,
    targets: &[Tensor],
    content: &ContentSet,
    styles: &StyleSet,
    tuning: &Tuning,
    index: &[usize],
    rng: &mut StdRng,
    opt_g: &mut nn::Optimizer,
    opt_d: &mut nn::Optimizer,
) -> StepLosses {
    let device = opts.device;
    let w = opts.weights;
    let x = content.batch(rng, opts.batch).to_device(device);
    let style = one_hot(index, styles.names.len(), device);
    let index_t = Tensor::from_slice(&index.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
    let y = generator.forward(&x, &style);

    let mut out = StepLosses::default();
    if w.adversarial > 0.0 {
        let real = styles.patches(rng, index).to_device(device);
        let d_loss =
            critic::critic_hinge(&critic.logits(&real, &index_t), &critic.logits(&y.detach(), &index_t));
        opt_d.backward_step(&d_loss);
        out.critic = d_loss.double_value(&[]);
    }

    let fy = features.features(&y);
    let fx = tch::no_grad(|| features.features(&x));
    let batch_targets: Vec<Tensor> = targets.iter().map(|t| t.index_select(0, &index_t)).collect();
    let style_loss = features::style_loss(&fy, &batch_targets, opts.gram);
    let c = features.content_layer();
    let content_loss = features::feature_loss(&fy[c], &fx[c]);
    let lum_loss = features::luminance_loss(&y, &x);
    let tv_loss = features::total_variation(&y);
    let zeros = || Tensor::zeros([opts.batch as i64], (Kind::Float, device));
    let temporal_loss = if w.temporal > 0.0 { temporal(generator, &x, &y, &style, rng) } else { zeros() };
    let adv_loss =
        if w.adversarial > 0.0 { critic::generator_hinge(&critic.logits(&y, &index_t)) } else { zeros() };
    let weighed = |term: Term, per_sample: &Tensor| tuning.mean(term, per_sample, &index_t);
    let total = weighed(Term::Style, &style_loss) * w.style
        + weighed(Term::Content, &content_loss) * w.content
        + weighed(Term::Luminance, &lum_loss) * w.luminance
        + &tv_loss * w.tv
        + weighed(Term::Temporal, &temporal_loss) * w.temporal
        + weighed(Term::Adversarial, &adv_loss) * w.adversarial;
    opt_g.backward_step(&total);
    // The log keeps the untuned batch means, comparable across runs; `total` is what was minimised.
    let mean = |t: &Tensor| t.mean(Kind::Float).double_value(&[]);
    out.style = mean(&style_loss);
    out.content = mean(&content_loss);
    out.luminance = mean(&lum_loss);
    out.tv = tv_loss.double_value(&[]);
    out.temporal = mean(&temporal_loss);
    out.adversarial = mean(&adv_loss);
    out.total = total.double_value(&[]);
    out
}

/// Temporal stability per sample `[B]`: stylizing a slightly shifted, noised input must give the
/// shifted output of the clean input (compared away from the borders, where the shift reveals
/// new content).
fn temporal(generator: &TchGenerator, x: &Tensor, y: &Tensor, style: &Tensor, rng: &mut StdRng) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    let (dy, dx) = (rng.random_range(0..4i64), rng.random_range(0..4i64));
    let crop = |t: &Tensor| t.narrow(2, dy, h - 8).narrow(3, dx, w - 8);
    let shifted = crop(x) + x.randn_like().narrow(2, 0, h - 8).narrow(3, 0, w - 8) * (2.0 / 255.0);
    let ys = generator.forward(&shifted, style);
    let interior = |t: &Tensor| t.narrow(2, 8, h - 24).narrow(3, 8, w - 24);
    (interior(&ys) - interior(&crop(y))).abs().mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float)
}

/// Rows: preview content crops; columns: the input, then each style.
fn save_preview(
    generator: &TchGenerator,
    input: &Tensor,
    styles: usize,
    path: &std::path::Path,
) -> Result<()> {
    let rows = input.size()[0] as usize;
    let mut cells: Vec<Vec<RgbImage>> =
        (0..rows).map(|r| vec![tensor_to_rgb(&input.get(r as i64))]).collect();
    tch::no_grad(|| {
        for s in 0..styles {
            let style = one_hot(&vec![s; rows], styles, input.device());
            let out = generator.forward(input, &style);
            for (r, row) in cells.iter_mut().enumerate() {
                row.push(tensor_to_rgb(&out.get(r as i64)));
            }
        }
    });
    let sheet = crate::sheet::grid(&cells);
    sheet.save(path).with_context(|| format!("cannot write the preview {}", path.display()))
}

/// `[3,H,W]` in [0,1] → RGB8.
pub fn tensor_to_rgb(t: &Tensor) -> RgbImage {
    let t = (t.clamp(0.0, 1.0) * 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .permute([1, 2, 0])
        .contiguous()
        .to_device(Device::Cpu);
    let (h, w) = (t.size()[0] as u32, t.size()[1] as u32);
    RgbImage::from_raw(w, h, Vec::<u8>::try_from(&t.flatten(0, -1)).expect("u8 tensor"))
        .expect("matching size")
}

fn export(
    opts: &TrainOptions,
    generator: &TchGenerator,
    spec: &Generator,
    sources: &[String],
    state: &CheckpointState,
    outputs: &Outputs,
) -> Result<()> {
    let meta = ModelMeta {
        train_size: opts.size,
        quantization: Quantization::F32,
        trained_with: format!(
            "atelier {} train, {} steps, {:.0} s: {}",
            env!("CARGO_PKG_VERSION"),
            state.step,
            state.seconds,
            state.commands.join(" && ")
        ),
        style_sources: Some(sources.to_vec()),
    };
    let proto = onnx::generator_to_proto(spec, &generator.weights(), &meta)?;
    onnx::save(&proto, &outputs.model).with_context(|| format!("cannot write {}", outputs.model.display()))
}

fn open_losses(path: &std::path::Path, append: bool) -> Result<std::io::BufWriter<std::fs::File>> {
    let exists = path.exists();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    if !(append && exists) {
        writeln!(w, "{}", StepLosses::CSV_HEADER)?;
    }
    Ok(w)
}

fn progress_bar(opts: &TrainOptions, start: usize) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(opts.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} ETA {eta} {per_sec} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(start as u64);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_weighs_each_sample_by_its_style() {
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let tunes = [
            Tune { style: "b".into(), term: Term::Style, factor: 3.0 },
            Tune { style: "c".into(), term: Term::Temporal, factor: 0.0 },
        ];
        let tuning = Tuning::new(&tunes, &names, Device::Cpu);
        let loss = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 8.0]);
        let index = Tensor::from_slice(&[0i64, 1, 2, 1]);
        let mean = |term| tuning.mean(term, &loss, &index).double_value(&[]);
        assert_eq!(mean(Term::Style), (1.0 + 6.0 + 4.0 + 24.0) / 4.0);
        assert_eq!(mean(Term::Temporal), (1.0 + 2.0 + 0.0 + 8.0) / 4.0);
        assert_eq!(mean(Term::Content), 15.0 / 4.0);
    }
}
