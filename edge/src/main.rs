//! `atelier-mirror`: the style mirror. With no arguments it runs the built-in model on the
//! built-in demo input and serves a live preview on http://127.0.0.1:8080/.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use atelier_edge::Size;
use atelier_edge::config::MirrorConfig;
use atelier_edge::engine::{Engine, EngineOptions, Precision};
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::sink::{SINK_FORMS, SinkSpec};
use atelier_edge::source::{SOURCE_FORMS, SourceOptions, SourceSpec};
use atelier_edge::style::StyleMix;
use clap::Parser;

/// The project's default model, compiled in so the mirror runs with no files at all.
const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/default.onnx");

#[derive(Debug, Parser)]
#[command(
    name = "atelier-mirror",
    version,
    about = "The Atelier style mirror: camera in, styled mirror image out."
)]
struct Cli {
    /// Frames in.
    #[arg(long, value_name = "URI", help = format!("Frames in: {SOURCE_FORMS} [default: demo:]"))]
    input: Option<SourceSpec>,
    #[arg(long, value_name = "URI", help = format!("Frames out: {SINK_FORMS} [default: mjpeg://127.0.0.1:8080]"))]
    output: Option<SinkSpec>,
    /// ONNX model honouring docs/model-contract.md [default: the built-in model].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Style to show: NAME, or a blend NAME=W,NAME=W [default: the model's first style].
    #[arg(long, value_name = "STYLE")]
    style: Option<String>,
    /// Stop after N output frames [default: run until stopped].
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Inference threads [default: 1].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Arithmetic precision: f32, or f16 on CPUs with native half precision such as the
    /// Raspberry Pi 5 and Jetson Orin [default: f32].
    #[arg(long, value_name = "P")]
    precision: Option<Precision>,
    /// Settings file (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Pace of file, demo and test-pattern inputs, frames per second [default: 30].
    #[arg(long, value_name = "FPS")]
    fps: Option<f32>,
    /// Size the model runs at, a multiple of 8 [default: 320x240].
    #[arg(long, value_name = "WxH")]
    model_size: Option<Size>,
    /// Size of input frames [default: 640x480].
    #[arg(long, value_name = "WxH")]
    capture_size: Option<Size>,
    /// Size of output frames [default: the capture size].
    #[arg(long, value_name = "WxH")]
    output_size: Option<Size>,
    /// Frames each still image is shown for [default: 5 s worth].
    #[arg(long, value_name = "N")]
    hold_frames: Option<u32>,
    /// Do not flip the image left to right.
    #[arg(long)]
    no_mirror: bool,
    /// Show the frame rate in the overlay.
    #[arg(long)]
    show_fps: bool,
    /// Print a JSON report (fps, inference time, drops) when the run ends.
    #[arg(long)]
    report: bool,
}

impl Cli {
    fn as_config(&self) -> MirrorConfig {
        MirrorConfig {
            input: self.input.clone(),
            output: self.output.clone(),
            model: self.model.clone(),
            style: self.style.clone(),
            threads: self.threads,
            precision: self.precision,
            frames: self.frames,
            fps: self.fps,
            capture_size: self.capture_size,
            model_size: self.model_size,
            output_size: self.output_size,
            mirror: self.no_mirror.then_some(false),
            show_fps: self.show_fps.then_some(true),
            show_style: None,
            hold_frames: self.hold_frames,
            report: self.report.then_some(true),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atelier-mirror: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let file = match &cli.config {
        Some(path) => MirrorConfig::load(path)?,
        None => MirrorConfig::default(),
    };
    let settings = file.merged(cli.as_config()).resolve()?;
    if !settings.precision.is_native() {
        tracing::warn!(
            "precision {}: this CPU has no native {} arithmetic, expect inference many times \
             slower than f32",
            settings.precision,
            settings.precision
        );
    }
    let options = EngineOptions {
        threads: settings.threads,
        precision: settings.precision,
        ..EngineOptions::default()
    };
    let engine = match &settings.model {
        Some(path) => Engine::load(path, options)?,
        None => Engine::from_bytes(DEFAULT_MODEL, "built-in default model", options)?,
    };
    let style = match &settings.style {
        Some(mix) => {
            mix.weights(engine.styles()).map_err(|e| anyhow::anyhow!("--style: {e}"))?;
            mix.clone()
        }
        None => StyleMix::single(&engine.styles()[0]),
    };
    let source = settings
        .input
        .open(SourceOptions { size: settings.capture_size, hold_frames: settings.hold_frames })
        .context("cannot open the input")?;
    let sink = settings.output.open().context("cannot open the output")?;
    eprintln!(
        "atelier-mirror: model {} ({} styles: {})",
        engine.name(),
        engine.styles().len(),
        engine.styles().join(", ")
    );
    eprintln!("atelier-mirror: input {}", source.describe());
    eprintln!("atelier-mirror: output {}", sink.describe());
    if let SinkSpec::Mjpeg(_) = settings.output {
        println!("Open the live preview: {}", sink.describe().trim_start_matches("MJPEG preview at "));
    }
    let stop = StopHandle::new();
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.stop()).context("cannot install the Ctrl-C handler")?;
    }
    let config = PipelineConfig {
        model_size: settings.model_size,
        output_size: settings.output_size,
        fps: settings.fps,
        frames: settings.frames,
        mirror: settings.mirror,
        overlay: OverlayOptions { show_style: settings.show_style, show_fps: settings.show_fps },
    };
    let report = pipeline::run(source, engine, sink, &config, &style, stop, None)?;
    if settings.report {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
