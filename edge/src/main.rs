//! `atelier-mirror`: the style mirror. With no arguments it runs the built-in model on the
//! built-in demo input and serves a live preview on http://127.0.0.1:8080/.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use atelier_edge::Size;
use atelier_edge::config::{MirrorConfig, Outputs, PresenceFrom, Settings};
use atelier_edge::control::Controller;
use atelier_edge::control::checker::{self, Checker};
use atelier_edge::control::controller::{ControllerOptions, Factory, deployed_name, device_id};
use atelier_edge::control::http::HttpOptions;
use atelier_edge::control::serial::{self, SerialOptions};
use atelier_edge::control::store::{ModelStore, Slot};
use atelier_edge::engine::{Engine, EngineOptions, Precision};
use atelier_edge::imageops::Fit;
use atelier_edge::overlay::OverlayOptions;
use atelier_edge::person::{Background, Painter, PersonMask, Segmenter, Stylize};
use atelier_edge::pipeline::{self, PipelineConfig, StopHandle};
use atelier_edge::presence::{AttendanceConfig, Pir, PirSpec, PresenceConfig, PresenceSensor, Watcher};
use atelier_edge::sink::{SINK_FORMS, Sink, SinkOptions, SinkSpec, Tee};
use atelier_edge::sinks::present::Rotation;
use atelier_edge::source::{SOURCE_FORMS, SourceOptions, SourceSpec};
use atelier_edge::sources::v4l2::discover;
use atelier_edge::style::StyleMix;
use clap::Parser;

/// The project's default model, compiled in so the mirror runs with no files at all.
const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/default.onnx");

/// The allocator with a budget the model test run sets in its own process (`--check-model`);
/// the mirror itself runs unbudgeted.
#[global_allocator]
static ALLOCATOR: atelier_edge::alloc_budget::BudgetAlloc = atelier_edge::alloc_budget::BudgetAlloc;

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
    /// Print the manual page (roff) and exit; the .deb ships it as atelier-mirror(1).
    #[arg(long, hide = true)]
    man_page: bool,
    /// Test-run an uploaded model at --model-size and exit: 0 when it passes. The mirror runs
    /// itself this way, in a process of its own, before it accepts an upload.
    #[arg(long, hide = true, value_name = "FILE")]
    check_model: Option<PathBuf>,
    /// ONNX model honouring docs/model-contract.md [default: the built-in model].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Style to show: NAME, or a blend NAME=W,NAME=W [default: the model's first style].
    #[arg(long, value_name = "STYLE")]
    style: Option<String>,
    /// Stop after N output frames [default: run until stopped].
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// tract threads per frame [default: 1].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Frames stylized at once, each on its own thread [default: 2 with 4 or more cores, else 1].
    #[arg(long, value_name = "N")]
    parallel_frames: Option<usize>,
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
    /// Serial control port (line protocol, docs/control.md), e.g. /dev/ttyACM0; reopened when
    /// unplugged.
    #[arg(long, value_name = "PORT")]
    serial: Option<PathBuf>,
    /// Baud rate of the serial control port [default: 115200].
    #[arg(long, value_name = "BAUD")]
    serial_baud: Option<u32>,
    /// Where deployed models and the chosen style are kept [default: /var/lib/atelier, else
    /// ~/.local/state/atelier when that is not writable].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Token the HTTP API and preview require (`Authorization: Bearer TOKEN`); needed to serve
    /// beyond loopback. Prefer the config file or ATELIER_API_TOKEN over the command line.
    #[arg(long, value_name = "TOKEN", env = "ATELIER_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// A DNS name the HTTP server answers to, repeatable (addresses, localhost and this
    /// machine's name always work; other names are refused, against DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// A web origin whose pages may call the API, repeatable, e.g. https://dashboard.example
    /// [default: only the mirror's own page].
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Paint the style on all of the picture, the person, or the background [default: person].
    #[arg(long, value_name = "WHAT")]
    stylize: Option<Stylize>,
    /// Behind a stylized person: original, dim, blur or style:NAME [default: dim].
    #[arg(long, value_name = "BG")]
    background: Option<Background>,
    /// Person segmentation ONNX model (scripts/segmenter.sh) [default: the built-in one].
    #[arg(long, value_name = "FILE")]
    segmenter: Option<PathBuf>,
    /// Presence detection from the camera, a PIR sensor (--pir), both, or off (always active,
    /// screen always on) [default: camera].
    #[arg(long, value_name = "FROM")]
    presence: Option<PresenceFrom>,
    /// A PIR motion sensor's GPIO line, CHIP:LINE[:active-low], e.g. gpiochip0:17.
    #[arg(long, value_name = "LINE")]
    pir: Option<PirSpec>,
    /// Seconds with nobody there before attract mode; 0: never [default: 30].
    #[arg(long, value_name = "S")]
    attract_after: Option<f64>,
    /// Seconds with nobody there before the screen sleeps; 0: never [default: 600].
    #[arg(long, value_name = "S")]
    sleep_after: Option<f64>,
    /// Opening hours, repeatable, e.g. "mon-fri 09:00-19:00"; asleep outside them
    /// [default: always open].
    #[arg(long, value_name = "RULE")]
    hours: Vec<String>,
    /// While someone is there, move to the next style every S seconds [default: never].
    #[arg(long, value_name = "S")]
    rotate_styles: Option<f64>,
}

impl Cli {
    fn as_config(&self) -> MirrorConfig {
        MirrorConfig {
            input: self.input.clone(),
            output: (!self.output.is_empty()).then(|| Outputs::Many(self.output.clone())),
            model: self.model.clone(),
            style: self.style.clone(),
            threads: self.threads,
            parallel_frames: self.parallel_frames,
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
            serial: self.serial.clone(),
            serial_baud: self.serial_baud,
            state_dir: self.state_dir.clone(),
            api_token: self.api_token.clone(),
            allowed_hosts: (!self.allowed_hosts.is_empty()).then(|| self.allowed_hosts.clone()),
            allowed_origins: (!self.allowed_origins.is_empty()).then(|| self.allowed_origins.clone()),
            stylize: self.stylize,
            background: self.background.clone(),
            segmenter: self.segmenter.clone(),
            presence: self.presence,
            pir: self.pir.clone(),
            attract_after: self.attract_after,
            sleep_after: self.sleep_after,
            hours: (!self.hours.is_empty()).then(|| self.hours.clone()),
            rotate_styles: self.rotate_styles,
        }
    }
}

fn main() -> ExitCode {
    // Under systemd the journal stamps each line itself and shows colour codes as text: plain
    // lines there, colour only on a terminal.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if journal {
        log.without_time().init();
    } else {
        log.init();
    }
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
    if cli.man_page {
        clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut std::io::stdout())?;
        return Ok(());
    }
    if let Some(path) = &cli.check_model {
        let settings = cli.as_config().resolve()?;
        let options = EngineOptions {
            threads: settings.threads,
            precision: settings.precision,
            ..EngineOptions::default()
        };
        std::process::exit(checker::child_main(path, options, settings.model_size));
    }
    let (settings, config_problem) = match &cli.config {
        Some(path) => {
            // The copy of the last config that worked lives in the state directory named on the
            // command line (the service names it), else the default one when it exists, named
            // after the file's path so that two configs never stand in for each other.
            let state = cli.state_dir.clone().unwrap_or_else(|| PathBuf::from(Settings::DEFAULT_STATE_DIR));
            let keep = state.is_dir().then(|| state.join(last_good_name(path)));
            MirrorConfig::load_with_fallback(path, cli.as_config(), keep.as_deref())?
        }
        None => (cli.as_config().resolve()?, None),
    };
    if let Some(problem) = &config_problem {
        tracing::error!("{problem}");
    }
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
    let factory = match &settings.model {
        Some(path) => Factory::File(path.clone()),
        None => Factory::Builtin { bytes: DEFAULT_MODEL, name: "built-in default model".into() },
    };
    let mut store = open_state_dir(settings.state_dir.as_deref())?;
    let (engine, slot) = startup_model(&factory, store.as_mut(), options)?;
    let (style, why_style) = startup_style(&settings, cli.style.is_some(), store.as_ref(), &engine, &slot)?;
    let boot = BootWait::new();
    let source_spec = choose_input(&settings, &boot);
    let source = source_spec
        .open(SourceOptions {
            size: settings.capture_size,
            hold_frames: settings.hold_frames,
            fps: settings.capture_fps,
        })
        .context("cannot open the input")?;
    let (remote, link) = pipeline::link();
    let controller = Arc::new(Controller::new(
        remote,
        ControllerOptions {
            factory,
            engine: options,
            model_size: settings.model_size,
            device_id: device_id(),
            checker: Checker::this_binary(),
        },
        store,
        &slot,
        engine.styles().to_vec(),
    ));
    let http = HttpOptions {
        token: settings.api_token.clone(),
        controller: Some(controller.clone()),
        closed: settings.api_closed.clone(),
        allowed_hosts: settings.allowed_hosts.clone(),
        allowed_origins: settings.allowed_origins.clone(),
        ..HttpOptions::default()
    };
    let sink = open_outputs(&settings, http, &boot)?;
    eprintln!(
        "atelier-mirror: model {} ({} styles: {})",
        engine.name(),
        engine.styles().len(),
        engine.styles().join(", ")
    );
    eprintln!("atelier-mirror: style {} ({why_style})", style.label());
    eprintln!("atelier-mirror: input {}", source.describe());
    eprintln!("atelier-mirror: output {}", sink.describe());
    for part in sink.describe().split(" + ") {
        if let Some(url) = part.strip_prefix("MJPEG preview at ") {
            println!("Open the live preview: {url}");
        }
    }
    let output_size = settings.output_size.or(sink.picture_size()).unwrap_or(settings.capture_size);
    let stop = StopHandle::new();
    stop_on_signals(stop.clone())?;
    let config = PipelineConfig {
        model_size: settings.model_size,
        output_size,
        fit: settings.fit,
        fps: settings.fps,
        frames: settings.frames,
        mirror: settings.mirror,
        overlay: OverlayOptions { show_style: settings.show_style, show_fps: settings.show_fps },
        painter: Painter {
            stylize: settings.stylize,
            background: settings.background.clone(),
            ..Painter::default()
        },
        parallel_frames: settings.parallel_frames,
        notice: config_problem,
    };
    let watcher = watcher(&settings, &engine)?;
    let serial = settings.serial.clone().map(|path| {
        let (controller, stop) = (controller.clone(), stop.clone());
        let options = SerialOptions { path, baud: settings.serial_baud };
        thread::Builder::new()
            .name("serial".into())
            .spawn(move || serial::serve(&controller, &options, &stop))
            .expect("spawn serial thread")
    });
    let systemd = atelier_edge::service::supervise(link.board(), stop.clone());
    let result = pipeline::run(source, engine, sink, &config, &style, stop.clone(), Some(link), watcher);
    stop.stop();
    for thread in [serial, systemd].into_iter().flatten() {
        let _ = thread.join();
    }
    let report = result?;
    tracing::info!(
        "stopped after {:.0} s: {} frames shown, {:.1} fps",
        report.seconds,
        report.frames_out,
        report.output_fps
    );
    if settings.report {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// SIGTERM (what systemd sends) and SIGINT (Ctrl-C) stop the mirror cleanly: the pipeline
/// drains, the screen is handed back, the report is written. A second signal ends it at once.
/// SIGHUP is left alone: under systemd it would otherwise stop a service meant to keep running.
fn stop_on_signals(stop: StopHandle) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the SIGTERM/SIGINT handlers")?;
    thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
            tracing::info!("{name}: stopping (again to stop at once)");
            stop.stop();
        }
        // Dropping `signals` restores the default action for the next one.
    })?;
    Ok(())
}

/// The file name of the kept copy of config `path`: `last-good` and its absolute path,
/// e.g. `last-good_etc_atelier_mirror.toml`.
fn last_good_name(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("last-good{}", absolute.display().to_string().replace(['/', '\\'], "_"))
}

/// Presence and the person mask: a segmenter when either needs one; None when neither is on.
fn watcher(settings: &Settings, engine: &Engine) -> Result<Option<Watcher>> {
    let camera = matches!(settings.presence, PresenceFrom::Camera | PresenceFrom::Both);
    let presence = settings.presence != PresenceFrom::Off;
    if !presence && settings.stylize == Stylize::All {
        return Ok(None);
    }
    let sensor = match (&settings.pir, settings.presence) {
        (Some(spec), PresenceFrom::Pir | PresenceFrom::Both) => {
            let pir = Pir::open(spec, Pir::DEFAULT_HOLD)?;
            eprintln!("atelier-mirror: presence sensor: {}", pir.describe());
            Some(Box::new(pir) as Box<dyn PresenceSensor>)
        }
        _ => None,
    };
    if let Background::Style(name) = &settings.background
        && !engine.styles().contains(name)
    {
        anyhow::bail!(
            "--background style:{name}: the model has no such style (it has {})",
            engine.styles().join(", ")
        );
    }
    let person = if camera || settings.stylize != Stylize::All {
        Some(PersonMask::new(match &settings.segmenter {
            Some(path) => Segmenter::load(path)?,
            None => Segmenter::builtin(),
        }))
    } else {
        None
    };
    eprintln!(
        "atelier-mirror: stylize {:?}, background {}, presence {}",
        settings.stylize,
        settings.background,
        match settings.presence {
            PresenceFrom::Camera => "from the camera",
            PresenceFrom::Pir => "from the PIR sensor",
            PresenceFrom::Both => "from the camera and the PIR sensor",
            PresenceFrom::Off => "off",
        }
    );
    let attendance = if presence {
        settings.attendance.clone()
    } else {
        AttendanceConfig {
            attract_after: None,
            sleep_after: None,
            hours: None,
            ..settings.attendance.clone()
        }
    };
    let presence_config = PresenceConfig { camera, ..PresenceConfig::default() };
    let now = std::time::Instant::now();
    Ok(Some(Watcher::new(person, sensor, presence_config, attendance, now)))
}

/// The state directory named, else the default one when it can be used, else the user's; `None`
/// (no uploads, nothing remembered) only when no default works.
fn open_state_dir(named: Option<&std::path::Path>) -> Result<Option<ModelStore>> {
    if let Some(dir) = named {
        return Ok(Some(ModelStore::open(dir)?));
    }
    let user = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("atelier"));
    let mut why = vec![];
    for dir in std::iter::once(PathBuf::from(Settings::DEFAULT_STATE_DIR)).chain(user) {
        match ModelStore::open(&dir) {
            Ok(store) => {
                if !why.is_empty() {
                    eprintln!("atelier-mirror: state directory {} ({})", dir.display(), why.join("; "));
                }
                return Ok(Some(store));
            }
            // In use by another mirror (the service, say): taking the next directory would split
            // the state, so this one runs without any.
            Err(e) if e.code == 409 => {
                eprintln!(
                    "atelier-mirror: {}; running without one: uploads are off and choices are not kept",
                    e.message
                );
                return Ok(None);
            }
            Err(e) => why.push(format!("{} not usable: {}", dir.display(), e.message)),
        }
    }
    eprintln!(
        "atelier-mirror: no state directory ({}); uploads are off and choices are not kept",
        why.join("; ")
    );
    Ok(None)
}

/// The model to start with: the one last activated over control when it still loads, else the
/// factory model (built in or `--model`).
fn startup_model(
    factory: &Factory,
    store: Option<&mut ModelStore>,
    options: EngineOptions,
) -> Result<(Engine, Slot)> {
    if let Some(store) = store
        && let Slot::Deployed(sha) = store.state().active.clone()
    {
        let path = store.model_path(&sha);
        let loaded = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            Engine::from_bytes(&bytes, &deployed_name(&sha), options).map_err(|e| e.kind.to_string())
        });
        match loaded {
            Ok(engine) => {
                eprintln!(
                    "atelier-mirror: using the model deployed over control ({}); ROLLBACK or ACTIVATE factory returns to the factory model",
                    path.display()
                );
                return Ok((engine, Slot::Deployed(sha)));
            }
            Err(e) => {
                eprintln!(
                    "atelier-mirror: the deployed model {} cannot be used ({e}); using the factory model",
                    path.display()
                );
                store.forget(&Slot::Deployed(sha))?;
            }
        }
    }
    Ok((factory.load(options).map_err(|e| anyhow::anyhow!(e.message))?, Slot::Factory))
}

/// The style at start, by one rule (docs/control.md, "At start"): a style named at start
/// (`--style`, else the config's `style`) wins; else the one last chosen over control, when the
/// model has it; else the model's first. A named style the
/// factory model lacks is a mistake in the settings and stops the mirror; one a deployed model
/// lacks (the settings were written for another model) gives way, with a warning. Returns the
/// style and which rule applied, for the start line.
fn startup_style(
    settings: &Settings,
    named_by_flag: bool,
    store: Option<&ModelStore>,
    engine: &Engine,
    slot: &Slot,
) -> Result<(StyleMix, String)> {
    let kept = store.and_then(|s| s.state().style.as_deref()).and_then(|s| s.parse::<StyleMix>().ok());
    let kept = kept.filter(|m| m.weights(engine.styles()).is_ok());
    let source = if named_by_flag { "--style" } else { "the config's style" };
    let (mix, why) = match &settings.style {
        Some(mix) => match (mix.weights(engine.styles()), slot) {
            (Ok(_), _) => (mix.clone(), source.to_string()),
            (Err(e), Slot::Factory) => anyhow::bail!("{source}: {e}"),
            (Err(e), Slot::Deployed(_)) => {
                tracing::warn!("{source} `{mix}` is not in the deployed model ({e}); not used");
                match kept {
                    Some(kept) => (kept, "chosen over control before the last stop".into()),
                    None => (StyleMix::single(&engine.styles()[0]), "the model's first".into()),
                }
            }
        },
        None => match kept {
            Some(kept) => (kept, "chosen over control before the last stop; no style named at start".into()),
            None => {
                (StyleMix::single(&engine.styles()[0]), "the model's first; no style named at start".into())
            }
        },
    };
    Ok((mix, why))
}

/// How long the service waits at boot for a camera or a screen before it settles for the demo or
/// the preview: systemd may start it while udev is still loading their drivers (the device lab
/// saw the screen's driver load 2.5 s after the mirror started).
const BOOT_DEVICE_WAIT: Duration = Duration::from_secs(30);

/// The deadline for devices to appear, only when systemd started the mirror (at boot, or again
/// after a failure); run by hand it decides at once.
struct BootWait(Option<Instant>);

impl BootWait {
    fn new() -> Self {
        BootWait(std::env::var_os("NOTIFY_SOCKET").map(|_| Instant::now() + BOOT_DEVICE_WAIT))
    }

    /// `look()`, retried every half second until the deadline when it finds nothing.
    fn find<T>(&self, what: &str, mut look: impl FnMut() -> Option<T>) -> Option<T> {
        let found = look();
        let Some(deadline) = self.0.filter(|_| found.is_none()) else { return found };
        let left = deadline.saturating_duration_since(Instant::now());
        eprintln!("atelier-mirror: no {what} yet; waiting up to {} s for its driver", left.as_secs());
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(500));
            if let Some(found) = look() {
                return Some(found);
            }
        }
        None
    }
}

/// The input named, else the first camera, else the built-in demo; says which and why.
fn choose_input(settings: &Settings, boot: &BootWait) -> SourceSpec {
    if let Some(spec) = &settings.input {
        return spec.clone();
    }
    match boot.find("camera", discover::first_camera) {
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
fn open_outputs(settings: &Settings, http: HttpOptions, boot: &BootWait) -> Result<Box<dyn Sink>> {
    let options = SinkOptions { rotation: settings.rotate, http };
    if !settings.output.is_empty() {
        let tee = Tee::open(&settings.output, options.clone()).context("cannot open the output")?;
        return Ok(if settings.output.len() == 1 { tee.into_single() } else { Box::new(tee) });
    }
    let preview = SinkSpec::Mjpeg(Settings::DEFAULT_PREVIEW.parse().expect("valid address"));
    let desktop = std::env::var_os("WAYLAND_DISPLAY").or_else(|| std::env::var_os("DISPLAY"));
    let screen = if desktop.is_some() {
        Some(SinkSpec::Window(Default::default()))
    } else {
        boot.find("screen", || {
            if atelier_edge::sinks::drm::has_connected_screen() {
                Some(SinkSpec::Drm(Default::default()))
            } else if std::path::Path::new("/dev/fb0").exists() {
                Some(SinkSpec::Fb("/dev/fb0".into()))
            } else {
                None
            }
        })
    };
    if screen.is_none() {
        eprintln!("atelier-mirror: no --output given and no screen found; showing the preview");
    }
    if let Some(spec) = screen {
        match spec.open(options.clone()) {
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
