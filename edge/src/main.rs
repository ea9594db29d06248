//! `atelier-mirror`: the style mirror. With no arguments it runs the built-in model on the
//! built-in demo input and serves a live preview on http://127.0.0.1:8080/.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use atelier_edge::Size;
use atelier_edge::config::{MirrorConfig, Outputs, Settings};
use atelier_edge::engine::{Engine, EngineOptions, Precision};
use atelier_edge::imageops::Fit;
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::sink::{SINK_FORMS, Sink, SinkOptions, SinkSpec, Tee};
use atelier_edge::sinks::present::Rotation;
use atelier_edge::source::{SOURCE_FORMS, SourceOptions, SourceSpec};
use atelier_edge::sources::v4l2::discover;
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
    #[arg(long, value_name = "URI", help = format!("Frames in: {SOURCE_FORMS} [default: the first camera, else demo:]"))]
    input: Option<SourceSpec>,
    #[arg(long, value_name = "URI", help = format!("Frames out, repeat for several: {SINK_FORMS} [default: the screen (window: in a desktop, else drm:, else fb:/dev/fb0), else mjpeg://127.0.0.1:8080]"))]
    output: Vec<SinkSpec>,
    /// List cameras and screens, then exit.
    #[arg(long)]
    list_devices: bool,
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
    /// Size of input frames; a camera gets the nearest size it offers [default: 640x480].
    #[arg(long, value_name = "WxH")]
    capture_size: Option<Size>,
    /// Camera frame rate, the most wanted; the camera gets the nearest rate it offers at or
    /// below it [default: 30].
    #[arg(long, value_name = "FPS")]
    capture_fps: Option<f32>,
    /// Size of output pictures [default: the screen's, else the capture size].
    #[arg(long, value_name = "WxH")]
    output_size: Option<Size>,
    /// fill: crop the picture to fill the screen; fit: show it whole, with black bars [default: fill].
    #[arg(long, value_name = "MODE")]
    fit: Option<Fit>,
    /// Turn the picture on the screen clockwise by 0, 90, 180 or 270 degrees, for mirrors mounted
    /// in portrait [default: 0].
    #[arg(long, value_name = "DEG")]
    rotate: Option<Rotation>,
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
            output: (!self.output.is_empty()).then(|| Outputs::Many(self.output.clone())),
            model: self.model.clone(),
            style: self.style.clone(),
            threads: self.threads,
            precision: self.precision,
            frames: self.frames,
            fps: self.fps,
            capture_size: self.capture_size,
            capture_fps: self.capture_fps,
            model_size: self.model_size,
            output_size: self.output_size,
            fit: self.fit,
            rotate: self.rotate,
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
    if cli.list_devices {
        list_devices();
        return Ok(());
    }
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
    let source_spec = choose_input(&settings);
    let source = source_spec
        .open(SourceOptions {
            size: settings.capture_size,
            hold_frames: settings.hold_frames,
            fps: settings.capture_fps,
        })
        .context("cannot open the input")?;
    let sink = open_outputs(&settings)?;
    eprintln!(
        "atelier-mirror: model {} ({} styles: {})",
        engine.name(),
        engine.styles().len(),
        engine.styles().join(", ")
    );
    eprintln!("atelier-mirror: input {}", source.describe());
    eprintln!("atelier-mirror: output {}", sink.describe());
    for part in sink.describe().split(" + ") {
        if let Some(url) = part.strip_prefix("MJPEG preview at ") {
            println!("Open the live preview: {url}");
        }
    }
    let output_size = settings.output_size.or(sink.picture_size()).unwrap_or(settings.capture_size);
    let stop = StopHandle::new();
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.stop()).context("cannot install the Ctrl-C handler")?;
    }
    let config = PipelineConfig {
        model_size: settings.model_size,
        output_size,
        fit: settings.fit,
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

/// The input named, else the first camera, else the built-in demo; says which and why.
fn choose_input(settings: &Settings) -> SourceSpec {
    if let Some(spec) = &settings.input {
        return spec.clone();
    }
    match discover::first_camera() {
        Some(path) => {
            eprintln!("atelier-mirror: no --input given; using the camera {}", path.display());
            SourceSpec::V4l2(path)
        }
        None => {
            eprintln!("atelier-mirror: no --input given and no camera found; showing the built-in demo");
            SourceSpec::Demo
        }
    }
}

/// Opens the outputs named, else the screen (a window inside a desktop session, else KMS, else
/// the framebuffer), else the preview.
/// A screen chosen here that cannot be opened falls back to the preview with the reason;
/// outputs named on the command line must open.
fn open_outputs(settings: &Settings) -> Result<Box<dyn Sink>> {
    let options = SinkOptions { rotation: settings.rotate };
    if !settings.output.is_empty() {
        let tee = Tee::open(&settings.output, options).context("cannot open the output")?;
        return Ok(if settings.output.len() == 1 { tee.into_single() } else { Box::new(tee) });
    }
    let preview = SinkSpec::Mjpeg(Settings::DEFAULT_PREVIEW.parse().expect("valid address"));
    let desktop = std::env::var_os("WAYLAND_DISPLAY").or_else(|| std::env::var_os("DISPLAY"));
    let screen = if desktop.is_some() {
        Some(SinkSpec::Window(Default::default()))
    } else if atelier_edge::sinks::drm::has_connected_screen() {
        Some(SinkSpec::Drm(Default::default()))
    } else if std::path::Path::new("/dev/fb0").exists() {
        Some(SinkSpec::Fb("/dev/fb0".into()))
    } else {
        eprintln!("atelier-mirror: no --output given and no screen found; showing the preview");
        None
    };
    if let Some(spec) = screen {
        match spec.open(options) {
            Ok(sink) => {
                eprintln!("atelier-mirror: no --output given; using the screen ({spec})");
                return Ok(sink);
            }
            Err(e) => eprintln!(
                "atelier-mirror: no --output given; the screen cannot be used ({e}); showing the preview"
            ),
        }
    }
    preview.open(options).context("cannot open the output")
}

fn list_devices() {
    let cameras = discover::video_nodes();
    println!("Cameras (V4L2):");
    if cameras.is_empty() {
        println!("  none (/dev/video* absent)");
    }
    for path in cameras {
        for line in discover::describe_camera(&path).lines() {
            println!("  {line}");
        }
    }
    println!("Screens (DRM/KMS):");
    for line in atelier_edge::sinks::drm::describe_displays().lines() {
        println!("  {line}");
    }
    println!("Framebuffers:");
    let fbs: Vec<_> =
        (0..8).map(|i| format!("/dev/fb{i}")).filter(|p| std::path::Path::new(p).exists()).collect();
    if fbs.is_empty() {
        println!("  none");
    }
    for fb in fbs {
        println!("  {fb}");
    }
}
