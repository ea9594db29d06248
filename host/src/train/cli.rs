//! The `atelier train` command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Result, bail};
use tch::Device;

use super::features::{GramKind, LossNetKind};
use super::{LossWeights, Term, TrainOptions, Tune};
use crate::generator::GeneratorArgs;

/// Crops, batches, seed and threads: the same flags for `train` and `distill`.
#[derive(Debug, clap::Args)]
pub struct Batches {
    /// Crop size in pixels (multiple of 8).
    #[arg(long, value_name = "PX", default_value_t = 256)]
    pub size: u32,
    #[arg(long, value_name = "B", default_value_t = 4)]
    pub batch: usize,
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// CPU threads for libtorch [default: all cores].
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
}

impl Batches {
    /// `--threads`, or all cores.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A style to learn, NAME=IMAGE; repeat for each style.
    #[arg(long = "style", value_name = "NAME=IMAGE", required = true, value_parser = parse_style)]
    pub styles: Vec<(String, PathBuf)>,
    /// Folder of content photos (people, clothes).
    #[arg(long, value_name = "DIR")]
    pub content: PathBuf,
    /// The f32 ONNX model to write; checkpoint, preview and loss log go beside it.
    #[arg(long, value_name = "FILE.onnx")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    #[command(flatten)]
    pub batches: Batches,
    /// Continue from a checkpoint directory (FILE.ckpt).
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Start the generator from the weights of a model file this tool wrote (same styles, same
    /// widths; the paddings may differ), with a fresh critic: fine-tunes a shipped model whose
    /// checkpoint is gone, or moves it to a new padding.
    #[arg(long, value_name = "MODEL.onnx", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// `cpu` or `cuda` (`cuda:N` for another GPU).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Stop after this many minutes of training (as if --steps were reached), e.g. to see what
    /// a time budget buys.
    #[arg(long, value_name = "MINUTES", value_parser = parse_minutes)]
    pub time_limit: Option<std::time::Duration>,
    /// Write the preview contact sheet every K steps.
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub preview_every: usize,
    /// Save a checkpoint every K steps (and always at the end and on Ctrl-C).
    #[arg(long, value_name = "K", default_value_t = 250)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = LossWeights::default().adversarial)]
    pub w_adversarial: f64,
    #[arg(long, default_value_t = LossWeights::default().style)]
    pub w_style: f64,
    #[arg(long, default_value_t = LossWeights::default().content)]
    pub w_content: f64,
    #[arg(long, default_value_t = LossWeights::default().luminance)]
    pub w_luminance: f64,
    #[arg(long, default_value_t = LossWeights::default().tv)]
    pub w_tv: f64,
    #[arg(long, default_value_t = LossWeights::default().temporal)]
    pub w_temporal: f64,
    /// Weigh one term differently for one style, NAME:TERM=FACTOR (TERM: adversarial, style,
    /// content, luminance, temporal); repeatable. E.g. `--tune zigzag:style=0.4` for a pattern
    /// that hides faces.
    #[arg(long, value_name = "NAME:TERM=F", value_parser = parse_tune)]
    pub tune: Vec<Tune>,
    #[command(flatten)]
    pub generator: GeneratorArgs,
    /// The network the style and content losses are measured in.
    #[arg(long, value_enum, default_value_t = LossNetKind::Lite0)]
    pub loss_net: LossNetKind,
    /// Folder of the converted pretrained networks (scripts/feature-nets.sh) [default:
    /// $ATELIER_NETS, else ~/.cache/atelier/nets].
    #[arg(long, value_name = "DIR")]
    pub nets: Option<PathBuf>,
    /// What the style Gram matrices are taken of: the features, or their softmax (Wang et al.
    /// 2021; docs/training.md has the comparison).
    #[arg(long, value_enum, default_value_t = GramKind::Plain)]
    pub gram: GramKind,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_style(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s.split_once('=').ok_or_else(|| format!("`{s}` is not NAME=IMAGE"))?;
    if name.trim().is_empty() || path.trim().is_empty() {
        return Err(format!("`{s}` is not NAME=IMAGE"));
    }
    Ok((name.trim().to_string(), PathBuf::from(path.trim())))
}

fn parse_tune(s: &str) -> Result<Tune, String> {
    use clap::ValueEnum;
    let bad = || format!("`{s}` is not NAME:TERM=FACTOR (e.g. zigzag:style=0.5)");
    let (name, rest) = s.rsplit_once(':').ok_or_else(bad)?;
    let (term, factor) = rest.split_once('=').ok_or_else(bad)?;
    let term = Term::from_str(term.trim(), true).map_err(|_| {
        format!("`{s}`: unknown term `{term}`; accepted: adversarial, style, content, luminance, temporal")
    })?;
    let factor = factor.trim().parse::<f64>().map_err(|_| bad())?;
    if name.trim().is_empty() {
        return Err(bad());
    }
    Ok(Tune { style: name.trim().to_string(), term, factor })
}

fn parse_minutes(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(std::time::Duration::from_secs_f64(m * 60.0)),
        _ => Err(format!("`{s}` is not a positive number of minutes")),
    }
}

fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("`{s}` is not a device; accepted: cpu, cuda, cuda:N")),
    }
}

impl TrainArgs {
    pub fn into_options(self, stop: Arc<AtomicBool>, command_line: String) -> Result<TrainOptions> {
        if let Device::Cuda(n) = self.device
            && !(tch::Cuda::is_available() && (n as i64) < tch::Cuda::device_count())
        {
            bail!(
                "--device cuda:{n}: no such CUDA device is available (libtorch sees {})",
                tch::Cuda::device_count()
            );
        }
        let threads = self.batches.threads();
        Ok(TrainOptions {
            styles: self.styles,
            content: self.content,
            out: self.out,
            steps: self.steps,
            size: self.batches.size,
            batch: self.batches.batch,
            seed: self.batches.seed,
            threads,
            resume: self.resume,
            init_from: self.init_from,
            device: self.device,
            weights: LossWeights {
                adversarial: self.w_adversarial,
                style: self.w_style,
                content: self.w_content,
                luminance: self.w_luminance,
                tv: self.w_tv,
                temporal: self.w_temporal,
            },
            tune: self.tune,
            lr: self.lr,
            preview_every: self.preview_every,
            checkpoint_every: self.checkpoint_every,
            time_limit: self.time_limit,
            generator: self.generator.config(),
            loss_net: self.loss_net,
            nets_dir: self.nets.unwrap_or_else(crate::nets::default_dir),
            gram: self.gram,
            progress: !self.quiet,
            stop,
            command_line,
        })
    }
}

/// `atelier distill`: see [`super::distill`].
#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    /// The model to reproduce (an f32 model this tool wrote).
    #[arg(long, value_name = "MODEL.onnx")]
    pub teacher: PathBuf,
    /// Folder of photos to match it on (the teacher's training photos).
    #[arg(long, value_name = "DIR")]
    pub content: PathBuf,
    /// The model to write.
    #[arg(long, value_name = "FILE.onnx")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    #[command(flatten)]
    pub batches: Batches,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Decay the learning rate linearly to zero over the run (steps or --time-limit).
    #[arg(long)]
    pub lr_decay: bool,
    /// Weight of matching the teacher's bottleneck (the activation after the last residual
    /// block), used when the student is not all the teacher's and its bottleneck has the
    /// teacher's width.
    #[arg(long, default_value_t = 0.1)]
    pub w_bottleneck: f64,
    /// Stop after this many minutes.
    #[arg(long, value_name = "MINUTES", value_parser = parse_minutes)]
    pub time_limit: Option<std::time::Duration>,
    /// The student's shape: each stage whose scale and shape are the teacher's starts from the
    /// teacher's weights, the rest fresh (residual blocks as identities).
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

impl DistillArgs {
    pub fn into_options(self, command_line: String) -> super::distill::DistillOptions {
        super::distill::DistillOptions {
            teacher: self.teacher,
            content: self.content,
            out: self.out,
            generator: self.generator.config(),
            steps: self.steps,
            size: self.batches.size,
            batch: self.batches.batch,
            seed: self.batches.seed,
            threads: self.batches.threads(),
            lr: self.lr,
            lr_decay: self.lr_decay,
            w_bottleneck: self.w_bottleneck,
            time_limit: self.time_limit,
            command_line,
        }
    }
}
